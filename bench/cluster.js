#!/usr/bin/env node
'use strict';
// The clustered service (store.backend: postgresql, docs/cluster.md), on demand (not part of CI):
//   node bench/cluster.js [--notifications 10000] [--lease-ms 5000] [--renew-ms 1000]
//     [--handover kill,term] [--in-flight N] [--expires 3600]
//     [--duration 5] [--connections 64] [--durability durable|batched]
//     [--skip-takeover] [--skip-getstatus]
// One throwaway PostgreSQL (tests/support/postgres.js), one database per scenario.
// 1. Takeover: a SIPp UAS holds subscriptions (sipp/presence-subscriptions-uas.xml). Instance A
//    (store.balance false: it never hands over) starts --notifications notifications, one
//    terminal each, through gateway.core.startNotification (notifications-gateway.js, as
//    bench/notifications.js does); B and C join once they are all active, and psql checks that
//    A owns them all. At time 0 A is SIGKILLed (`kill`) or SIGTERMed (`term`: a clean shutdown
//    hands over at once). Polled every 50 ms: notifications still A's or unowned (psql, one
//    persistent session), B's and C's core.stats() (subscriptionsActive, cluster.claimed) and
//    their CPU (/proc). Printed: when A's lease lapsed (its px_instance.expires_at), the first
//    claim, (a) every notification owned by B or C, (b) B+C's active subscriptions reach the
//    count taken over (the re-SUBSCRIBE burst done), "takeover - lease lapse" (the gateway's own
//    cost), and B+C's CPU from time 0 to (b).
// 2. getStatus/s of one vs three instances, all with store.backend postgresql (usage records
//    in PostgreSQL, --durability): `js/cli.js serve` processes against one SIPp fetch UAS
//    (tests/support/sipp/subscribe-200-notify.xml), wrk (wrk-getstatus.lua, HTTP Basic as in
//    getstatus.js) with --connections in all: one wrk on one instance, then one wrk per instance
//    with a third of the connections each, all at once. Printed: getStatus/s, p50/p99, CPU µs per
//    getStatus of the gateways and of PostgreSQL, the usage rows stored, and beside them the bare
//    node:http limit (canned answer, same wrk and connections) measured in the same run.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { parseArgs } = require('node:util');
const { startPostgres } = require('../tests/support/postgres');
const { startSippUas } = require('../tests/support/sipp');
const { serveGateway } = require('../tests/support/gatewayProcess');
const {
  cpuSeconds, statFields, statCpuSeconds, threadCpuSeconds, threadCpuPerOperation, idleShare,
} = require('./procstat');
const { GETSTATUS_BODY, runWrkAsync, startBareHttp, forkHelper } = require('./harness');
const { hashPassword } = require('../js/auth/passwordHash');
const { basicAuthorization } = require('../js/auth/basic');

const { values } = parseArgs({
  options: {
    notifications: { type: 'string', default: '10000' },
    'lease-ms': { type: 'string', default: '5000' },
    'renew-ms': { type: 'string', default: '1000' },
    handover: { type: 'string', default: 'kill,term' },
    'in-flight': { type: 'string', default: '' },
    expires: { type: 'string', default: '3600' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '64' },
    durability: { type: 'string', default: 'durable' },
    'skip-takeover': { type: 'boolean', default: false },
    'skip-getstatus': { type: 'boolean', default: false },
  },
});
const NOTIFICATIONS = Number(values.notifications);
const LEASE_MS = Number(values['lease-ms']);
const RENEW_MS = Number(values['renew-ms']);
const DURATION = Number(values.duration);
const CONNECTIONS = Number(values.connections);
const POLL_MS = 50;
const SOCKET_BUFFER = 8 * 1024 * 1024;
const BENCH_PASSWORD = 'bench-password';
const AUTHORIZATION = basicAuthorization('bench', BENCH_PASSWORD);

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/** One psql session kept open: query(sql) resolves its unaligned, tuples-only rows. */
function psqlSession(pg, url) {
  const child = spawn(path.join(pg.bin, 'psql'), ['-X', '-At', '-q', '-v', 'ON_ERROR_STOP=0', '-d', url], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let queue = Promise.resolve();
  child.stdout.on('data', (chunk) => { out += chunk; });
  child.stderr.on('data', (chunk) => { err += chunk; });
  const MARK = '@@px-bench-end';
  return {
    query(sql) {
      const run = queue.then(async () => {
        out = '';
        err = '';
        child.stdin.write(`${sql};\n\\echo ${MARK}\n`);
        while (!out.includes(`${MARK}\n`)) {
          if (child.exitCode !== null) throw new Error(`psql exited: ${err}`);
          await delay(1);
        }
        if (err) throw new Error(`psql: ${err.trim()} (${sql})`);
        return out.slice(0, out.indexOf(MARK)).trim().split('\n').filter(Boolean).map((line) => line.split('|'));
      });
      queue = run.catch(() => {});
      return run;
    },
    close: () => child.stdin.end(),
  };
}

/** A database of its own for one scenario: its URL. */
async function createDatabase(pg, name) {
  await pg.psql(`CREATE DATABASE ${name}`);
  return pg.url.replace(/\/postgres$/, `/${name}`);
}

/** CPU seconds of the PostgreSQL server: the postmaster, its live children, and the waited-for ones. */
function postgresCpuSeconds(pg) {
  const postmaster = Number(fs.readFileSync(path.join(pg.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const own = statFields(`/proc/${postmaster}/stat`);
  let seconds = statCpuSeconds(own) + (Number(own[13]) + Number(own[14])) / 100; // cutime + cstime
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const fields = statFields(`/proc/${pid}/stat`);
      if (Number(fields[1]) === postmaster) seconds += statCpuSeconds(fields);
    } catch {
      // the process ended
    }
  }
  return seconds;
}

// ---------------------------------------------------------------------------------------------
// Takeover

/** The store section of instance `name`. */
function storeYaml(url, dir, name, balance = true) {
  return `store:\n  backend: postgresql\n  url: "${url}"\n  spool: ${path.join(dir, `spool-${name}.db`)}\n`
    + `  instanceName: ${name}\n  leaseMs: ${LEASE_MS}\n  renewMs: ${RENEW_MS}\n  balance: ${balance}\n`;
}

function watcherConfig(url, dir, uasPort, name, balance) {
  return `http:\n  port: 0\n`
    + `sip:\n  bindHost: 127.0.0.1\n  port: 0\n  transports: [udp]\n  presenceServerUri: "sip:127.0.0.1:${uasPort}"\n`
    + `presence:\n  subscriptionExpiresSec: ${Number(values.expires)}\n  subscribeTimeoutMs: 10000\n`
    + (values['in-flight'] ? `  maxSubscribesInFlight: ${Number(values['in-flight'])}\n` : '')
    + `notifications:\n  database: ${path.join(dir, `notifications-${name}.db`)}\n`
    + 'policy:\n  maxTargets: 100000\nauthentication:\n  required: false\n'
    + `usage:\n  database: ${path.join(dir, `usage-${name}.db`)}\n  host: ${name}\n`
    + 'outbound:\n  allow: ["127.0.0.0/8"]\n'
    + 'calls:\n  port: 0\n'
    + storeYaml(url, dir, name, balance);
}

async function startWatcher(url, dir, uasPort, name, balance) {
  const gateway = forkHelper('notifications-gateway.js');
  const { sample } = await gateway.ask({ type: 'init', configText: watcherConfig(url, dir, uasPort, name, balance) }, 'ready');
  return { ...gateway, name, id: sample.stats.cluster.instanceId, sample: async () => (await gateway.ask({ type: 'sample' }, 'sample')).sample };
}

async function waitFor(check, what, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(100);
  }
}

/** Ownership by instance name ('-' unowned), from the database. */
async function ownership(db) {
  const rows = await db.query('SELECT coalesce(i.name, n.owner, \'-\'), count(*) FROM notification n LEFT JOIN px_instance i ON i.id = n.owner GROUP BY 1 ORDER BY 1');
  return Object.fromEntries(rows.map(([name, count]) => [name, Number(count)]));
}

const show = (owners) => Object.entries(owners).map(([name, n]) => `${name} ${n}`).join(', ');

/** One takeover: `signal` SIGKILL (the lease lapses) or SIGTERM (clean hand-over). */
async function takeover(pg, mode) {
  const signal = mode === 'kill' ? 'SIGKILL' : 'SIGTERM';
  const N = NOTIFICATIONS;
  console.log(`\n== Takeover (${signal} A): ${N} notifications, leaseMs ${LEASE_MS}, renewMs ${RENEW_MS}`);
  const url = await createDatabase(pg, `takeover_${mode}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'px-bench-cluster-'));
  // A's dialogs stay open at the UAS after it died; B's and C's are new ones: room for both.
  const uas = await startSippUas({
    scenario: path.join(__dirname, 'sipp', 'presence-subscriptions-uas.xml'),
    keys: { expires: '', basic: 'open', notify_on_refresh: '1' },
    extraArgs: ['-l', String(3 * N + 1000), '-buff_size', String(SOCKET_BUFFER), '-max_recv_loops', '10000', '-max_sched_loops', '10000'],
  });
  const db = psqlSession(pg, url);
  const instances = [];
  try {
    const a = await startWatcher(url, dir, uas.port, 'A', false);
    instances.push(a);
    const t0 = Date.now();
    const started = a.ask({ type: 'start', count: N, endpoint: 'http://127.0.0.1:9/sink', concurrency: 1000 }, 'started');
    let outcome = null;
    started.then((r) => { outcome = r; }, () => {});
    let lastStartPrint = Date.now();
    try {
      await waitFor(async () => {
        const { stats } = await a.sample();
        if (Date.now() - lastStartPrint >= 5000) {
          lastStartPrint = Date.now();
          console.log(`  +${((Date.now() - t0) / 1000).toFixed(0)} s: A ${stats.subscriptionsActive} active of ${stats.subscriptions}, ${stats.subscribeRequests} SUBSCRIBEs, `
            + `${stats.subscriptionFailures} failures; startNotification ${outcome ? 'done' : 'running'}; cluster ${JSON.stringify(stats.cluster)}`);
        }
        return outcome && stats.subscriptionsActive >= N;
      }, `A's ${N} subscriptions`, 60000 + N * 10);
    } catch (error) {
      // Evidence: A's counters, its warnings, what the database holds.
      console.log(`A's stats: ${JSON.stringify((await a.sample()).stats)}`);
      console.log(`A's startNotification outcome: ${JSON.stringify(outcome)}`);
      console.log(`A's logs: ${JSON.stringify((await a.ask({ type: 'logs' }, 'logs')).logs)}`);
      console.log(`ownership (psql): ${show(await ownership(db))}`);
      console.log(`px_instance (psql): ${JSON.stringify(await db.query('SELECT id, name, expires_at > now(), expires_at, now() FROM px_instance'))}`);
      throw error;
    }
    if (outcome.errors > 0) throw new Error(`startNotification: ${outcome.errors} errors (${outcome.firstError})`);
    const subscribed = (await a.sample()).stats;
    console.log(`A: ${N} notifications started and subscribed in ${((Date.now() - t0) / 1000).toFixed(1)} s; `
      + `${subscribed.subscribeRequests} SUBSCRIBEs, ${subscribed.subscriptionFailures} failures; cluster ${JSON.stringify(subscribed.cluster)}`);
    const aLogs = (await a.ask({ type: 'logs' }, 'logs')).logs;
    if (aLogs.warn || aLogs.error) console.log(`A's warnings ${aLogs.warn}, errors ${aLogs.error}; first: ${JSON.stringify(aLogs.last.slice(0, 5))}`);

    const b = await startWatcher(url, dir, uas.port, 'B', true);
    const c = await startWatcher(url, dir, uas.port, 'C', true);
    instances.push(b, c);
    const survivors = [b, c];
    await waitFor(async () => {
      const samples = await Promise.all(instances.map((g) => g.sample()));
      return samples.every((s) => s.stats.cluster.leaseHeld && s.stats.cluster.liveInstances === 3);
    }, 'three live instances', 10 * RENEW_MS + 10000);
    await delay(2 * RENEW_MS); // B and C balanced at least twice: A keeps what it holds (balance off)
    const before = await ownership(db);
    console.log(`ownership before (psql): ${show(before)}`);
    if (before.A !== N) throw new Error(`A owns ${before.A || 0} of ${N} notifications, not all: ${show(before)}`);

    const samples0 = await Promise.all(survivors.map((g) => g.sample()));
    // A's id now: a lost lease registers the instance again under a new id.
    const aStats = (await a.sample()).stats;
    const aId = aStats.cluster.instanceId;
    const aLeaseLosses = aStats.cluster.leaseLosses;
    if (aId !== a.id) console.log(`note: A's instance id changed since its start (${a.id} -> ${aId}): it lost its lease ${aLeaseLosses} time(s)`);
    const cpu0 = survivors.map((g) => cpuSeconds(g.pid));
    const threads0 = survivors.map((g) => threadCpuSeconds(g.pid));
    const active0 = samples0.reduce((s, x) => s + x.stats.subscriptionsActive, 0);
    const claimed0 = samples0.reduce((s, x) => s + x.stats.cluster.claimed, 0);
    const aExited = new Promise((resolve) => a.child.once('exit', () => resolve(nowMs())));
    const wall0 = Date.now();
    const start = nowMs();
    a.child.kill(signal);
    const at = (t) => t - start;
    // When A's lease lapses in the database (its last renewal + leaseMs), by the shared host clock.
    let lapseMs = null;
    if (mode === 'kill') {
      const [[expires] = []] = await db.query(`SELECT (extract(epoch FROM expires_at) * 1000)::bigint FROM px_instance WHERE id = '${aId}'`);
      if (expires !== undefined) lapseMs = Number(expires) - wall0;
    }
    const marks = { firstClaim: null, allOwned: null, allActive: null, settled: null };
    let cpuAtActive = null;
    let cpuAtFirstClaim = null;
    let threadsAtActive = null;
    let last = null;
    let lastPrint = start;
    // Settled: after (b), nothing (claims, hand-overs, active subscriptions, ownership) changed
    // for 2 renew periods + 1 s; the time of the last change. Changes are listed (churn).
    let lastChange = { at: 0, key: '' };
    const changes = [];
    const timeoutMs = LEASE_MS + 120000;
    for (;;) {
      const tick = nowMs();
      const [[[left, ownedB, ownedC]], s] = await Promise.all([
        db.query(`SELECT count(*) FILTER (WHERE owner = '${aId}' OR owner IS NULL), count(*) FILTER (WHERE owner = '${b.id}'), `
          + `count(*) FILTER (WHERE owner = '${c.id}') FROM notification`),
        Promise.all(survivors.map((g) => g.sample())),
      ]);
      const t = nowMs();
      const active = s.reduce((sum, x) => sum + x.stats.subscriptionsActive, 0) - active0;
      const claimed = s.reduce((sum, x) => sum + x.stats.cluster.claimed, 0) - claimed0;
      const handedOver = s.reduce((sum, x, i) => sum + x.stats.cluster.handedOver - samples0[i].stats.cluster.handedOver, 0);
      last = { left: Number(left), ownedB: Number(ownedB), ownedC: Number(ownedC), active, claimed, handedOver, stats: s.map((x) => x.stats) };
      const key = [left, ownedB, ownedC, ...s.flatMap((x) => [x.stats.subscriptionsActive, x.stats.cluster.claimed, x.stats.cluster.handedOver])].join(',');
      if (key !== lastChange.key) {
        lastChange = { at: at(t), key, cpu: survivors.map((g) => cpuSeconds(g.pid)) };
        if (changes.length < 60) {
          changes.push(`+${at(t).toFixed(0)} ms: left ${left}, B owns ${ownedB} (claimed ${s[0].stats.cluster.claimed - samples0[0].stats.cluster.claimed}, `
            + `handed over ${s[0].stats.cluster.handedOver - samples0[0].stats.cluster.handedOver}, active ${s[0].stats.subscriptionsActive}), `
            + `C owns ${ownedC} (claimed ${s[1].stats.cluster.claimed - samples0[1].stats.cluster.claimed}, `
            + `handed over ${s[1].stats.cluster.handedOver - samples0[1].stats.cluster.handedOver}, active ${s[1].stats.subscriptionsActive})`);
        }
      }
      if (marks.firstClaim === null && last.ownedB + last.ownedC > 0) {
        marks.firstClaim = at(t);
        cpuAtFirstClaim = survivors.map((g) => cpuSeconds(g.pid));
      }
      if (marks.allOwned === null && last.left === 0 && last.ownedB + last.ownedC === N) marks.allOwned = at(t);
      if (marks.allActive === null && marks.allOwned !== null && active >= N) {
        marks.allActive = at(t);
        cpuAtActive = survivors.map((g) => cpuSeconds(g.pid));
        threadsAtActive = survivors.map((g) => threadCpuSeconds(g.pid));
      }
      if (t - lastPrint >= 1000) {
        lastPrint = t;
        console.log(`  +${(at(t) / 1000).toFixed(1)} s: ${last.left} still A's or unowned, B ${last.ownedB}, C ${last.ownedC}; `
          + `B+C claimed ${claimed}, subscriptions active ${active}`);
      }
      if (marks.allActive !== null && at(t) - lastChange.at > 2 * RENEW_MS + 1000) {
        marks.settled = lastChange.at;
        break;
      }
      if (at(t) > timeoutMs) {
        console.log(`TAKEOVER INCOMPLETE after ${timeoutMs} ms: ${JSON.stringify(last)}`);
        console.log(`ownership (psql): ${show(await ownership(db))}`);
        console.log(`px_instance (psql): ${JSON.stringify(await db.query('SELECT id, name, expires_at > now(), expires_at FROM px_instance'))}`);
        break;
      }
      await delay(Math.max(0, POLL_MS - (nowMs() - tick)));
    }
    const exitMs = at(await Promise.race([aExited, delay(5000).then(() => NaN)]));
    const after = await ownership(db);
    const cpu = cpuAtActive ? cpuAtActive.map((v, i) => v - cpu0[i]) : [NaN, NaN];
    const cpuSum = cpu[0] + cpu[1];
    const cpuToSettled = lastChange.cpu ? lastChange.cpu.reduce((sum, v, i) => sum + v - cpu0[i], 0) : NaN;
    const busyFrom = marks.firstClaim ?? 0;
    const result = {
      mode, signal, notifications: N, leaseMs: LEASE_MS, renewMs: RENEW_MS, aLeaseLossesBefore: aLeaseLosses,
      aSubscribeRequests: subscribed.subscribeRequests,
      aExitMs: exitMs, leaseLapseMs: lapseMs, ...marks,
      takeoverMinusLapseMs: lapseMs !== null && marks.allOwned !== null ? marks.allOwned - lapseMs : null,
      activeMinusLapseMs: lapseMs !== null && marks.allActive !== null ? marks.allActive - lapseMs : null,
      claimed: last.claimed, handedOver: last.handedOver, changes, ownedB: last.ownedB, ownedC: last.ownedC,
      resubscribeRate: marks.allActive !== null ? N / ((marks.allActive - busyFrom) / 1000) : null,
      cpuSecondsB: cpu[0], cpuSecondsC: cpu[1],
      cpuUsPerNotification: (cpuSum * 1e6) / N,
      cpuSecondsToSettled: cpuToSettled,
      cpuPercentBusy: marks.allActive !== null && cpuAtFirstClaim
        ? (100 * cpuAtActive.reduce((sum, v, i) => sum + v - cpuAtFirstClaim[i], 0)) / ((marks.allActive - busyFrom) / 1000) : null,
      threadsB: threadsAtActive ? threadCpuPerOperation(threads0[0], threadsAtActive[0], N / 2) : '',
      threadsC: threadsAtActive ? threadCpuPerOperation(threads0[1], threadsAtActive[1], N / 2) : '',
      subscribeRequests: last.stats.map((x, i) => x.subscribeRequests - samples0[i].stats.subscribeRequests),
      subscriptionFailures: last.stats.map((x) => x.subscriptionFailures),
      fencedWrites: last.stats.map((x) => x.cluster.fencedWrites),
      ownershipAfter: after,
    };
    const ms = (v) => (v === null || Number.isNaN(v) ? '-' : `${v.toFixed(0)} ms`);
    console.log(`A ${mode === 'kill' ? 'killed' : 'exited'} at +${ms(exitMs)}; A's lease lapses at +${ms(lapseMs)}; first claim +${ms(marks.firstClaim)}; `
      + `all owned by B/C +${ms(marks.allOwned)}; B+C subscriptions active = ${N} at +${ms(marks.allActive)}`);
    console.log(`changes seen by the 50-ms poll (psql ownership, B's and C's stats):\n  ${changes.join('\n  ')}`);
    console.log(`settled (last change) at +${ms(marks.settled)}: B+C claimed ${last.claimed}, handed over ${last.handedOver}; `
      + `B+C CPU from time 0 to then ${cpuToSettled.toFixed(2)} s`);
    console.log(`ownership after (psql): ${show(after)}; SUBSCRIBEs sent B ${result.subscribeRequests[0]}, C ${result.subscribeRequests[1]}; `
      + `failures ${result.subscriptionFailures.join('/')}, fenced writes ${result.fencedWrites.join('/')}`);
    console.log(`CPU from time 0 to all active: B ${cpu[0].toFixed(2)} s, C ${cpu[1].toFixed(2)} s = ${result.cpuUsPerNotification.toFixed(0)} µs `
      + `per notification taken over${result.cpuPercentBusy !== null ? `, ${result.cpuPercentBusy.toFixed(0)} % of a core from the first claim` : ''}`);
    console.log(`  µs per notification by thread: B ${result.threadsB}; C ${result.threadsC}`);
    return result;
  } finally {
    db.close();
    await Promise.all(instances.map((g) => g.stop({ type: 'close' }, 30000)));
    await uas.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// getStatus/s of one vs three instances

// url null: the default store (usage records in SQLite), the reference.
async function startServer(url, dir, uasPort, name) {
  const config = path.join(dir, `${name}.yaml`);
  // As bench/getstatus.js: one load generator stands for many clients; no policy section.
  fs.writeFileSync(config, 'http:\n  port: 0\n  keepAliveTimeoutMs: 30000\n  maxConnections: 4096\n  maxConnectionsPerSource: 4096\n'
    + `sip:\n  port: 0\n  presenceServerUri: "sip:127.0.0.1:${uasPort}"\npresence:\n  fetchTimeoutMs: 1000\n`
    + `requesters:\n  bench:\n    passwordHash: "${await hashPassword(BENCH_PASSWORD)}"\n`
    + `usage:\n  database: ${path.join(dir, `usage-${name}.db`)}\n  durability: ${values.durability}\n  host: ${name}\n`
    + `outbound:\n  allow: ["127.0.0.0/8"]\nnotifications:\n  database: ${path.join(dir, `notifications-${name}.db`)}\n`
    + 'calls:\n  port: 0\n'
    + (url ? storeYaml(url, dir, name) : ''));
  // The output goes to a file: the bench reads it only when something failed.
  const log = fs.createWriteStream(path.join(dir, `${name}.log`));
  const served = await serveGateway(config, { startTimeoutMs: 30000, onOutput: (chunk) => log.write(chunk) });
  return { name, served, pid: served.proc.pid, endpoint: served.endpoint, log };
}

/** One measured step: one wrk per endpoint, `connections` split between them, all at once. */
async function measuredLoad(endpoints, pids, pg, bodyFile, seconds = DURATION) {
  const perEndpoint = Math.max(1, Math.round(CONNECTIONS / endpoints.length));
  const cpu0 = pids.map(cpuSeconds);
  const pg0 = pg ? postgresCpuSeconds(pg) : 0;
  const t0 = nowMs();
  const runs = await Promise.all(endpoints.map((e) => runWrkAsync(e, perEndpoint, bodyFile, seconds, { authorization: AUTHORIZATION })));
  const elapsed = (nowMs() - t0) / 1000;
  const cpu = pids.reduce((s, pid, i) => s + cpuSeconds(pid) - cpu0[i], 0);
  const requests = runs.reduce((s, r) => s + r.requests, 0);
  return {
    connections: perEndpoint * endpoints.length,
    rps: runs.reduce((s, r) => s + r.rps, 0),
    p50: runs.map((r) => r.p50), p99: runs.map((r) => r.p99),
    non2xx: runs.reduce((s, r) => s + r.non2xx, 0), errors: runs.map((r) => r.errors).filter(Boolean).join('; '),
    requests, elapsed,
    cpuUsPerRequest: (cpu * 1e6) / Math.max(1, requests),
    cpuPercent: (100 * cpu) / elapsed,
    postgresCpuUsPerRequest: pg ? ((postgresCpuSeconds(pg) - pg0) * 1e6) / Math.max(1, requests) : null,
  };
}

async function getStatusStep(pg, uasPort, count, bodyFile, backend = 'postgresql') {
  const url = backend === 'postgresql' ? await createDatabase(pg, `getstatus_${count}`) : null;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'px-bench-cluster-gs-'));
  const servers = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await startServer(url, dir, uasPort, `gs${count}${backend[0]}-${String.fromCharCode(97 + i)}`));
    const endpoints = servers.map((s) => s.endpoint);
    const pids = servers.map((s) => s.pid);
    await measuredLoad(endpoints, pids, null, bodyFile, 2); // warm-up
    const run = await measuredLoad(endpoints, pids, pg, bodyFile);
    await delay(500);
    const stored = url ? Number(await runPsql(pg, url, 'SELECT count(*) FROM usage_record')) : NaN;
    run.usageRows = stored;
    const label = `${count === 1 ? '1 instance' : `${count} instances`}, store ${backend}`;
    console.log(`${label}, c=${run.connections}: ${run.rps.toFixed(0)} getStatus/s, p50 ${run.p50.join('/')} ms, p99 ${run.p99.join('/')} ms, `
      + `non-2xx ${run.non2xx}${run.errors ? `, ${run.errors}` : ''}; gateways ${run.cpuUsPerRequest.toFixed(0)} µs CPU/getStatus `
      + `(${run.cpuPercent.toFixed(0)} % of a core), PostgreSQL ${run.postgresCpuUsPerRequest.toFixed(0)} µs/getStatus; `
      + (url ? `usage rows in PostgreSQL ${stored}` : '(PostgreSQL idle: usage records in SQLite)'));
    return { instances: count, backend, ...run };
  } finally {
    for (const s of servers) {
      await s.served.stop();
      s.log.end();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** psql on another database of the server (pg.psql runs on `postgres`). */
async function runPsql(pg, url, sql) {
  const db = psqlSession(pg, url);
  try {
    const rows = await db.query(sql);
    return rows.length ? rows[0][0] : '';
  } finally {
    db.close();
  }
}

async function getStatusPart(pg) {
  console.log(`\n== getStatus/s, one vs three instances (store.backend postgresql, usage ${values.durability}), `
    + `${CONNECTIONS} connections in all, ${DURATION} s per step`);
  const uas = await startSippUas({ scenario: 'subscribe-200-notify', keys: { basic: 'open', person: '' }, extraArgs: ['-buff_size', String(4 * 1024 * 1024)] });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'px-bench-cluster-body-'));
  const bodyFile = path.join(dir, 'getStatus.xml');
  fs.writeFileSync(bodyFile, GETSTATUS_BODY);
  try {
    const steps = [];
    // The reference: one instance as before the clustered mode (usage records in SQLite).
    steps.push(await getStatusStep(pg, uas.port, 1, bodyFile, 'sqlite'));
    for (const count of [1, 3]) steps.push(await getStatusStep(pg, uas.port, count, bodyFile));
    const bare = await startBareHttp();
    let bareRun;
    try {
      await measuredLoad([bare.url], [bare.pid], null, bodyFile, 2); // warm-up
      bareRun = await measuredLoad([bare.url], [bare.pid], null, bodyFile);
    } finally {
      bare.stop();
    }
    console.log(`bare node:http (canned answer), same wrk and body, c=${bareRun.connections}: ${bareRun.rps.toFixed(0)}/s, `
      + `p50 ${bareRun.p50[0]} ms, p99 ${bareRun.p99[0]} ms, ${bareRun.cpuUsPerRequest.toFixed(0)} µs CPU/request`);
    return { steps, bareHttp: bareRun };
  } finally {
    await uas.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const report = { machine: `${os.cpus().length} cores, ${os.cpus()[0].model}`, node: process.version, leaseMs: LEASE_MS, renewMs: RENEW_MS };
  report.idleAtStart = await idleShare();
  console.log(`machine: ${report.machine}, node ${process.version}; ${(100 * report.idleAtStart).toFixed(0)} % idle before the run`);
  if (report.idleAtStart < 0.9) console.log('WARNING: something else is using the CPU; the figures below are skewed');
  const pg = await startPostgres();
  try {
    if (!values['skip-takeover']) {
      report.takeover = [];
      for (const mode of values.handover.split(',').map((m) => m.trim())) {
        if (!['kill', 'term'].includes(mode)) throw new Error(`--handover takes kill and/or term, not ${mode}`);
        report.takeover.push(await takeover(pg, mode));
      }
    }
    if (!values['skip-getstatus']) report.getStatus = await getStatusPart(pg);
  } finally {
    await pg.destroy();
  }

  const ms = (v) => (v === null || v === undefined || Number.isNaN(v) ? '-' : `${v.toFixed(0)} ms`);
  console.log('');
  if (report.takeover) {
    console.log(`| takeover of ${NOTIFICATIONS} notifications (leaseMs ${LEASE_MS}, renewMs ${RENEW_MS}; time 0 = signal to A) | ${report.takeover.map((t) => t.signal).join(' | ')} |`);
    console.log(`|---|${report.takeover.map(() => '---').join('|')}|`);
    const row = (label, f) => console.log(`| ${label} | ${report.takeover.map(f).join(' | ')} |`);
    row("A's lease lapses (its last renewal + leaseMs)", (t) => ms(t.leaseLapseMs));
    row('first notification claimed by B or C', (t) => ms(t.firstClaim));
    row('(a) every notification owned by B or C', (t) => ms(t.allOwned));
    row('(b) B+C subscriptions active = taken over', (t) => ms(t.allActive));
    row('(a) - lease lapse: the gateway\'s own cost', (t) => ms(t.takeoverMinusLapseMs));
    row('(b) - lease lapse', (t) => ms(t.activeMinusLapseMs));
    row('claim to all active: re-SUBSCRIBEs/s', (t) => (t.resubscribeRate === null ? '-' : `${t.resubscribeRate.toFixed(0)}/s`));
    row('CPU B + C, time 0 to (b)', (t) => `${t.cpuSecondsB.toFixed(2)} + ${t.cpuSecondsC.toFixed(2)} s = ${t.cpuUsPerNotification.toFixed(0)} µs/notification`);
    row('B+C CPU from first claim to (b)', (t) => (t.cpuPercentBusy === null ? '-' : `${t.cpuPercentBusy.toFixed(0)} % of a core`));
    row('settled: last change of claims, hand-overs, ownership', (t) => ms(t.settled));
    row('B+C claimed / handed over (churn beyond the count)', (t) => `${t.claimed} / ${t.handedOver}`);
    row('CPU B + C, time 0 to settled', (t) => `${t.cpuSecondsToSettled.toFixed(2)} s`);
    row('split B / C (psql)', (t) => `${t.ownedB} / ${t.ownedC}`);
    row('A before time 0: lease losses, SUBSCRIBEs sent for its notifications', (t) => `${t.aLeaseLossesBefore}, ${t.aSubscribeRequests}`);
  }
  if (report.getStatus) {
    const g = report.getStatus;
    console.log(`\n| getStatus, usage ${values.durability} | getStatus/s | p50 ms | p99 ms | gateways µs CPU/getStatus | PostgreSQL µs CPU/getStatus | non-2xx |`);
    console.log('|---|---|---|---|---|---|---|');
    for (const s of g.steps) {
      console.log(`| ${s.instances} instance${s.instances > 1 ? 's' : ''}, store ${s.backend}, c=${s.connections} | ${s.rps.toFixed(0)} | ${s.p50.join(' / ')} | ${s.p99.join(' / ')} | `
        + `${s.cpuUsPerRequest.toFixed(0)} | ${s.backend === 'postgresql' ? s.postgresCpuUsPerRequest.toFixed(0) : '-'} | ${s.non2xx} |`);
    }
    const b = g.bareHttp;
    console.log(`| bare node:http, c=${b.connections} | ${b.rps.toFixed(0)} | ${b.p50[0]} | ${b.p99[0]} | ${b.cpuUsPerRequest.toFixed(0)} | - | ${b.non2xx} |`);
  }
  console.log(JSON.stringify(report));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
