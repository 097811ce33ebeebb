'use strict';
const http = require('node:http');

// Latency at a fixed offered rate: requests leave on a 1 ms schedule over keep-alive
// connections (a bursty generator would measure its own bursts, not the gateway).
// { detail: true }: also each request's send time (ms into the run) and latency, and p99.9/max.
// { agent }: keep-alive connections of an earlier run (not destroyed at the end).
async function pacedLoad(url, body, rate, seconds, extraHeaders = {}, { detail = false, agent: given = null } = {}) {
  const agent = given || new http.Agent({ keepAlive: true, maxSockets: 256 });
  const target = new URL(url);
  const latencies = [];
  const details = [];
  let socketsMax = 0;
  let failures = 0;
  let sent = 0;
  const total = rate * seconds;
  const started = process.hrtime.bigint();
  const one = () => new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({
      host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent,
      headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '""', 'content-length': Buffer.byteLength(body), ...extraHeaders },
    }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode !== 200) failures += 1;
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        latencies.push(ms);
        if (detail) details.push({ sentAtMs: Number(t0 - started) / 1e6, ms });
        resolve();
      });
    });
    req.on('error', () => { failures += 1; resolve(); });
    req.end(body);
  });
  const inflight = [];
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor((Number(process.hrtime.bigint() - started) / 1e9) * rate));
      while (sent < due) { inflight.push(one()); sent += 1; }
      if (detail) socketsMax = Math.max(socketsMax, agent.totalSocketCount || 0);
      if (sent >= total) { clearInterval(timer); resolve(); }
    }, 1);
  });
  await Promise.all(inflight);
  if (!given) agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (f) => latencies[Math.min(latencies.length - 1, Math.floor(f * latencies.length))];
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const result = { rps: latencies.length / elapsed, p50: q(0.5), p99: q(0.99), failures };
  if (detail) Object.assign(result, { p999: q(0.999), max: latencies[latencies.length - 1], detail: details, socketsMax });
  return result;
}

module.exports = { pacedLoad };
