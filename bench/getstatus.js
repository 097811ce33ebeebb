#!/usr/bin/env node
'use strict';
// getStatus throughput and latency, on demand (not part of CI):
//   node bench/getstatus.js [--duration 10] [--connections 16,64,128,256] [--durability durable|batched]
//                           [--auth basic|none]   (basic: every request authenticated by HTTP Basic)
//                           [--camara on|off] [--camara-alg ES256|RS256|EdDSA]
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
// 6. CAMARA (issue 16; --camara on, the default): right after the ladder, the same wrk at the
//    peak's connections POSTs Device Reachability Status retrieve to the same gateway process
//    (same UAS, same requester, one long-lived bearer token), beside a bare node:http server
//    answering the gateway's JSON with the same request; rps, latency, CPU per request and the
//    ratio CAMARA/getStatus.
// Prints getStatus/s, p50/p99 latency, and the ratio to the direct rate.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { parseArgs } = require('node:util');
const { startSippUas } = require('../tests/support/sipp');
const { freePort } = require('../scripts/kamailio/kamailio');
const { pacedLoad } = require('./paced');
const {
  GETSTATUS_BODY, runWrk: harnessRunWrk, startBareHttp, startGatewayCli,
} = require('./harness');
const { cpuSeconds, threadCpuSeconds, threadCpuPerOperation } = require('./procstat');
const { hashPassword } = require('../js/auth/passwordHash');
const { basicAuthorization } = require('../js/auth/basic');
const jose = require('jose');

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16,64,128,256' },
    'fetch-timeout': { type: 'string', default: '1000' },
    durability: { type: 'string', default: 'durable' },
    auth: { type: 'string', default: 'basic' },
    camara: { type: 'string', default: 'on' },
    'camara-alg': { type: 'string', default: 'ES256' },
  },
});
if (!['on', 'off'].includes(values.camara)) throw new Error('--camara takes on or off');
const CAMARA = values.camara === 'on';
const DURATION = Number(values.duration);
const CONNECTIONS = values.connections.split(',').map(Number);
// The benchmark requester: every request pays authentication and the policy as in production.
const BENCH_PASSWORD = 'bench-password';
const AUTHORIZATION = values.auth === 'basic' ? basicAuthorization('bench', BENCH_PASSWORD) : '';
const SOCKET_BUFFER = 4 * 1024 * 1024; // SIPp UDP buffers: a loss at a burst stalls a UAC run

const BODY = GETSTATUS_BODY;

// CAMARA phase: the bench's issuer and its token client, mapped to the requester `bench`
// (camara.clients), so retrieve pays the same policy as getStatus. The device's number becomes
// sip:+15550100@example.test;user=phone (sip.telDomain's default), which the fetch UAS answers
// like alice (it answers every Request-URI with an open PIDF).
const CAMARA_ISSUER = 'https://issuer.bench.test';
const CAMARA_AUDIENCE = 'parlayx-gateway-bench';
const CAMARA_CLIENT = 'bench-app';
const CAMARA_BODY = JSON.stringify({ device: { phoneNumber: '+15550100' } });
const CAMARA_PATH = '/device-reachability-status/v1/retrieve'; // camara.basePath "/"

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

// wrk (bench/harness.js) with this run's defaults: --duration and the SOAP requester's
// Authorization; headers: the Authorization and the Content-Type ('' = SOAP's).
function runWrk(url, connections, bodyFile, seconds = DURATION, { authorization = AUTHORIZATION, contentType = '' } = {}) {
  return harnessRunWrk(url, connections, bodyFile, seconds, { authorization, contentType });
}

// The CAMARA issuer of the run: a key pair of --camara-alg, its JWKS in `dir`, and one access
// token for the bench's client, valid for a day (a client reuses its token; the gateway verifies
// it on every request, it keeps no cache of verified tokens).
async function createBenchIssuer(dir) {
  const alg = values['camara-alg'];
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
  const jwksFile = path.join(dir, 'jwks.json');
  fs.writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await jose.exportJWK(publicKey)), kid: 'bench-1', alg, use: 'sig' }] }));
  const token = await new jose.SignJWT({ scope: 'device-reachability-status:read', client_id: CAMARA_CLIENT })
    .setProtectedHeader({ alg, kid: 'bench-1' })
    .setIssuer(CAMARA_ISSUER).setAudience(CAMARA_AUDIENCE).setSubject(CAMARA_CLIENT)
    .setIssuedAt().setExpirationTime('24h')
    .sign(privateKey);
  return { alg, jwksFile, authorization: `Bearer ${token}` };
}

// issuer: createBenchIssuer()'s, to serve CAMARA retrieve with it (null: CAMARA off).
async function startGatewayProcess(uasPort, issuer = null) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'px-bench-gw-'));
  const httpPort = await freePort();
  const sipPort = await freePort();
  const config = path.join(dir, 'gateway.yaml');
  // One load generator stands for many clients: the per-source cap must not refuse its sockets.
  fs.writeFileSync(config, `http:\n  port: ${httpPort}\n  keepAliveTimeoutMs: 30000\n  maxConnections: 4096\n  maxConnectionsPerSource: 4096\nsip:\n  port: ${sipPort}\n  presenceServerUri: "sip:127.0.0.1:${uasPort}"\npresence:\n  fetchTimeoutMs: ${values['fetch-timeout']}\n`
    // No policy section: no pacer, admission limit, address plan or shaping refuses at bench rates.
    + (values.auth === 'basic' || issuer
      ? `requesters:\n  bench:\n    passwordHash: "${await hashPassword(BENCH_PASSWORD)}"\n`
      : '')
    + (values.auth === 'basic' ? '' : 'authentication:\n  required: false\n')
    + (issuer
      ? `camara:\n  enabled: true\n  auth:\n    issuer: "${CAMARA_ISSUER}"\n    audience: "${CAMARA_AUDIENCE}"\n`
        + `    jwksFile: ${issuer.jwksFile}\n  clients:\n    ${CAMARA_CLIENT}: bench\n`
      : '')
    + `usage:\n  database: ${path.join(dir, 'usage.db')}\n  durability: ${values.durability}\n`
    // The watched phase's notification endpoint is on loopback (never called).
    + `outbound:\n  allow: ["127.0.0.0/8"]\nnotifications:\n  database: ${path.join(dir, 'notifications.db')}\n`
    // Its own call AS port: two gateways run side by side in the watched phase.
    + `calls:\n  port: ${await freePort()}\n`);
  // PX_GATEWAY_NODE_ARGS: Node options for the gateway only (a profiler, --trace-gc), as in calls.js.
  const nodeArgs = (process.env.PX_GATEWAY_NODE_ARGS || '').split(' ').filter(Boolean);
  const gateway = await startGatewayCli({ config, logFile: path.join(dir, 'gateway.log'), nodeArgs });
  return {
    endpoint: `http://127.0.0.1:${httpPort}/parlayx/TerminalStatusService/services/TerminalStatus`,
    camaraUrl: `http://127.0.0.1:${httpPort}${CAMARA_PATH}`,
    pid: gateway.pid,
    stop: gateway.stop,
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

// One retrieve checked whole: 200 with `reachable: true` (the UAS's PIDF is open), else the
// bench stops. Returns the answer's text and headers (the bare server's canned answer).
async function camaraRetrieve(url, authorization) {
  const response = await fetch(url, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: CAMARA_BODY,
  });
  const text = await response.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: refused below
  }
  if (response.status !== 200 || !body || body.reachable !== true) {
    throw new Error(`CAMARA retrieve answered ${response.status}, not 200 with reachable true: ${text}`);
  }
  return { text, headers: response.headers };
}

// A wrk run of the CAMARA phase must be all 200s: wrk counts the others, the bench stops on any.
function checkCamaraRun(label, run) {
  if (run.non2xx > 0 || run.timeouts > 0) {
    throw new Error(`CAMARA ${label}: ${run.non2xx} non-2xx answers, ${run.timeouts} timeouts (${run.errors}); `
      + 'the figures would not be of retrieve answered 200');
  }
}

// One measured wrk run on the gateway: the run's figures, CPU µs per request, µs per thread.
function measuredWrk(gateway, url, connections, bodyFile, headers) {
  const cpu0 = cpuSeconds(gateway.pid);
  const threads0 = threadCpuSeconds(gateway.pid);
  const run = runWrk(url, connections, bodyFile, DURATION, headers);
  const requests = run.rps * DURATION;
  run.gatewayCpuUsPerRequest = ((cpuSeconds(gateway.pid) - cpu0) * 1e6) / Math.max(1, requests);
  run.threads = threadCpuPerOperation(threads0, threadCpuSeconds(gateway.pid), requests);
  return run;
}

// CAMARA retrieve beside getStatus (issue 16): the same gateway process, UAS, requester and
// wrk at the peak's connections. getStatus is measured again right before retrieve (after
// retrieve's warm-up), so the ratio compares neighbouring runs of a warm gateway rather than a
// ladder step of a colder one, minutes earlier, on a machine others use. Then a bare node:http
// server answering the gateway's JSON answer (body and headers as captured) to the same JSON
// request and bearer header.
async function camaraPhase(gateway, issuer, peak, direct, soapBodyFile) {
  const bodyFile = path.join(gateway.dir, 'retrieve.json');
  fs.writeFileSync(bodyFile, CAMARA_BODY);
  const wrkOptions = { authorization: issuer.authorization, contentType: 'application/json' };
  const sample = await camaraRetrieve(gateway.camaraUrl, issuer.authorization);
  checkCamaraRun('warm-up', runWrk(gateway.camaraUrl, peak.connections, bodyFile, 2, wrkOptions));
  const soap = measuredWrk(gateway, gateway.endpoint, peak.connections, soapBodyFile);
  console.log(`getStatus again, c=${peak.connections}: ${soap.rps.toFixed(0)} getStatus/s, p50 ${soap.p50} ms, p99 ${soap.p99} ms, `
    + `non-2xx ${soap.non2xx}, gateway CPU ${soap.gatewayCpuUsPerRequest.toFixed(0)} µs/getStatus (µs per thread: ${soap.threads})`);
  const run = measuredWrk(gateway, gateway.camaraUrl, peak.connections, bodyFile, wrkOptions);
  const cpuUs = run.gatewayCpuUsPerRequest;
  const getStatusUs = soap.gatewayCpuUsPerRequest;
  console.log(`CAMARA retrieve (${issuer.alg} bearer token), c=${peak.connections}: ${run.rps.toFixed(0)} retrieve/s, `
    + `p50 ${run.p50} ms, p99 ${run.p99} ms, non-2xx ${run.non2xx}, gateway CPU ${cpuUs.toFixed(0)} µs/retrieve `
    + `(µs per thread: ${run.threads})`);
  checkCamaraRun('run', run);
  await camaraRetrieve(gateway.camaraUrl, issuer.authorization); // still 200 with reachable after the load

  const bare = await startBareHttp({
    body: sample.text,
    headers: Object.fromEntries(['content-type', 'x-correlator', 'x-parlayx-global-id'].map((name) => [name, sample.headers.get(name) || ''])),
  });
  let bareRun;
  try {
    runWrk(bare.url, peak.connections, bodyFile, 2, wrkOptions); // warm-up
    const bareCpu0 = cpuSeconds(bare.pid);
    bareRun = runWrk(bare.url, peak.connections, bodyFile, DURATION, wrkOptions);
    bareRun.cpuUsPerRequest = ((cpuSeconds(bare.pid) - bareCpu0) * 1e6) / Math.max(1, bareRun.rps * DURATION);
  } finally {
    bare.stop();
  }
  const limitUs = bareRun.cpuUsPerRequest + direct.uacCpuUsPerFetch;
  const result = {
    path: CAMARA_PATH, alg: issuer.alg, connections: peak.connections,
    requestBytes: Buffer.byteLength(CAMARA_BODY), responseBytes: Buffer.byteLength(sample.text),
    rps: run.rps, p50: run.p50, p99: run.p99, non2xx: run.non2xx, errors: run.errors ? 1 : 0, errorText: run.errors,
    gatewayCpuUsPerRequest: cpuUs, threads: run.threads,
    getStatus: {
      rps: soap.rps, p50: soap.p50, p99: soap.p99, non2xx: soap.non2xx, errors: soap.errors ? 1 : 0,
      gatewayCpuUsPerRequest: getStatusUs, threads: soap.threads,
    },
    ratioRps: run.rps / soap.rps, ratioCpu: cpuUs / getStatusUs,
    bareHttp: bareRun, sipClientCpuUsPerFetch: direct.uacCpuUsPerFetch, ratioCpuToLimits: cpuUs / limitUs,
  };
  console.log(`bare node:http, same wrk, JSON request and bearer header at c=${peak.connections}, answering the gateway's `
    + `JSON (${result.responseBytes} B): ${bareRun.rps.toFixed(0)}/s, ${bareRun.cpuUsPerRequest.toFixed(0)} µs CPU/request; `
    + `gateway CPU per retrieve = ${result.ratioCpuToLimits.toFixed(1)} x (HTTP + SIP client limits ${limitUs.toFixed(0)} µs)`);
  console.log(`CAMARA/getStatus at c=${peak.connections}, neighbouring runs: ${(100 * result.ratioRps).toFixed(0)} % of the rate `
    + `(${run.rps.toFixed(0)} vs ${soap.rps.toFixed(0)}/s), ${result.ratioCpu.toFixed(2)} x the CPU per request `
    + `(${cpuUs.toFixed(0)} vs ${getStatusUs.toFixed(0)} µs)`);
  return result;
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
  const issuerDir = fs.mkdtempSync(path.join(os.tmpdir(), 'px-bench-issuer-'));
  try {
    const issuer = CAMARA ? await createBenchIssuer(issuerDir) : null;
    const direct = await directRate(uas.port);
    report.direct = direct;
    console.log(`direct SIPp UAC -> UAS fetches: ${direct.rate.toFixed(0)}/s (${direct.successful} ok, ${direct.failed} failed, ${direct.seconds.toFixed(2)} s)`);

    gateway = await startGatewayProcess(uas.port, issuer);
    const bodyFile = path.join(gateway.dir, 'getStatus.xml');
    fs.writeFileSync(bodyFile, BODY);
    runWrk(gateway.endpoint, 32, bodyFile, 3); // warm-up
    const ladder = [];
    for (const connections of CONNECTIONS) {
      const cpu0 = cpuSeconds(gateway.pid);
      const threads0 = threadCpuSeconds(gateway.pid);
      const r = runWrk(gateway.endpoint, connections, bodyFile);
      const cpu = cpuSeconds(gateway.pid) - cpu0;
      const row = {
        connections, rps: r.rps, p50: r.p50, p99: r.p99,
        non2xx: r.non2xx, errors: r.errors ? 1 : 0, errorText: r.errors, gatewayCpu: cpu / DURATION,
        threads: threadCpuPerOperation(threads0, threadCpuSeconds(gateway.pid), r.rps * DURATION),
      };
      ladder.push(row);
      console.log(`c=${connections}: ${row.rps.toFixed(0)} getStatus/s, p50 ${row.p50} ms, p99 ${row.p99} ms, non-2xx ${row.non2xx}, errors ${row.errors}, gateway CPU ${(row.gatewayCpu * 100).toFixed(0)} %`);
    }
    report.ladder = ladder;
    const clean = ladder.filter((row) => row.non2xx === 0 && row.errors === 0);
    const peak = (clean.length ? clean : ladder).reduce((a, b) => (b.rps > a.rps ? b : a));
    if (issuer) report.camara = await camaraPhase(gateway, issuer, peak, direct, bodyFile);
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
      // The tail's limit: the same paced client at the same rate against the bare server. A p99
      // this client and machine cannot beat is not the gateway's.
      const bareHalf = await pacedLoad(bare.url, BODY, half, DURATION);
      report.halfPeak.bare = { rps: bareHalf.rps, p50: bareHalf.p50, p99: bareHalf.p99, failures: bareHalf.failures };
      console.log(`the same paced client at ${half}/s against bare node:http: p50 ${bareHalf.p50.toFixed(2)} ms, `
        + `p99 ${bareHalf.p99.toFixed(2)} ms (the gateway's p99 ${r.p99.toFixed(2)} ms)`);
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
    if (report.camara) {
      const c = report.camara;
      console.log(`CAMARA retrieve ${c.rps.toFixed(0)}/s at c=${c.connections} = ${(100 * c.ratioRps).toFixed(0)} % of getStatus/s `
        + `(${c.getStatus.rps.toFixed(0)}/s in the run before it); ${c.gatewayCpuUsPerRequest.toFixed(0)} µs CPU/retrieve = `
        + `${c.ratioCpu.toFixed(2)} x getStatus's (${c.getStatus.gatewayCpuUsPerRequest.toFixed(0)} µs)`);
    }
    console.log(`targets: >= 5000/s ${peak.rps >= 5000 ? 'met' : 'NOT met'}; >= 50 % of direct ${peak.rps / direct.rate >= 0.5 ? 'met' : 'NOT met'}; p99 <= 10 ms at half peak ${r.p99 <= 10 ? 'met' : 'NOT met'}`);
    console.log(JSON.stringify(report));
  } finally {
    if (gateway) {
      await gateway.stop();
      fs.rmSync(gateway.dir, { recursive: true, force: true });
    }
    await uas.stop();
    fs.rmSync(issuerDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
