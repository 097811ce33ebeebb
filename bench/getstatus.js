#!/usr/bin/env node
'use strict';
// getStatus throughput and latency, on demand (not part of CI):
//   node bench/getstatus.js [--duration 10] [--connections 16,64,128,256] [--durability durable|batched]
//                           [--auth basic|none]   (basic: every request authenticated by HTTP Basic)
// 1. A SIPp UAS stands in for the presence server (200 + NOTIFY with a PIDF document).
// 2. Direct limit: a SIPp UAC fetches from that UAS as fast as it can (SUBSCRIBE/200/NOTIFY/200).
// 3. The gateway runs in its own process (js/cli.js serve); wrk drives SOAP getStatus over
//    keep-alive HTTP at increasing concurrency; then a paced client holds half the peak rate (a
//    fixed request rate, which wrk cannot do) for the latency at that load.
// 4. The limits in the same run: a bare node:http server answering a canned getStatusResponse
//    (same wrk, body and connections) and the SIPp UAC's CPU per fetch; the gateway's CPU per
//    getStatus is printed as a multiple of their sum.
// 5. The same load on a terminal a running notification watches, answered from its last NOTIFY
//    without SIP (presence.answerFromSubscriptions), beside the bare HTTP limit.
// Prints getStatus/s, p50/p99 latency, and the ratio to the direct rate.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { parseArgs } = require('node:util');
const { startSippUas } = require('../tests/support/sipp');
const { freePort } = require('../scripts/kamailio/kamailio');
const { pacedLoad } = require('./paced');
const { cpuSeconds, threadCpuSeconds, threadCpuPerOperation } = require('./procstat');
const { hashPassword } = require('../js/auth/passwordHash');
const { basicAuthorization } = require('../js/auth/basic');

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16,64,128,256' },
    'fetch-timeout': { type: 'string', default: '1000' },
    durability: { type: 'string', default: 'durable' },
    auth: { type: 'string', default: 'basic' },
  },
});
const DURATION = Number(values.duration);
const CONNECTIONS = values.connections.split(',').map(Number);
// The benchmark requester: every request pays authentication and the policy as in production.
const BENCH_PASSWORD = 'bench-password';
const AUTHORIZATION = values.auth === 'basic' ? basicAuthorization('bench', BENCH_PASSWORD) : '';
const SOCKET_BUFFER = 4 * 1024 * 1024; // SIPp UDP buffers: a loss at a burst stalls a UAC run

const BODY = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:loc="http://www.csapi.org/schema/parlayx/terminal_status/v2_3/local">
<soapenv:Body><loc:getStatus><loc:address>sip:alice@example.test</loc:address></loc:getStatus></soapenv:Body>
</soapenv:Envelope>`;

// One SIPp UAC run at a fixed call rate; returns the achieved rate and the failures.
function sippUacRun(uasPort, uacPort, rate, seconds) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'px-bench-uac-'));
  const calls = rate * seconds;
  const started = process.hrtime.bigint();
  // Under bash so that its `times` reports the UAC's own CPU: the SIP client side's limit.
  const result = spawnSync('bash', ['-c', 'sipp "$@" >/dev/null 2>&1; times', 'bash',
    '-sf', path.join(__dirname, 'sipp', 'fetch-uac.xml'), `127.0.0.1:${uasPort}`,
    '-i', '127.0.0.1', '-p', String(uacPort), '-t', 'u1', '-m', String(calls), '-r', String(rate),
    '-l', String(Math.max(200, rate)), '-buff_size', String(SOCKET_BUFFER), '-nostdin',
    '-trace_screen', '-screen_file', path.join(dir, 'screen.log'),
  ], { cwd: dir, encoding: 'utf8', timeout: 120000 });
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  // `times`: the shell's user/system line, then its children's ("0m1.234s 0m0.567s").
  const childTimes = (result.stdout || '').trim().split('\n').pop().match(/(\d+)m([\d.]+)s/g) || [];
  const uacCpu = childTimes.reduce((sum, t) => {
    const [, m, sec] = /(\d+)m([\d.]+)s/.exec(t);
    return sum + Number(m) * 60 + Number(sec);
  }, 0);
  const screen = fs.existsSync(path.join(dir, 'screen.log')) ? fs.readFileSync(path.join(dir, 'screen.log'), 'utf8') : '';
  fs.rmSync(dir, { recursive: true, force: true });
  const successful = Number((/Successful call\s+\|\s+\d+\s+\|\s+(\d+)/.exec(screen) || [])[1] || 0);
  const failed = Number((/Failed call\s+\|\s+\d+\s+\|\s+(\d+)/.exec(screen) || [])[1] || 0);
  return { rate, calls, successful, failed, seconds: elapsed, achieved: successful / elapsed,
    uacCpuUsPerFetch: (uacCpu * 1e6) / Math.max(1, successful) };
}

// The HTTP limit: node:http answering every POST with a canned getStatusResponse of the
// gateway's size, in its own process, driven by the same wrk, body and connections.
const BARE_SERVER = `
const http = require('node:http');
const body = Buffer.from('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><ns2:getStatusResponse xmlns:ns2="http://www.csapi.org/schema/parlayx/terminal_status/v2_3/local"><ns2:result>Reachable</ns2:result></ns2:getStatusResponse></soapenv:Body></soapenv:Envelope>');
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => res.end(body));
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log('ready ' + server.address().port));
`;

async function startBareHttp() {
  const child = spawn(process.execPath, ['-e', BARE_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bare HTTP server exited with ${code}`)));
    child.stdout.on('data', (chunk) => {
      const m = /ready (\d+)/.exec(String(chunk));
      if (m) resolve(Number(m[1]));
    });
  });
  return { pid: child.pid, url: `http://127.0.0.1:${port}/`, stop: () => child.kill('SIGKILL') };
}

// The direct limit: the highest rate SIPp UAC -> UAS sustains with no failed fetch.
async function directRate(uasPort) {
  const uacPort = await freePort();
  let best = null;
  for (const rate of [1000, 2000, 4000, 8000, 12000, 16000, 24000]) {
    const run = sippUacRun(uasPort, uacPort, rate, 4);
    console.log(`  direct at ${rate}/s: ${run.achieved.toFixed(0)}/s achieved, ${run.failed} failed`);
    if (run.failed > 0 || run.achieved < 0.9 * rate) {
      if (!best || run.achieved > best.achieved) best = best || run;
      break;
    }
    best = run;
  }
  return { ...best, rate: best.achieved };
}

// Peak throughput: wrk (C, one thread) costs the shared 2 cores far less per request than a JS
// load generator, so more of the machine goes to the gateway under test.
function runWrk(url, connections, bodyFile, seconds = DURATION) {
  const result = spawnSync('wrk', [
    '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '5s',
    '-s', path.join(__dirname, 'wrk-getstatus.lua'), url,
  ], { encoding: 'utf8', env: { ...process.env, PX_BENCH_BODY: bodyFile, PX_BENCH_AUTHORIZATION: AUTHORIZATION }, timeout: (seconds + 30) * 1000 });
  if (result.status !== 0) throw new Error(`wrk failed: ${result.stderr || result.stdout}`);
  const out = result.stdout;
  const ms = (label) => {
    const m = new RegExp(`^\\s*${label}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
    if (!m) return NaN;
    return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
  };
  return {
    rps: Number((/Requests\/sec:\s+([\d.]+)/.exec(out) || [])[1]),
    p50: ms('50'), p99: ms('99'),
    non2xx: Number((/Non-2xx or 3xx responses:\s+(\d+)/.exec(out) || [0, 0])[1]),
    errors: (/Socket errors:.*/.exec(out) || [''])[0],
  };
}

async function startGatewayProcess(uasPort) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'px-bench-gw-'));
  const httpPort = await freePort();
  const sipPort = await freePort();
  const config = path.join(dir, 'gateway.yaml');
  // One load generator stands for many clients: the per-source cap must not refuse its sockets.
  fs.writeFileSync(config, `http:\n  port: ${httpPort}\n  keepAliveTimeoutMs: 30000\n  maxConnections: 4096\n  maxConnectionsPerSource: 4096\nsip:\n  port: ${sipPort}\n  presenceServerUri: "sip:127.0.0.1:${uasPort}"\npresence:\n  fetchTimeoutMs: ${values['fetch-timeout']}\n`
    + (values.auth === 'basic'
      ? `requesters:\n  bench:\n    passwordHash: "${await hashPassword(BENCH_PASSWORD)}"\n`
      : 'authentication:\n  required: false\n')
    + `usage:\n  database: ${path.join(dir, 'usage.db')}\n  durability: ${values.durability}\n`
    // The watched phase's notification endpoint is on loopback (never called).
    + `outbound:\n  allow: ["127.0.0.0/8"]\nnotifications:\n  database: ${path.join(dir, 'notifications.db')}\n`
    // Its own call AS port: two gateways run side by side in the watched phase.
    + `calls:\n  port: ${await freePort()}\n`);
  // PX_GATEWAY_NODE_ARGS: Node options for the gateway only (a profiler, --trace-gc), as in calls.js.
  const nodeArgs = (process.env.PX_GATEWAY_NODE_ARGS || '').split(' ').filter(Boolean);
  // stdout goes to a file, not a pipe: wrk runs under spawnSync, and a pipe nobody reads for a
  // whole step blocks the gateway in write(2) once it fills (the calls bench had that with
  // Kamailio's stderr).
  const logFile = path.join(dir, 'gateway.log');
  const logFd = fs.openSync(logFile, 'w');
  const child = spawn(process.execPath, [...nodeArgs, path.join(__dirname, '..', 'js', 'cli.js'), 'serve', '--config', config], {
    stdio: ['ignore', logFd, 'inherit'],
  });
  fs.closeSync(logFd);
  await new Promise((resolve, reject) => {
    const poll = setInterval(() => {
      if (fs.readFileSync(logFile, 'utf8').includes('parlayx-gateway started')) {
        clearInterval(poll);
        resolve();
      }
    }, 20);
    child.once('exit', (code) => {
      clearInterval(poll);
      reject(new Error(`gateway exited with ${code}: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`));
    });
  });
  return {
    endpoint: `http://127.0.0.1:${httpPort}/parlayx/TerminalStatusService/services/TerminalStatus`,
    pid: child.pid,
    stop: () => new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGTERM'); }),
    dir,
  };
}

// startNotification on the bench's terminal: while it runs, getStatus is answered from the
// subscription's last NOTIFY (presence.answerFromSubscriptions). The endpoint is never called:
// the UAS never changes the status.
const START_NOTIFICATION = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:loc="http://www.csapi.org/schema/parlayx/terminal_status/notification_manager/v2_3/local">
<soapenv:Body><loc:startNotification><loc:reference><endpoint>http://127.0.0.1:9/app</endpoint><interfaceName>TerminalStatusNotification</interfaceName><correlator>bench-watch</correlator></loc:reference>
<loc:addresses>sip:alice@example.test</loc:addresses><loc:frequency><metric>Second</metric><units>1</units></loc:frequency><loc:checkImmediate>false</loc:checkImmediate></loc:startNotification></soapenv:Body>
</soapenv:Envelope>`;

async function startWatching(endpoint) {
  const url = endpoint.replace('/TerminalStatusService/services/TerminalStatus',
    '/TerminalStatusNotificationManagerService/services/TerminalStatusNotificationManager');
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '""', ...(AUTHORIZATION ? { authorization: AUTHORIZATION } : {}) },
    body: START_NOTIFICATION,
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`startNotification answered ${response.status}: ${text}`);
}

async function main() {
  // SIPp and wrk are Debian packages (sip-tester, wrk); install them when missing.
  const install = spawnSync('bash', [path.join(__dirname, '..', 'scripts', 'install-deps.sh'), '--with-bench-tools'], { stdio: 'inherit' });
  if (install.status !== 0) throw new Error('installing the benchmark tools failed');
  const uas = await startSippUas({
    scenario: 'subscribe-200-notify', keys: { basic: 'open', person: '' },
    extraArgs: ['-buff_size', String(SOCKET_BUFFER)],
  });
  const report = { machine: `${os.cpus().length} cores, ${os.cpus()[0].model}`, node: process.version, auth: values.auth };
  let gateway;
  try {
    const direct = await directRate(uas.port);
    report.direct = direct;
    console.log(`direct SIPp UAC -> UAS fetches: ${direct.rate.toFixed(0)}/s (${direct.successful} ok, ${direct.failed} failed, ${direct.seconds.toFixed(2)} s)`);

    gateway = await startGatewayProcess(uas.port);
    const bodyFile = path.join(gateway.dir, 'getStatus.xml');
    fs.writeFileSync(bodyFile, BODY);
    runWrk(gateway.endpoint, 32, bodyFile, 3); // warm-up
    const ladder = [];
    for (const connections of CONNECTIONS) {
      const cpu0 = cpuSeconds(gateway.pid);
      const r = runWrk(gateway.endpoint, connections, bodyFile);
      const cpu = cpuSeconds(gateway.pid) - cpu0;
      const row = {
        connections, rps: r.rps, p50: r.p50, p99: r.p99,
        non2xx: r.non2xx, errors: r.errors ? 1 : 0, errorText: r.errors, gatewayCpu: cpu / DURATION,
      };
      ladder.push(row);
      console.log(`c=${connections}: ${row.rps.toFixed(0)} getStatus/s, p50 ${row.p50} ms, p99 ${row.p99} ms, non-2xx ${row.non2xx}, errors ${row.errors}, gateway CPU ${(row.gatewayCpu * 100).toFixed(0)} %`);
    }
    report.ladder = ladder;
    const clean = ladder.filter((row) => row.non2xx === 0 && row.errors === 0);
    const peak = (clean.length ? clean : ladder).reduce((a, b) => (b.rps > a.rps ? b : a));
    const half = Math.floor(peak.rps / 2);
    const r = await pacedLoad(gateway.endpoint, BODY, half, DURATION, AUTHORIZATION ? { authorization: AUTHORIZATION } : {});
    report.halfPeak = { targetRate: half, rps: r.rps, p50: r.p50, p99: r.p99, failures: r.failures };
    console.log(`at half the peak (${half}/s, paced): ${r.rps.toFixed(0)} getStatus/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, failures ${r.failures}`);
    // The limits beside the gateway, in the same run: the bare HTTP server at the peak's
    // connections and the SIPp UAC's CPU per fetch at the direct limit.
    const bare = await startBareHttp();
    let bareRun;
    try {
      runWrk(bare.url, peak.connections, bodyFile, 2); // warm-up
      const cpu0 = cpuSeconds(bare.pid);
      bareRun = runWrk(bare.url, peak.connections, bodyFile);
      bareRun.cpuUsPerRequest = ((cpuSeconds(bare.pid) - cpu0) * 1e6) / Math.max(1, bareRun.rps * DURATION);
    } finally {
      bare.stop();
    }
    const gatewayUs = (peak.gatewayCpu * 1e6) / Math.max(1, peak.rps);
    const limitUs = bareRun.cpuUsPerRequest + direct.uacCpuUsPerFetch;
    report.limits = { bareHttp: bareRun, sipClientCpuUsPerFetch: direct.uacCpuUsPerFetch, gatewayCpuUsPerRequest: gatewayUs };
    console.log(`bare node:http, same wrk and body at c=${peak.connections}: ${bareRun.rps.toFixed(0)}/s, `
      + `${bareRun.cpuUsPerRequest.toFixed(0)} µs CPU/request; SIPp UAC ${direct.uacCpuUsPerFetch.toFixed(0)} µs CPU/fetch`);
    console.log(`gateway CPU per getStatus ${gatewayUs.toFixed(0)} µs = ${(gatewayUs / limitUs).toFixed(1)} x (HTTP + SIP client `
      + `limits ${limitUs.toFixed(0)} µs; target <= 2 x)`);
    // The same load on a terminal a running notification watches: answered without SIP. The
    // fetch UAS above ends every dialog at once (as Kamailio answers a fetch), so this phase
    // has its own gateway on a UAS that holds subscriptions (bench/sipp/presence-subscriptions-uas.xml).
    const holdingUas = await startSippUas({
      scenario: path.join(__dirname, 'sipp', 'presence-subscriptions-uas.xml'),
      keys: { expires: '', basic: 'open', notify_on_refresh: '1' },
      extraArgs: ['-l', '1000', '-buff_size', String(SOCKET_BUFFER)],
    });
    const watching = await startGatewayProcess(holdingUas.port);
    try {
      await startWatching(watching.endpoint);
      await new Promise((resolve) => setTimeout(resolve, 500)); // its SUBSCRIBE and first NOTIFY
      runWrk(watching.endpoint, peak.connections, bodyFile, 2); // warm-up
      const watchedCpu0 = cpuSeconds(watching.pid);
      const watchedThreads0 = threadCpuSeconds(watching.pid);
      const watched = runWrk(watching.endpoint, peak.connections, bodyFile);
      const requests = watched.rps * DURATION;
      const watchedUs = ((cpuSeconds(watching.pid) - watchedCpu0) * 1e6) / Math.max(1, requests);
      // px-sip near 0 µs/request shows the answers came without SIP.
      const watchedThreads = threadCpuPerOperation(watchedThreads0, threadCpuSeconds(watching.pid), requests);
      report.answeredFromSubscription = {
        rps: watched.rps, p50: watched.p50, p99: watched.p99, non2xx: watched.non2xx, gatewayCpuUsPerRequest: watchedUs, threads: watchedThreads,
      };
      console.log(`answered from a running subscription (presence.answerFromSubscriptions), c=${peak.connections}: `
        + `${watched.rps.toFixed(0)} getStatus/s, p50 ${watched.p50} ms, p99 ${watched.p99} ms, non-2xx ${watched.non2xx}, `
        + `gateway CPU ${watchedUs.toFixed(0)} µs/getStatus = ${(watchedUs / bareRun.cpuUsPerRequest).toFixed(1)} x bare HTTP `
        + `(µs per thread: ${watchedThreads})`);
    } finally {
      await watching.stop();
      fs.rmSync(watching.dir, { recursive: true, force: true });
      await holdingUas.stop();
    }
    report.peak = { rps: peak.rps, connections: peak.connections, ratioToDirect: peak.rps / direct.rate };
    console.log(`\npeak ${peak.rps.toFixed(0)} getStatus/s at c=${peak.connections}; ${(100 * peak.rps / direct.rate).toFixed(0)} % of the direct SIP fetch rate`);
    console.log(`targets: >= 5000/s ${peak.rps >= 5000 ? 'met' : 'NOT met'}; >= 50 % of direct ${peak.rps / direct.rate >= 0.5 ? 'met' : 'NOT met'}; p99 <= 10 ms at half peak ${r.p99 <= 10 ? 'met' : 'NOT met'}`);
    console.log(JSON.stringify(report));
  } finally {
    if (gateway) {
      await gateway.stop();
      fs.rmSync(gateway.dir, { recursive: true, force: true });
    }
    await uas.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
