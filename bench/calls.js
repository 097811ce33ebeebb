'use strict';
// Call Notification benchmark (issue 14): answer+BYE calls per second through the rig's Kamailio
// S-CSCF alone (the limit), then through Kamailio + the gateway as the application server with
// the callee watched and its notifications delivered to a local sink; post-dial delay (INVITE ->
// 180, INVITE -> 200 at the caller) at half the Kamailio-only limit, and the gateway's CPU per
// call. See bench/README.md.
//
//   node bench/calls.js [--seconds 4] [--rates 250,500,1000,...] [--children 2] [--skip-gateway]
//     [--pdd-seconds 3]
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { fork, spawn } = require('node:child_process');
const { parseArgs } = require('node:util');
const {
  statFields, statCpuSeconds, cpuSeconds, threadCpuSeconds, threadCpuPerOperation,
} = require('./procstat');
const { startScscf } = require('../scripts/kamailio/scscf');
const { freePort } = require('../scripts/kamailio/kamailio');
const { startSippUas, findSipp } = require('../tests/support/sipp');
const { gatewayYaml } = require('../tests/support/gateway');
const { serveGateway } = require('../tests/support/gatewayProcess');

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    rates: { type: 'string', default: '250,500,1000,1500,2000,2500,3000,4000,5000' },
    children: { type: 'string', default: '2' },
    'pdd-seconds': { type: 'string', default: '3' },
    'skip-gateway': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const RATES = args.rates.split(',').map(Number);
const CHILDREN = Number(args.children);
const PDD_SECONDS = Number(args['pdd-seconds']);
const SOCKET_BUFFER = 4 * 1024 * 1024;
const CALLER_SCENARIO = path.join(__dirname, '..', 'tests', 'support', 'sipp', 'caller-answer.xml');
const CALLEE = 'bench';
const DOMAIN = 'example.test';
const CN_PATH = '/CallNotificationManagerService/services/CallNotificationManager';
/** Call-ID -> { invite, ring, answer } times (ms) from a SIPp -trace_msg file. */
function callTimes(text) {
  const calls = new Map();
  const marker = /^-{5,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{6})\n(?:UDP|TCP) message (sent|received)[^\n]*\n\s*([^\n]*)\n([\s\S]*?)(?=^-{5,} \d{4}-|(?![\s\S]))/gm;
  for (const m of text.matchAll(marker)) {
    const at = Date.parse(`${m[1].replace(' ', 'T')}Z`) + Number(m[2]) / 1000;
    const callId = (/^Call-ID:\s*(\S+)/im.exec(m[5]) || [])[1];
    if (!callId) continue;
    const cseq = (/^CSeq:\s*\d+\s+(\S+)/im.exec(m[5]) || [])[1];
    const call = calls.get(callId) || {};
    if (m[3] === 'sent' && m[4].startsWith('INVITE ') && call.invite === undefined) call.invite = at;
    const status = /^SIP\/2\.0 (\d{3})/.exec(m[4]);
    if (m[3] === 'received' && status && cseq === 'INVITE') {
      if (status[1] === '180' && call.ring === undefined) call.ring = at;
      if (status[1] === '200' && call.answer === undefined) call.answer = at;
    }
    calls.set(callId, call);
  }
  return calls;
}

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * One SIPp UAC run of answer+BYE calls at a fixed rate. Asynchronous on purpose: Kamailio's, the gateway's and the sink's output
 * are pipes read by this process's event loop; while a spawnSync() held the loop, a full pipe
 * (64 KiB of Kamailio warnings once calls slowed down) blocked Kamailio's workers in write(2),
 * and the S-CSCF, not the gateway, stopped routing: a 60 s step at 1,000/s "failed" 47,785 calls.
 */
async function callerRun(scscfPort, rate, seconds, { traceMessages = false } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'px-bench-calls-'));
  const calls = Math.round(rate * seconds);
  const started = process.hrtime.bigint();
  const sippArgs = [
    '-sf', CALLER_SCENARIO, `127.0.0.1:${scscfPort}`,
    '-i', '127.0.0.1', '-t', 'u1', '-m', String(calls), '-r', String(rate),
    // Each call lives about 0.5 s (the scenario's closing pause) plus its signalling.
    '-l', String(Math.max(200, rate * 3)), '-buff_size', String(SOCKET_BUFFER),
    '-s', CALLEE, '-key', 'domain', DOMAIN, '-key', 'caller', 'alice',
    // A call whose message got lost fails after 10 s instead of holding the run to -timeout
    // (SIPp then exits without its final screen, and the step would count nothing).
    '-nostdin', '-nd', '-recv_timeout', '10000', '-timeout', `${Math.ceil(seconds * 3 + 30)}s`,
    '-trace_screen', '-screen_file', path.join(dir, 'screen.log'),
  ];
  if (traceMessages) sippArgs.push('-trace_msg', '-message_file', path.join(dir, 'messages.log'));
  await new Promise((resolve) => {
    const sipp = spawn(findSipp(), sippArgs, { cwd: dir, stdio: 'ignore' });
    const timer = setTimeout(() => sipp.kill('SIGKILL'), (seconds * 3 + 60) * 1000);
    sipp.once('error', () => { clearTimeout(timer); resolve(); });
    sipp.once('exit', () => { clearTimeout(timer); resolve(); });
  });
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const read = (f) => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), 'utf8') : '');
  const screen = read('screen.log');
  const successful = Number((/Successful call\s+\|\s+\d+\s+\|\s+(\d+)/.exec(screen) || [])[1] || 0);
  const failed = Number((/Failed call\s+\|\s+\d+\s+\|\s+(\d+)/.exec(screen) || [])[1] || 0);
  if (!screen) console.log(`  (SIPp at ${rate}/s ended without its statistics screen after ${elapsed.toFixed(1)} s)`);
  let pdd = null;
  if (traceMessages) {
    const times = [...callTimes(read('messages.log')).values()].filter((c) => c.invite !== undefined);
    const ring = times.filter((c) => c.ring !== undefined).map((c) => c.ring - c.invite).sort((a, b) => a - b);
    const answer = times.filter((c) => c.answer !== undefined).map((c) => c.answer - c.invite).sort((a, b) => a - b);
    pdd = {
      calls: times.length,
      ringP50: quantile(ring, 0.5), ringP99: quantile(ring, 0.99),
      answerP50: quantile(answer, 0.5), answerP99: quantile(answer, 0.99),
    };
  }
  fs.rmSync(dir, { recursive: true, force: true });
  // The rate of calls set up: the run includes each call's 0.5 s closing pause.
  return { rate, calls, successful, failed, seconds: elapsed, achieved: successful / Math.max(seconds, elapsed - 0.6), pdd };
}

/** user+system CPU seconds of every process in the process group of `pid` (Kamailio's workers). */
function groupCpuSeconds(pid) {
  const group = statFields(`/proc/${pid}/stat`)[2];
  let seconds = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = statFields(`/proc/${entry}/stat`);
      if (fields[2] === group) seconds += statCpuSeconds(fields);
    } catch {
      // the process ended between the listing and the read
    }
  }
  return seconds;
}

/**
 * Steps up the rate until calls fail or the achieved rate falls below 90 % of the offered.
 * Each step also prints the S-CSCF's own CPU per call (all its processes): the gateway's figure
 * is read beside what Kamailio spends on the same calls in the same run.
 */
async function ramp(label, scscf, { onStep } = {}) {
  let best = null;
  for (const rate of RATES) {
    const before = onStep ? onStep.before() : null;
    const kamailioCpu0 = groupCpuSeconds(scscf.pid);
    const run = await callerRun(scscf.sipPort, rate, SECONDS);
    run.kamailioCpuUsPerCall = ((groupCpuSeconds(scscf.pid) - kamailioCpu0) * 1e6) / Math.max(1, run.successful);
    const extra = `, Kamailio CPU ${run.kamailioCpuUsPerCall.toFixed(0)} µs/call`
      + (onStep ? onStep.after(before, run) : '');
    console.log(`  ${label} at ${rate}/s: ${run.achieved.toFixed(0)}/s achieved, ${run.successful} ok, `
      + `${run.failed} failed${extra}`);
    if (run.failed > 0 || run.achieved < 0.9 * rate) break;
    best = run;
  }
  return best;
}

function fmt(ms) {
  return Number.isFinite(ms) ? `${ms.toFixed(2)} ms` : 'n/a';
}

function printPdd(label, pdd) {
  console.log(`  ${label}: INVITE->180 p50 ${fmt(pdd.ringP50)} p99 ${fmt(pdd.ringP99)}; `
    + `INVITE->200 p50 ${fmt(pdd.answerP50)} p99 ${fmt(pdd.answerP99)} (${pdd.calls} calls)`);
}

async function startSink() {
  const sink = fork(path.join(__dirname, 'notification-sink.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise((resolve, reject) => {
    sink.once('message', (m) => resolve(m.port));
    sink.once('exit', (code) => reject(new Error(`sink exited ${code}`)));
  });
  const stats = () => new Promise((resolve) => {
    sink.once('message', resolve);
    sink.send({ type: 'stats' });
  });
  return { url: `http://127.0.0.1:${port}/app/CallNotification`, stats, stop: () => sink.disconnect() };
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// After an overloaded step, tm keeps its transactions for the wait timer (5 s): let them go.
const SETTLE_MS = 6000;

/** Post-dial delay of `rate` calls/s through one S-CSCF (and the gateway's CPU when given). */
async function pddRun(label, scscfPort, rate, gatewayPid) {
  const cpu0 = gatewayPid ? cpuSeconds(gatewayPid) : 0;
  const run = await callerRun(scscfPort, rate, PDD_SECONDS, { traceMessages: true });
  const result = { rate, successful: run.successful, failed: run.failed, ...run.pdd };
  if (gatewayPid) result.gatewayCpuUsPerCall = ((cpuSeconds(gatewayPid) - cpu0) * 1e6) / Math.max(1, run.successful);
  printPdd(`${label} at ${rate}/s (${run.successful} ok, ${run.failed} failed)`, result);
  return result;
}

async function main() {
  const report = { when: new Date().toISOString(), cpus: os.cpus().length, loadavg: os.loadavg(), seconds: SECONDS };
  console.log(`calls bench: ${SECONDS} s per step, rates ${RATES.join(',')}, Kamailio children ${CHILDREN}, `
    + `load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const started = [];
  try {
    const callee = await startSippUas({ scenario: 'callee-answer-bye', pauseMs: 0,
      extraArgs: ['-buff_size', String(SOCKET_BUFFER)] });
    started.push(callee);
    const users = { [CALLEE]: callee.uri };

    console.log('Kamailio S-CSCF alone (no application server):');
    // Kept running: the post-dial delays are compared at the same rates at the end.
    const alone = await startScscf({ users, as: null, children: CHILDREN, debug: 0, memoryMb: 512 });
    started.push(alone);
    const limit = await ramp('kamailio', alone);
    if (!limit) throw new Error('Kamailio alone failed at the lowest rate');
    report.kamailio = { rate: limit.achieved };
    report.halfRate = Math.max(1, Math.round(limit.achieved / 2));
    console.log(`  limit: ${limit.achieved.toFixed(0)} calls/s`);
    await delay(SETTLE_MS);

    if (args['skip-gateway']) {
      report.kamailio.pdd = await pddRun('  post-dial delay', alone.sipPort, report.halfRate);
      return;
    }
    console.log('Kamailio S-CSCF + gateway (callee watched, notifications to a local sink):');
    const sink = await startSink();
    started.push({ stop: async () => sink.stop() });
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'px-bench-calls-gw-'));
    started.push({ stop: async () => fs.rmSync(stateDir, { recursive: true, force: true }) });
    const callPort = await freePort();
    const configFile = path.join(stateDir, 'gateway.yaml');
    // The AS port is fixed here: the gateway runs in its own process and does not log it.
    const calls = `calls:\n  bindHost: 127.0.0.1\n  port: ${callPort}\n  maxCalls: 100000\n`;
    const yaml = gatewayYaml({ presencePort: 9, stateDir, authYaml: 'authentication:\n  required: false\n' });
    fs.writeFileSync(configFile, yaml.includes('\ncalls:\n  port: 0\n')
      ? yaml.replace('\ncalls:\n  port: 0\n', `\n${calls}`)
      : `${yaml}\n${calls}`);
    const gateway = await serveGateway(configFile);
    started.push(gateway);
    const soap = require('soap');
    const client = await soap.createClientAsync(`${gateway.base}${CN_PATH}?wsdl`);
    await client.startCallNotificationAsync({
      reference: { endpoint: sink.url, interfaceName: 'CallNotification', correlator: 'bench-calls' },
      addresses: [`sip:${CALLEE}@${DOMAIN}`],
      criteria: ['CalledNumber', 'Busy', 'NotReachable', 'NoAnswer'],
    });
    const viaGateway = await startScscf({ users, as: `sip:127.0.0.1:${callPort}`, children: CHILDREN, debug: 0,
      memoryMb: 512 });
    started.push(viaGateway);
    const pid = gateway.proc.pid;
    const best = await ramp('gateway', viaGateway, {
      onStep: {
        before: () => ({ cpu: cpuSeconds(pid), threads: threadCpuSeconds(pid) }),
        after: (before, run) => {
          run.gatewayCpuUsPerCall = ((cpuSeconds(pid) - before.cpu) * 1e6) / Math.max(1, run.successful);
          run.gatewayThreads = threadCpuPerOperation(before.threads, threadCpuSeconds(pid), run.successful);
          return `, gateway CPU ${run.gatewayCpuUsPerCall.toFixed(0)} µs/call (${run.gatewayThreads})`;
        },
      },
    });
    report.gateway = best ? { rate: best.achieved, cpuUsPerCall: best.gatewayCpuUsPerCall } : { rate: 0 };
    console.log(`  gateway: ${report.gateway.rate.toFixed(0)} calls/s = `
      + `${((100 * report.gateway.rate) / report.kamailio.rate).toFixed(0)} % of the Kamailio-only `
      + `${report.kamailio.rate.toFixed(0)} calls/s (target >= 50 %)`);
    await delay(SETTLE_MS);

    // The target's rate (half the Kamailio-only limit) and half the gateway's own rate.
    const rates = [...new Set([report.halfRate, Math.max(1, Math.round(report.gateway.rate / 2))])];
    report.pdd = [];
    console.log('Post-dial delay (INVITE sent -> 180 / 200 received at the caller):');
    for (const rate of rates) {
      const kamailioOnly = await pddRun('  Kamailio alone', alone.sipPort, rate);
      await delay(SETTLE_MS);
      const withGateway = await pddRun('  with gateway  ', viaGateway.sipPort, rate, pid);
      await delay(SETTLE_MS);
      report.pdd.push({ rate, kamailio: kamailioOnly, gateway: withGateway });
      console.log(`  added at p99 at ${rate}/s: INVITE->180 ${fmt(withGateway.ringP99 - kamailioOnly.ringP99)}, `
        + `INVITE->200 ${fmt(withGateway.answerP99 - kamailioOnly.answerP99)} (target <= 2 ms at ${report.halfRate}/s); `
        + `gateway CPU ${withGateway.gatewayCpuUsPerCall.toFixed(0)} µs/call`);
    }
    report.sink = await sink.stats();
    console.log(`  gateway CPU per call at its best rate: ${(report.gateway.cpuUsPerCall || NaN).toFixed(0)} µs; `
      + `notifications delivered to the sink: ${report.sink.requests}`);
  } finally {
    for (const p of started.reverse()) await p.stop().catch(() => {});
    console.log(JSON.stringify(report));
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
