#!/usr/bin/env node
'use strict';
// Where the getStatus latency tail comes from (issue 15, "find the tail first"), on demand:
//   node bench/tail.js [--rate 2200] [--seconds 10] [--warmup 2] [--durability durable|batched] [--cold]
// (--cold: the window starts on new connections, as a new client would; default: on the
// warm-up's keep-alive connections)
// A gateway process (GC traced, event-loop delay measured) on a SIPp UAS answering fetches
// (the same as bench/getstatus.js), under the paced client of bench/paced.js at a fixed rate,
// then the same client at the same rate against a bare node:http server (the limit: what this
// client and machine add). Prints both latency distributions, the gateway's event-loop delay
// and its GC pauses during the paced window, and when the slowest requests were sent, so that
// a stall (many slow requests sent together) can be told from slow requests spread over time.
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { startSippUas } = require('../tests/support/sipp');
const { freePort } = require('../scripts/kamailio/kamailio');
const { GETSTATUS_BODY, startBareHttp, startGatewayCli } = require('./harness');
const { pacedLoad } = require('./paced');

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '2200' },
    seconds: { type: 'string', default: '10' },
    durability: { type: 'string', default: 'durable' },
    cold: { type: 'boolean', default: false },
    warmup: { type: 'string', default: '2' },
  },
});
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);

async function startGateway(uasPort) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'px-bench-tail-'));
  const httpPort = await freePort();
  const adminPort = await freePort();
  const config = path.join(dir, 'gateway.yaml');
  fs.writeFileSync(config, `http:\n  port: ${httpPort}\n  keepAliveTimeoutMs: 30000\n  maxConnections: 4096\n  maxConnectionsPerSource: 4096\n`
    + `sip:\n  port: ${await freePort()}\n  presenceServerUri: "sip:127.0.0.1:${uasPort}"\n`
    + 'authentication:\n  required: false\n'
    + `usage:\n  database: ${path.join(dir, 'usage.db')}\n  durability: ${values.durability}\n`
    + `notifications:\n  database: ${path.join(dir, 'notifications.db')}\ncalls:\n  port: ${await freePort()}\n`
    + `admin:\n  enabled: true\n  host: 127.0.0.1\n  port: ${adminPort}\n`);
  const logFile = path.join(dir, 'gateway.log');
  // --trace-gc lines go to stdout with the process's own clock (ms since start).
  // PX_GATEWAY_NODE_ARGS: more Node options for the gateway (e.g. --max-semi-space-size=32).
  const nodeArgs = ['--trace-gc', ...(process.env.PX_GATEWAY_NODE_ARGS || '').split(' ').filter(Boolean)];
  const gateway = await startGatewayCli({ config, logFile, nodeArgs, env: { ...process.env, PARLAYX_LOOP_DELAY_REPORT: '1' } });
  return {
    endpoint: `http://127.0.0.1:${httpPort}/parlayx/TerminalStatusService/services/TerminalStatus`,
    metrics: `http://127.0.0.1:${adminPort}/metrics`,
    logFile,
    startedAt: gateway.startedAt,
    stop: gateway.stop,
    dir,
  };
}

/** GC events of --trace-gc lines: { atMs (process clock), kind, pauseMs }. */
function gcEvents(text) {
  const events = [];
  for (const line of text.split('\n')) {
    const m = /\]\s+(\d+) ms: (Scavenge|Mark-Compact|Mark-sweep|Minor Mark-Compact)\b[^,]*, ([\d.]+) \/ ([\d.]+) ms/.exec(line);
    if (m) events.push({ atMs: Number(m[1]), kind: m[2], pauseMs: Number(m[3]) });
  }
  return events;
}

/** The cumulative buckets of a Prometheus histogram: { le: count }, and its count. */
async function histogram(url, name) {
  const text = await (await fetch(url)).text();
  const buckets = {};
  for (const m of text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`, 'gm'))) buckets[m[1]] = Number(m[2]);
  return buckets;
}

/** How many observations fell above each bound between two snapshots. */
function above(before, after) {
  const total = (after['+Inf'] || 0) - (before['+Inf'] || 0);
  return Object.keys(after).filter((le) => le !== '+Inf').map((le) => `> ${Number(le) * 1000} ms: ${total - ((after[le] || 0) - (before[le] || 0))}`).join(', ') + ` (of ${total})`;
}

function summary(label, r) {
  return `${label}: ${r.rps.toFixed(0)}/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, p99.9 ${r.p999.toFixed(2)} ms, max ${r.max.toFixed(1)} ms, failures ${r.failures}, connections opened ${r.socketsMax}`;
}

async function main() {
  const uas = await startSippUas({ scenario: 'subscribe-200-notify', keys: { basic: 'open', person: '' }, extraArgs: ['-buff_size', '4194304'] });
  const gateway = await startGateway(uas.port);
  let gw;
  let bare;
  let gc;
  try {
    // The first /metrics scrape of a process costs ~40 ms of its event loop (prom-client's first
    // collection, cold code): paid here, not at the window's start. Later ones take ~5-9 ms.
    const firstScrape = process.hrtime.bigint();
    await histogram(gateway.metrics, 'parlayx_usage_commit_duration_seconds');
    console.log(`first /metrics scrape of the gateway: ${(Number(process.hrtime.bigint() - firstScrape) / 1e6).toFixed(1)} ms`);
    // Warm-up on the connections the window then uses (a new client's first burst of connects
    // is measured apart: --cold).
    const agent = values.cold ? null : new http.Agent({ keepAlive: true, maxSockets: 256 });
    await pacedLoad(gateway.endpoint, GETSTATUS_BODY, RATE, Number(values.warmup), {}, { agent });
    const commit0 = await histogram(gateway.metrics, 'parlayx_usage_commit_duration_seconds');
    const wait0 = await histogram(gateway.metrics, 'parlayx_usage_commit_wait_seconds');
    const request0 = await histogram(gateway.metrics, 'parlayx_request_duration_seconds');
    const windowStart = Date.now() - gateway.startedAt;
    gw = await pacedLoad(gateway.endpoint, GETSTATUS_BODY, RATE, SECONDS, {}, { detail: true, agent });
    if (agent) agent.destroy();
    const windowEnd = Date.now() - gateway.startedAt;
    const commits = above(commit0, await histogram(gateway.metrics, 'parlayx_usage_commit_duration_seconds'));
    const waits = above(wait0, await histogram(gateway.metrics, 'parlayx_usage_commit_wait_seconds'));
    const handled = above(request0, await histogram(gateway.metrics, 'parlayx_request_duration_seconds'));
    await gateway.stop();
    const log = fs.readFileSync(gateway.logFile, 'utf8');
    // The process clock of --trace-gc starts a little before our startedAt: a few ms of slack.
    gc = gcEvents(log).filter((e) => e.atMs >= windowStart - 50 && e.atMs <= windowEnd + 50)
      .map((e) => ({ ...e, inWindowS: (e.atMs - windowStart) / 1000 }));
    const loop = log.split('\n').find((l) => l.includes('"event loop delay"'));
    console.log(summary(`gateway at ${RATE}/s, paced, ${SECONDS} s`, gw));
    console.log(`usage commits (px-usage thread) in the window: ${commits}`);
    console.log(`usage commit waits (append to commit) in the window: ${waits}`);
    console.log(`request handling (the operation, from the handler to its outcome) in the window: ${handled}`);
    const server = await startBareHttp();
    try {
      const bareAgent = values.cold ? null : new http.Agent({ keepAlive: true, maxSockets: 256 });
      await pacedLoad(server.url, GETSTATUS_BODY, RATE, 2, {}, { agent: bareAgent });
      bare = await pacedLoad(server.url, GETSTATUS_BODY, RATE, SECONDS, {}, { detail: true, agent: bareAgent });
      if (bareAgent) bareAgent.destroy();
    } finally {
      server.stop();
    }
    console.log(summary('the same client against bare node:http', bare));
    if (loop) {
      const l = JSON.parse(loop);
      console.log(`gateway event-loop delay over its life (1 ms timer): p50 ${l.p50Ms.toFixed(2)} ms, p99 ${l.p99Ms.toFixed(2)} ms, max ${l.maxMs.toFixed(1)} ms`);
    }
    const byKind = {};
    for (const e of gc) {
      const k = (byKind[e.kind] ||= { count: 0, totalMs: 0, maxMs: 0 });
      k.count += 1;
      k.totalMs += e.pauseMs;
      k.maxMs = Math.max(k.maxMs, e.pauseMs);
    }
    for (const [kind, k] of Object.entries(byKind)) {
      console.log(`GC ${kind} in the window: ${k.count}, ${k.totalMs.toFixed(0)} ms in all, longest ${k.maxMs.toFixed(1)} ms`);
    }
    // Steady state: the window without its first half second (the stall after the switch from
    // the warm-up and the scrapes).
    const steady = gw.detail.filter((d) => d.sentAtMs >= 500).map((d) => d.ms).sort((a, b) => a - b);
    const sq = (f) => steady[Math.min(steady.length - 1, Math.floor(f * steady.length))];
    console.log(`gateway after the window's first 0.5 s: p50 ${sq(0.5).toFixed(2)} ms, p99 ${sq(0.99).toFixed(2)} ms, p99.9 ${sq(0.999).toFixed(2)} ms`);
    // The slowest 1 %: when were they sent (seconds into the window), grouped by 100 ms?
    const slow = gw.detail.filter((d) => d.ms >= gw.p99);
    const buckets = {};
    for (const d of slow) {
      const b = (Math.floor(d.sentAtMs / 100) / 10).toFixed(1);
      buckets[b] = (buckets[b] || 0) + 1;
    }
    const top = Object.entries(buckets).sort((a, b) => b[1] - a[1]).slice(0, 8);
    console.log(`slowest 1 % (${slow.length} requests >= ${gw.p99.toFixed(1)} ms) by send time (s into the window: count): `
      + top.map(([b, n]) => `${b}: ${n}`).join(', ') + ` (${Object.keys(buckets).length} 100-ms slots in all)`);
    // GC pauses of 3 ms or more, by when they happened (s into the window, approximate).
    console.log(`GC pauses >= 3 ms at (s): ${gc.filter((e) => e.pauseMs >= 3).map((e) => `${e.inWindowS.toFixed(2)} ${e.kind} ${e.pauseMs.toFixed(1)} ms`).join('; ')}`);
  } finally {
    fs.rmSync(gateway.dir, { recursive: true, force: true });
    await uas.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
