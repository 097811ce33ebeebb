#!/usr/bin/env node
'use strict';
// Terminal Status notification benchmarks, on demand (not part of CI):
//   node bench/notifications.js [--terminals 100000] [--expires 60] [--hold-seconds 75]
//     [--deliveries 200000] [--durability durable|batched|durable,batched] [--sockets 16]
//     [--correlators 1000] [--backlog 10000] [--in-flight 500] [--skip-hold] [--skip-delivery] [--check-uas]
//     [--trim] [--heaptrack]
// 1. Hold: a SIPp UAS (sipp/presence-subscriptions-uas.xml) is the presence server; the gateway
//    runs in its own process (notifications-gateway.js) and starts one notification per terminal
//    through gateway.core.startNotification, i.e. one long-lived SUBSCRIBE dialog each. Prints
//    the time to subscribe them all, RSS per watched terminal, the notification store's size per
//    terminal, and the CPU the gateway spends holding them (refreshes every expires/2 s).
// 2. Delivery: js/delivery/ (NotificationDelivery) sends statusNotification to a keep-alive
//    node:http endpoint in its own process (notification-sink.js) with usage records on; prints
//    deliveries/s, on-the-wire latency, CPU of both sides and the records written.
// --check-uas: before the hold, a SIPp UAC (sipp/presence-subscriptions-uac.xml) holds --terminals
// subscriptions against the same UAS (subscribe, refresh, unsubscribe) to show the peer copes.
// --trim: after the hold, malloc_trim(0) in the gateway (through gdb) and RSS again: how much of
// the RSS is heap glibc keeps after the SIP transactions of the bursts were freed.
// --heaptrack: the gateway runs under heaptrack; prints the top allocation sites at the peak and
// those still held at the end, and the malloc heap per terminal at every sample.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { parseArgs } = require('node:util');
const { startSippUas } = require('../tests/support/sipp');
const { freePort } = require('../scripts/kamailio/kamailio');
const { forkHelper } = require('./harness');
const { idleShare } = require('./procstat');

const { values } = parseArgs({
  options: {
    terminals: { type: 'string', default: '100000' },
    expires: { type: 'string', default: '60' },
    'hold-seconds': { type: 'string', default: '75' },
    'sample-seconds': { type: 'string', default: '5' },
    'in-flight': { type: 'string', default: '500' },
    deliveries: { type: 'string', default: '200000' },
    durability: { type: 'string', default: 'durable' },
    sockets: { type: 'string', default: '16' },
    correlators: { type: 'string', default: '1000' },
    backlog: { type: 'string', default: '10000' },
    'skip-hold': { type: 'boolean', default: false },
    'skip-delivery': { type: 'boolean', default: false },
    'check-uas': { type: 'boolean', default: false },
    heaptrack: { type: 'boolean', default: false },
    trim: { type: 'boolean', default: false },
  },
});
const TERMINALS = Number(values.terminals);
const EXPIRES = Number(values.expires);
const HOLD_SECONDS = Number(values['hold-seconds']);
const SAMPLE_SECONDS = Number(values['sample-seconds']);
const DELIVERIES = Number(values.deliveries);
const SOCKET_BUFFER = 8 * 1024 * 1024;
const KIB = 1024;
const TARGET_BYTES_PER_TERMINAL = 4 * KIB;
const TARGET_DELIVERIES_PER_SECOND = 20000;

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function meminfoMb(field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** RSS (bytes) and CPU (user+system, µs) of another process, from /proc. */
function procUsage(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number((/^VmRSS:\s+(\d+)/m.exec(status) || [0, 0])[1]);
    return { rss: rssKb * KIB, cpuUs: ((Number(stat[11]) + Number(stat[12])) * 1e6) / 100 }; // USER_HZ = 100
  } catch {
    return { rss: NaN, cpuUs: NaN };
  }
}

function fileSize(file) {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

const mib = (bytes) => `${(bytes / KIB / KIB).toFixed(1)} MiB`;

async function startSink() {
  const sink = forkHelper('notification-sink.js');
  const { port } = await sink.wait('listening');
  return { ...sink, endpoint: `http://127.0.0.1:${port}/sink`, stats: () => sink.ask({ type: 'stats' }, 'stats') };
}

// ---------------------------------------------------------------------------------------------
// Hold

/** SIPp UAC -> UAS only: the UAS holds `terminals` subscriptions through a refresh. */
function checkUas(uasPort, uacPort, terminals) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'px-bench-uac-'));
  const rate = 5000;
  const holdMs = 10000;
  const started = Date.now();
  const result = spawnSync('sipp', [
    '-sf', path.join(__dirname, 'sipp', 'presence-subscriptions-uac.xml'), `127.0.0.1:${uasPort}`,
    '-i', '127.0.0.1', '-p', String(uacPort), '-t', 'u1', '-m', String(terminals), '-r', String(rate),
    '-l', String(terminals + 1000), '-d', String(holdMs), '-key', 'expires', String(EXPIRES),
    '-buff_size', String(SOCKET_BUFFER), '-nostdin', '-trace_screen', '-screen_file', path.join(dir, 'screen.log'),
  ], { cwd: dir, encoding: 'utf8', timeout: (terminals / rate + 2 * holdMs / 1000 + 120) * 1000 });
  const screen = fs.existsSync(path.join(dir, 'screen.log')) ? fs.readFileSync(path.join(dir, 'screen.log'), 'utf8') : '';
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    successful: Number((/Successful call\s+\|\s+\d+\s+\|\s+(\d+)/.exec(screen) || [])[1] || 0),
    failed: Number((/Failed call\s+\|\s+\d+\s+\|\s+(\d+)/.exec(screen) || [])[1] || 0),
    peak: Number((/Peak was (\d+) calls/.exec(screen) || [])[1] || 0),
    seconds: (Date.now() - started) / 1000,
    status: result.status,
  };
}

/**
 * Prints the top peak-memory allocation sites of the heaptrack run and the malloc heap at each
 * sample of the run (from heaptrack's massif snapshots, matched by the gateway's uptime); keeps
 * the data file and the full report.
 */
function heaptrackReport(dir, report, marks) {
  const data = fs.readdirSync(dir).find((f) => f.startsWith('heaptrack.'));
  if (!data) {
    console.log('heaptrack: no data file');
    return;
  }
  const kept = path.join(os.tmpdir(), `px-bench-${data}`);
  fs.copyFileSync(path.join(dir, data), kept);
  const out = spawnSync('heaptrack_print', ['-f', kept, '-p', '1', '-l', '1', '-a', '0', '-T', '0', '-n', '25', '-s', '3',
    '-M', `${kept}.massif`, '--massif-detailed-freq', '1000000'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const file = path.join(os.tmpdir(), `px-bench-heaptrack-${process.pid}.txt`);
  fs.writeFileSync(file, out.stdout + out.stderr);
  report.heaptrack = file;
  const text = out.stdout;
  const peaks = text.indexOf('PEAK MEMORY CONSUMERS');
  console.log(`\nheaptrack (full report: ${file}):`);
  const summary = text.slice(text.lastIndexOf('total runtime')).trim();
  console.log(summary.split('\n').slice(0, 12).join('\n'));
  const sites = (from, pattern) => {
    for (let i = 0; i < from.length; i++) {
      if (pattern.test(from[i])) console.log(`  ${from[i].trim()} ${(from[i + 1] || '').trim()} ${(from[i + 2] || '').trim()}`);
    }
  };
  const leaks = text.indexOf('MEMORY LEAKS');
  console.log('peak (the largest heap of the run, during a refresh round):');
  sites(text.slice(peaks, leaks > peaks ? leaks : undefined).split('\n'), /peak memory consumed over/);
  if (leaks >= 0) {
    console.log('held at the end of the hold (the gateway exits without closing, so still allocated = held):');
    sites(text.slice(leaks).split('\n'), /leaked over/);
  }
  let snapshots = [];
  try {
    const massif = fs.readFileSync(`${kept}.massif`, 'utf8');
    const re = /^time=([\d.]+)\nmem_heap_B=(\d+)/gm;
    for (let m = re.exec(massif); m; m = re.exec(massif)) snapshots.push({ time: Number(m[1]), heap: Number(m[2]) });
  } catch {
    snapshots = [];
  }
  if (snapshots.length === 0 || marks.length === 0) return;
  const heapAt = (uptime) => {
    let heap = snapshots[0].heap;
    for (const s of snapshots) {
      if (s.time > uptime) break;
      heap = s.heap;
    }
    return heap;
  };
  const base = heapAt(marks[0].uptime);
  report.heaptrackTimeline = marks.map((m) => ({ label: m.label, heap: heapAt(m.uptime) }));
  console.log(`malloc heap (heaptrack) per terminal above "${marks[0].label}":`);
  for (const m of report.heaptrackTimeline) {
    console.log(`  ${m.label.padEnd(28)} ${mib(m.heap).padStart(10)}  ${((m.heap - base) / TERMINALS).toFixed(0).padStart(6)} B per terminal`);
  }
}

async function hold(report) {
  const availableMb = meminfoMb('MemAvailable');
  // SIPp ~7 KiB per held call; the gateway ~2.4 KiB per terminal at rest (100,000 measured) plus
  // the transactions NTA keeps 32 s after a burst: up to 10 KiB per terminal while subscribing.
  const neededMb = (TERMINALS * 17 * KIB) / KIB / KIB + 512;
  console.log(`\n== Hold: ${TERMINALS} watched terminals, subscriptionExpiresSec ${EXPIRES}, hold ${HOLD_SECONDS} s`);
  console.log(`memory available ${availableMb.toFixed(0)} MiB (need about ${neededMb.toFixed(0)} MiB)`);
  if (availableMb < neededMb) throw new Error(`not enough free memory for ${TERMINALS} terminals: lower --terminals`);

  const uas = await startSippUas({
    scenario: path.join(__dirname, 'sipp', 'presence-subscriptions-uas.xml'),
    keys: { expires: '', basic: 'open', notify_on_refresh: '1' },
    extraArgs: ['-l', String(2 * TERMINALS + 1000), '-buff_size', String(SOCKET_BUFFER),
      '-max_recv_loops', '10000', '-max_sched_loops', '10000'],
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'px-bench-notif-'));
  const marks = []; // { label, uptime } of the gateway's samples, for the heaptrack timeline
  let gateway = null;
  let sink = null;
  try {
    const uas0 = procUsage(uas.pid); // before --check-uas: SIPp keeps the memory of its calls
    if (values['check-uas']) {
      const check = checkUas(uas.port, await freePort(), TERMINALS);
      report.uasCheck = { ...check, uasRss: procUsage(uas.pid).rss };
      console.log(`SIPp UAC -> UAS alone: ${check.successful} subscriptions held, refreshed and ended, ${check.failed} failed, `
        + `peak ${check.peak} concurrent (${check.seconds.toFixed(0)} s)`);
    }
    sink = await startSink();
    const notificationsDb = path.join(dir, 'notifications.db');
    const configText = `http:\n  port: 0\n`
      + `sip:\n  bindHost: 127.0.0.1\n  port: ${await freePort()}\n  transports: [udp]\n  presenceServerUri: "sip:127.0.0.1:${uas.port}"\n`
      + `presence:\n  subscriptionExpiresSec: ${EXPIRES}\n  maxSubscribesInFlight: ${Number(values['in-flight'])}\n  subscribeTimeoutMs: 10000\n`
      + `notifications:\n  database: ${notificationsDb}\n`
      + 'policy:\n  maxTargets: 100000\nauthentication:\n  required: false\n'
      + `usage:\n  database: ${path.join(dir, 'usage.db')}\n`
      + 'outbound:\n  allow: ["127.0.0.0/8"]\n'; // the sink listens on loopback
    // --heaptrack: every malloc of the gateway is traced (heaptrack_print afterwards says where the
    // memory per terminal goes); its RSS and CPU figures then include heaptrack's own.
    gateway = values.heaptrack
      ? forkHelper('notifications-gateway.js', { execPath: 'heaptrack', execArgv: [process.execPath, '--expose-gc'], cwd: dir })
      : forkHelper('notifications-gateway.js', { execArgv: ['--expose-gc'] });
    const { sample: before } = await gateway.ask({ type: 'init', configText }, 'ready');
    console.log(`gateway up: RSS ${mib(before.rss)}, JS heap ${mib(before.heapUsed)}`);
    marks.push({ label: 'gateway up', uptime: before.uptime });

    // Subscribe: start every notification, then wait until every dialog is active.
    const t0 = Date.now();
    const startedReply = gateway.ask({ type: 'start', count: TERMINALS, endpoint: sink.endpoint, concurrency: 1000 }, 'started');
    let startOutcome = null;
    startedReply.then((r) => { startOutcome = r; }, () => {});
    const timeoutMs = (60 + TERMINALS / 200) * 1000;
    let stats = before.stats;
    let lastProgress = { at: Date.now(), active: 0 };
    let lastPrint = 0;
    for (;;) {
      await delay(250);
      ({ stats } = (await gateway.ask({ type: 'sample' }, 'sample')).sample);
      if (stats.subscriptionsActive !== lastProgress.active) lastProgress = { at: Date.now(), active: stats.subscriptionsActive };
      if (Date.now() - lastPrint >= 5000) {
        lastPrint = Date.now();
        console.log(`  ${((Date.now() - t0) / 1000).toFixed(1)} s: ${stats.notifications} notifications, ${stats.subscriptionsActive}/${TERMINALS} subscriptions active, `
          + `${stats.subscribeRequests} SUBSCRIBEs, ${stats.subscriptionFailures} failures, ${stats.resubscribes} resubscribes`);
      }
      if (stats.subscriptionsActive >= TERMINALS && startOutcome) break;
      if (Date.now() - t0 > timeoutMs || Date.now() - lastProgress.at > 30000) {
        throw new Error(`subscriptions stalled at ${stats.subscriptionsActive}/${TERMINALS}: ${JSON.stringify(stats)}`);
      }
    }
    const subscribeSeconds = (Date.now() - t0) / 1000;
    if (startOutcome.errors > 0) console.log(`  startNotification errors: ${startOutcome.errors} (${startOutcome.firstError})`);
    const { sample: after } = await gateway.ask({ type: 'sample', gc: true }, 'sample');
    marks.push({ label: 'all subscribed', uptime: after.uptime });
    const uas1 = procUsage(uas.pid);
    const dbBytes = fileSize(notificationsDb) + fileSize(`${notificationsDb}-wal`);
    const perTerminal = (after.rss - before.rss) / TERMINALS;
    report.subscribe = {
      terminals: TERMINALS, seconds: subscribeSeconds, perSecond: TERMINALS / subscribeSeconds,
      startNotificationSeconds: startOutcome.elapsedMs / 1000, started: startOutcome.started, errors: startOutcome.errors,
      cpuUsPerTerminal: (after.cpuUs - before.cpuUs) / TERMINALS,
      stats: after.stats,
    };
    report.memory = {
      rssBefore: before.rss, rssAfter: after.rss, bytesPerTerminal: perTerminal,
      heapBytesPerTerminal: (after.heapUsed - before.heapUsed) / TERMINALS,
      externalBytesPerTerminal: (after.external - before.external) / TERMINALS,
      notificationsDbBytes: dbBytes, dbBytesPerTerminal: dbBytes / TERMINALS,
      sippRss: uas1.rss, sippBytesPerSubscription: (uas1.rss - uas0.rss) / TERMINALS,
    };
    console.log(`subscribed ${TERMINALS} terminals in ${subscribeSeconds.toFixed(1)} s (${(TERMINALS / subscribeSeconds).toFixed(0)}/s; `
      + `startNotification calls done in ${(startOutcome.elapsedMs / 1000).toFixed(1)} s), ${after.stats.subscribeRequests} SUBSCRIBEs, `
      + `${after.stats.subscriptionFailures} failures; gateway CPU ${((after.cpuUs - before.cpuUs) / TERMINALS).toFixed(0)} µs per terminal`);
    console.log(`gateway RSS ${mib(before.rss)} -> ${mib(after.rss)}: ${perTerminal.toFixed(0)} B per watched terminal `
      + `(JS heap ${report.memory.heapBytesPerTerminal.toFixed(0)} B, external ${report.memory.externalBytesPerTerminal.toFixed(0)} B)`);
    console.log(`notification store ${mib(dbBytes)}: ${(dbBytes / TERMINALS).toFixed(0)} B per terminal; `
      + `SIPp UAS RSS ${mib(uas1.rss)} (${report.memory.sippBytesPerSubscription.toFixed(0)} B per subscription)`);

    // Hold: sample CPU, RSS and refreshes; refreshes come every granted/2 s per terminal.
    const samples = [{ at: Date.now(), ...after, sipp: uas1 }];
    const holdEnd = Date.now() + HOLD_SECONDS * 1000;
    while (Date.now() < holdEnd) {
      await delay(Math.min(SAMPLE_SECONDS * 1000, holdEnd - Date.now()));
      const { sample } = await gateway.ask({ type: 'sample' }, 'sample');
      samples.push({ at: Date.now(), ...sample, sipp: procUsage(uas.pid) });
      marks.push({ label: `hold +${((Date.now() - samples[0].at) / 1000).toFixed(0)} s (${sample.stats.refreshes} refreshes)`, uptime: sample.uptime });
      const a = samples[samples.length - 2];
      const b = samples[samples.length - 1];
      console.log(`  hold +${((b.at - samples[0].at) / 1000).toFixed(0)} s: ${b.stats.refreshes - a.stats.refreshes} refreshes, `
        + `gateway CPU ${((100 * (b.cpuUs - a.cpuUs)) / ((b.at - a.at) * 1000)).toFixed(1)} %, RSS ${mib(b.rss)}, `
        + `active ${b.stats.subscriptionsActive}, failures ${b.stats.subscriptionFailures}, resubscribes ${b.stats.resubscribes}; `
        + `SIPp CPU ${((100 * (b.sipp.cpuUs - a.sipp.cpuUs)) / ((b.at - a.at) * 1000)).toFixed(1)} %`);
    }
    const first = samples[0];
    const last = samples[samples.length - 1];
    const { sample: end } = await gateway.ask({ type: 'sample', gc: true }, 'sample');
    const holdSeconds = (last.at - first.at) / 1000;
    const cpuUs = last.cpuUs - first.cpuUs;
    const refreshes = last.stats.refreshes - first.stats.refreshes;
    // Quiet holding: 5-s intervals with no refresh that start 40 s or more after any SIP burst
    // (subscribe or refresh), once Sofia has freed the transactions of the burst (Timer J, 32 s).
    let lastBusyAt = samples[0].at;
    const quiet = [];
    for (let i = 1; i < samples.length; i++) {
      const refreshed = samples[i].stats.refreshes - samples[i - 1].stats.refreshes;
      if (refreshed > 0) lastBusyAt = samples[i].at;
      else if (samples[i - 1].at - lastBusyAt >= 40000) quiet.push({ seconds: (samples[i].at - samples[i - 1].at) / 1000, cpuUs: samples[i].cpuUs - samples[i - 1].cpuUs });
    }
    const quietCpu = quiet.length ? quiet.reduce((s, i) => s + i.cpuUs, 0) / quiet.reduce((s, i) => s + i.seconds, 0) / 1e6 : null;
    report.hold = {
      seconds: holdSeconds, refreshes, cpuSeconds: cpuUs / 1e6, cpuPercent: (100 * cpuUs) / (holdSeconds * 1e6),
      usPerRefresh: refreshes > 0 ? cpuUs / refreshes : null,
      quietCpuPercent: quietCpu === null ? null : 100 * quietCpu,
      rssStart: first.rss, rssEnd: end.rss, rssGrowthBytesPerTerminal: (end.rss - first.rss) / TERMINALS,
      sippCpuPercent: (100 * (last.sipp.cpuUs - first.sipp.cpuUs)) / (holdSeconds * 1e6), sippRss: last.sipp.rss,
      stats: end.stats, logs: end.logs,
    };
    console.log(`hold ${holdSeconds.toFixed(0)} s: ${refreshes} refreshes, gateway CPU ${(cpuUs / 1e6).toFixed(2)} s `
      + `(${report.hold.cpuPercent.toFixed(1)} % of a core), ${refreshes > 0 ? (cpuUs / refreshes).toFixed(0) : '-'} µs CPU per refresh (all hold CPU / refreshes)`);
    console.log(quietCpu !== null
      ? `  quiet holding (no SIP traffic for 40 s): ${(100 * quietCpu).toFixed(2)} % of a core`
      : '  quiet holding: no quiet interval in this run (refreshes every expires/2; try --expires 600 --hold-seconds 60)');
    console.log(`  RSS ${mib(first.rss)} -> ${mib(end.rss)} over the hold (${report.hold.rssGrowthBytesPerTerminal.toFixed(0)} B per terminal); `
      + `failures ${end.stats.subscriptionFailures}, resubscribes ${end.stats.resubscribes}, active ${end.stats.subscriptionsActive}; `
      + `gateway warnings ${end.logs.warn}, errors ${end.logs.error}`);
    if (values.trim && !values.heaptrack) {
      // How much of the RSS is freed heap that glibc keeps (the transactions of the subscribe
      // and refresh bursts), not memory the subscriptions hold: malloc_trim(0) in the gateway
      // through gdb, then RSS again.
      const trim = spawnSync('gdb', ['-p', String(gateway.pid), '-batch', '-ex', 'call (int)malloc_trim(0)'], { encoding: 'utf8', timeout: 120000 });
      await delay(500);
      const { sample: trimmed } = await gateway.ask({ type: 'sample' }, 'sample');
      report.hold.rssAfterTrim = trimmed.rss;
      report.hold.bytesPerTerminalAfterTrim = (trimmed.rss - before.rss) / TERMINALS;
      console.log(`  malloc_trim(0) ${trim.status === 0 ? 'done' : `failed (${(trim.stderr || '').trim().split('\n').pop()})`}: `
        + `RSS ${mib(end.rss)} -> ${mib(trimmed.rss)}, ${report.hold.bytesPerTerminalAfterTrim.toFixed(0)} B per watched terminal above "gateway up"`);
    }
    const sinkStats = await sink.stats();
    report.hold.deliveries = sinkStats.requests;
    if (sinkStats.requests > 0) console.log(`  note: ${sinkStats.requests} deliveries reached the endpoint during the hold (expected none: statuses do not change)`);
  } finally {
    if (gateway && values.heaptrack) {
      await gateway.stop({ type: 'abandon' }, 120000);
    } else if (gateway) {
      const closeStarted = Date.now();
      const closed = gateway.wait('closed').catch(() => null);
      await gateway.stop({ type: 'close' }, 120000);
      const info = await Promise.race([closed, delay(100).then(() => null)]);
      report.closeSeconds = (Date.now() - closeStarted) / 1000;
      console.log(`gateway closed in ${report.closeSeconds.toFixed(1)} s${info && info.logs.last.length ? `; last warnings: ${JSON.stringify(info.logs.last.slice(0, 3))}` : ''}`);
    }
    if (sink) await sink.stop();
    await uas.stop();
    if (values.heaptrack) heaptrackReport(dir, report, marks);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Delivery

/** Usage log stand-in for the 'off' run: accepts records and drops them. */
const NO_USAGE = {
  record: () => Promise.resolve(),
  stats: () => ({ queued: 0, written: 0, commits: 0, rejectedFull: 0, writeErrors: 0 }),
  close: () => Promise.resolve(),
};

/** The deliveries of one run: `count` statusNotifications over the --correlators notifications. */
function makeDeliveries(count, offset, endpoint) {
  const correlators = Number(values.correlators);
  const list = new Array(count);
  for (let i = 0; i < count; i++) {
    const n = offset + i;
    list[i] = {
      kind: 'statusNotification', requester: '', correlator: `c${n % correlators}`, endpoint,
      globalId: `g${n % correlators}`, sequence: Math.floor(n / correlators),
      statuses: [{ address: `sip:user${n}@example.test`, status: n % 3 === 0 ? 'Busy' : 'Reachable' }],
    };
  }
  return list;
}

/** CPU time (µs) of each thread of this process, by thread id. */
function threadCpu() {
  const result = new Map();
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
      result.set(tid, ((Number(stat[11]) + Number(stat[12])) * 1e6) / 100);
    } catch {
      // The thread ended.
    }
  }
  return result;
}

/** Summary of the sink and CPU counters around a run. */
async function measured(sink, run) {
  const sink0 = await sink.stats();
  const threads0 = threadCpu();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const extra = await run();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const threads1 = threadCpu();
  const sink1 = await sink.stats();
  // The main (JS) thread vs the others: the usage store's writer, V8's GC helpers, libuv's pool.
  const mainTid = String(process.pid);
  let mainUs = 0;
  for (const [tid, us] of threads1) if (tid === mainTid) mainUs = us - (threads0.get(tid) || 0);
  const totalUs = cpu.user + cpu.system;
  return {
    ...extra,
    seconds,
    benchCpuPercent: (100 * totalUs) / (seconds * 1e6),
    benchMainThreadCpuPercent: (100 * mainUs) / (seconds * 1e6),
    benchOtherThreadsCpuPercent: (100 * Math.max(0, totalUs - mainUs)) / (seconds * 1e6),
    sinkCpuPercent: (100 * (sink1.cpu.user + sink1.cpu.system - sink0.cpu.user - sink0.cpu.system)) / (seconds * 1e6),
    sinkRequests: sink1.requests - sink0.requests,
    sinkStatusNotifications: sink1.statusNotifications - sink0.statusNotifications,
  };
}

function quantiles(list) {
  list.sort((a, b) => a - b);
  const q = (f) => list[Math.min(list.length - 1, Math.floor(f * list.length))];
  return { p50: q(0.5), p99: q(0.99) };
}

/**
 * Baseline: the same SOAP bodies POSTed by a bare node:http client (keep-alive Agent, the same
 * number of sockets, one request in flight per socket): the ceiling of any node:http sender here.
 */
async function rawHttpRun(sink, count) {
  const http = require('node:http');
  const { deliveryEnvelope } = require('../js/soap/builder');
  const sockets = Number(values.sockets);
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets, scheduling: 'lifo' });
  const { port } = new URL(sink.endpoint);
  const bodies = makeDeliveries(count, 0, sink.endpoint).map((d) => Buffer.from(deliveryEnvelope(d)));
  const result = await measured(sink, () => new Promise((resolve) => {
    let next = 0;
    let done = 0;
    const one = () => {
      const body = bodies[next++];
      const request = http.request({
        agent, hostname: '127.0.0.1', port, method: 'POST', path: '/sink',
        headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '""', 'content-length': body.length },
      }, (response) => {
        response.resume();
        response.on('end', () => {
          done++;
          if (done === count) resolve({ delivered: done });
          else if (next < count) one();
        });
      });
      request.end(body);
    };
    for (let i = 0; i < Math.min(sockets, count); i++) one();
  }));
  agent.destroy();
  return { mode: 'raw node:http', deliveries: count, failed: 0, retries: 0, perSecond: result.delivered / result.seconds, ...result };
}

/**
 * Baseline: a minimal HTTP/1.1 client on node:net (request head and body written as one buffer,
 * the answer parsed by Content-Length), same sockets: what Node can do without node:http.
 */
async function rawSocketRun(sink, count) {
  const net = require('node:net');
  const { deliveryEnvelope } = require('../js/soap/builder');
  const sockets = Number(values.sockets);
  const { port } = new URL(sink.endpoint);
  const requests = makeDeliveries(count, 0, sink.endpoint).map((d) => {
    const body = Buffer.from(deliveryEnvelope(d));
    const head = `POST /sink HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: text/xml; charset=utf-8\r\n`
      + `SOAPAction: ""\r\nContent-Length: ${body.length}\r\n\r\n`;
    return Buffer.concat([Buffer.from(head), body]);
  });
  const connections = [];
  const result = await measured(sink, () => new Promise((resolve, reject) => {
    let next = 0;
    let done = 0;
    for (let c = 0; c < Math.min(sockets, count); c++) {
      const socket = net.connect(Number(port), '127.0.0.1');
      connections.push(socket);
      socket.setNoDelay(true);
      let buffered = Buffer.alloc(0);
      const send = () => { if (next < count) socket.write(requests[next++]); };
      socket.on('connect', send);
      socket.on('error', reject);
      socket.on('data', (chunk) => {
        buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
        for (;;) {
          const end = buffered.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buffered.toString('latin1', 0, end);
          const length = Number((/\r\ncontent-length:\s*(\d+)/i.exec(head) || [0, 0])[1]);
          if (buffered.length < end + 4 + length) return;
          if (!head.startsWith('HTTP/1.1 200')) reject(new Error(`sink answered ${head.split('\r\n')[0]}`));
          buffered = buffered.subarray(end + 4 + length);
          done++;
          if (done === count) resolve({ delivered: done });
          else send();
        }
      });
    }
  }));
  for (const socket of connections) socket.destroy();
  return { mode: 'minimal net.Socket HTTP/1.1', deliveries: count, failed: 0, retries: 0, perSecond: result.delivered / result.seconds, ...result };
}

/** NotificationDelivery with usage records durable | batched | off. */
async function deliveryRun(mode, sink, count) {
  const native = require('../js/native');
  const { UsageLog } = require('../js/usage');
  const { NotificationDelivery } = require('../js/delivery');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'px-bench-delivery-'));
  const usage = mode === 'off' ? NO_USAGE : new UsageLog(new native.UsageDatabase({
    text: `usage:\n  database: ${path.join(dir, 'usage.db')}\n  durability: ${mode}\n`, name: 'bench-delivery.yaml',
  }));
  // Time on the wire of each delivered attempt (send -> answer read), through the module's hooks.
  const wire = [];
  class TimedDelivery extends NotificationDelivery {
    send(channel, job, origin) {
      job.sentAt = process.hrtime.bigint();
      return super.send(channel, job, origin);
    }

    finish(attempt, failure) {
      if (!attempt.done && failure === null && attempt.job && attempt.job.sentAt) {
        wire.push(Number(process.hrtime.bigint() - attempt.job.sentAt) / 1e6);
      }
      return super.finish(attempt, failure);
    }
  }
  const delivery = new TimedDelivery({
    config: { timeoutMs: 5000, maxAttempts: 5, retryBackoffMs: 500, retryBackoffMaxMs: 30000, maxSocketsPerEndpoint: Number(values.sockets) },
    usage,
    log: (level, message, extra) => { if (level === 'error') console.error(message, extra); },
  });
  try {
    // Warm-up: connections, JIT.
    delivery.enqueue(makeDeliveries(Math.min(5000, count), 0, sink.endpoint));
    await delivery.settled();
    for (let i = 0; i < 200 && usage.stats().queued > 0; i++) await delay(50); // warm-up records committed
    wire.length = 0;
    const stats0 = delivery.stats();
    const usage0 = usage.stats();
    const backlog = Number(values.backlog);
    const result = await measured(sink, async () => {
      // The engine hands deliveries over as statuses change, not all at once: keep at most
      // --backlog waiting (topped up every millisecond), so that the heap holds what a busy
      // gateway would, not the whole run.
      let offered = 0;
      await new Promise((resolve) => {
        const topUp = () => {
          const room = Math.min(count - offered, backlog - delivery.stats().queued);
          if (room > 0) {
            delivery.enqueue(makeDeliveries(room, 1e7 + offered, sink.endpoint));
            offered += room;
          }
          if (offered >= count) resolve();
          else setTimeout(topUp, 1);
        };
        topUp();
      });
      await delivery.settled();
    });
    const stats1 = delivery.stats();
    // batched: settled() means queued for the writer; wait for the commits before counting.
    for (let i = 0; i < 200 && usage.stats().queued > 0; i++) await delay(50);
    const usage1 = usage.stats();
    const delivered = stats1.delivered - stats0.delivered;
    const { p50, p99 } = quantiles(wire);
    return {
      mode: `records ${mode}`, deliveries: count, delivered, failed: stats1.failed - stats0.failed, retries: stats1.retries - stats0.retries,
      perSecond: delivered / result.seconds, wireP50Ms: p50, wireP99Ms: p99, ...result,
      recordsWritten: usage1.written - usage0.written, commits: usage1.commits - usage0.commits,
      recordErrors: stats1.recordErrors, usageRejectedFull: usage1.rejectedFull,
    };
  } finally {
    await delivery.close();
    await usage.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function printDelivery(r) {
  let line = `${r.mode}: ${r.delivered} delivered in ${r.seconds.toFixed(2)} s = ${r.perSecond.toFixed(0)}/s`;
  if (r.wireP50Ms !== undefined) line += ` (${r.failed} failed, ${r.retries} retries); on the wire p50 ${r.wireP50Ms.toFixed(2)} ms, p99 ${r.wireP99Ms.toFixed(2)} ms`;
  console.log(line);
  let cpu = `  CPU: bench ${r.benchCpuPercent.toFixed(0)} % (JS thread ${r.benchMainThreadCpuPercent.toFixed(0)} %, other threads `
    + `${r.benchOtherThreadsCpuPercent.toFixed(0)} %), endpoint ${r.sinkCpuPercent.toFixed(0)} %; endpoint saw ${r.sinkRequests} requests`;
  if (r.recordsWritten !== undefined && r.mode !== 'records off') {
    cpu += `; usage records ${r.recordsWritten} in ${r.commits} commits (${(r.recordsWritten / r.delivered).toFixed(2)} per delivery), record errors ${r.recordErrors}`;
  }
  console.log(cpu);
}

async function deliveryPart(report) {
  console.log(`\n== Delivery: ${DELIVERIES} statusNotifications, ${values.correlators} correlators, ${values.sockets} keep-alive connections`);
  const sink = await startSink();
  try {
    report.delivery = [];
    report.deliveryBaselines = [];
    // Where the time goes: a minimal client on node:net, a bare node:http client, then the module
    // without records; then with records.
    const baselineCount = Math.min(DELIVERIES, 50000);
    const warmCount = Math.min(5000, baselineCount);
    const runs = [
      async () => { await rawSocketRun(sink, warmCount); return rawSocketRun(sink, baselineCount); },
      async () => { await rawHttpRun(sink, warmCount); return rawHttpRun(sink, baselineCount); },
      () => deliveryRun('off', sink, baselineCount),
    ];
    for (const run of runs) {
      const r = await run();
      report.deliveryBaselines.push(r);
      printDelivery(r);
    }
    for (const durability of values.durability.split(',')) {
      const r = await deliveryRun(durability.trim(), sink, DELIVERIES);
      report.delivery.push(r);
      printDelivery(r);
    }
  } finally {
    await sink.stop();
  }
}

async function main() {
  const report = { machine: `${os.cpus().length} cores, ${os.cpus()[0].model}`, node: process.version, memTotalMb: Math.round(meminfoMb('MemTotal')) };
  report.idleAtStart = await idleShare();
  console.log(`machine: ${report.machine}, node ${process.version}; ${(100 * report.idleAtStart).toFixed(0)} % idle before the run`);
  if (report.idleAtStart < 0.9) console.log('WARNING: something else is using the CPU; the figures below are skewed');
  if (!values['skip-delivery']) await deliveryPart(report);
  if (!values['skip-hold']) await hold(report);

  console.log('\n| figure | measured | target |');
  console.log('|---|---|---|');
  if (report.memory) {
    const m = report.memory;
    console.log(`| gateway RSS per watched terminal (${TERMINALS}) | ${m.bytesPerTerminal.toFixed(0)} B | <= ${TARGET_BYTES_PER_TERMINAL} B ${m.bytesPerTerminal <= TARGET_BYTES_PER_TERMINAL ? 'met' : 'NOT met'} |`);
    if (report.hold.bytesPerTerminalAfterTrim !== undefined) {
      const t = report.hold.bytesPerTerminalAfterTrim;
      console.log(`| gateway RSS per watched terminal after malloc_trim | ${t.toFixed(0)} B | <= ${TARGET_BYTES_PER_TERMINAL} B ${t <= TARGET_BYTES_PER_TERMINAL ? 'met' : 'NOT met'} |`);
    }
    console.log(`| notification store per terminal | ${m.dbBytesPerTerminal.toFixed(0)} B | - |`);
    console.log(`| subscribe rate | ${report.subscribe.perSecond.toFixed(0)}/s | - |`);
    const h = report.hold;
    console.log(`| CPU per refresh (hold CPU / refreshes) | ${h.usPerRefresh === null ? '-' : `${h.usPerRefresh.toFixed(0)} µs`} | - |`);
    console.log(`| gateway CPU per subscribe (startNotification to active) | ${report.subscribe.cpuUsPerTerminal.toFixed(0)} µs | - |`);
    if (h.quietCpuPercent !== null) console.log(`| gateway CPU quiet holding | ${h.quietCpuPercent.toFixed(2)} % of a core | - |`);
    console.log(`| gateway CPU while holding | ${h.cpuPercent.toFixed(1)} % of a core | - |`);
  }
  for (const d of report.delivery || []) {
    console.log(`| statusNotification deliveries/s (${d.mode}) | ${d.perSecond.toFixed(0)}/s | >= ${TARGET_DELIVERIES_PER_SECOND}/s ${d.perSecond >= TARGET_DELIVERIES_PER_SECOND ? 'met' : 'NOT met'} |`);
  }
  console.log(JSON.stringify(report));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
