'use strict';
// The clustered service (store.backend: postgresql): several gateway processes sharing one
// PostgreSQL form one Terminal Status service. Real parts only: a PostgreSQL server
// (tests/support/postgres.js), a Kamailio presence server whose presence is set by real SIP
// PUBLISH, gateway child processes (`js/cli.js serve`, SIGKILL-able) and a real HTTP application
// endpoint.
//
// Ownership is read where it is decided, in PostgreSQL (psql): notification.owner is the
// px_instance.id holding the notification's SIP subscriptions. What each instance holds in
// memory and its own view of the cluster are read from its admin /metrics
// (parlayx_notifications_active, parlayx_sip_*, parlayx_cluster_*).
//
// Kamailio (scripts/kamailio/presence.cfg.template) keeps watchers in shared memory (-m 64, no
// subscription limit): 1,000 notifications on 250 terminals are at most about 1,000 watchers at
// once (A's 250 left behind by the SIGKILL, B's, C's and D's), far below what 64 MB holds.
//
// The tests of this file run in order and share the cluster:
//   A, B, C start (A with store.balance false: it never hands over, so it can be made to hold
//   every notification while B and C are live) -> cross-instance end and duplicate correlator ->
//   A holds 1,000 -> A SIGKILLed: B and C take over (timed against the lease), a PUBLISH made
//   while A was dying is reported exactly once -> D joins and gets a share -> PostgreSQL
//   restarted -> C leaves with
//   SIGTERM and hands over at once -> the usage records of every instance through one export.
//   (Before C leaves, PostgreSQL is restarted for longer than a lease: every instance drops its
//   subscriptions, registers again and the notifications are claimed and watched again.)
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { promisify } = require('node:util');
const { startKamailio } = require('../../scripts/kamailio/kamailio');
const sip = require('../support/sip');
const { gatewayYaml, postSoap, envelope, tempDir } = require('../support/gateway');
const { NM_NS } = require('../support/hostileGateway');
const { serveGateway } = require('../support/gatewayProcess');
const { startAppEndpoint } = require('../support/appEndpoint');
const { startPostgres } = require('../support/postgres');

const execFileAsync = promisify(execFile);
const REPO = path.join(__dirname, '..', '..');

// The lease: short, so that a takeover is quick. Others claim once the database's now() passed
// the dead instance's expires_at, at their next renewal (every RENEW_MS) at the latest.
const LEASE_MS = 3000;
const RENEW_MS = 1000;
// The dead instance renewed at most RENEW_MS before it died, so its lease lapses between
// LEASE_MS - RENEW_MS and LEASE_MS after the kill; the survivors see it at their next renewal
// (<= RENEW_MS later); one more RENEW_MS and a second of slack for claiming 1,000 rows, the
// poll interval and a loaded 2-core machine.
const TAKEOVER_BOUND_MS = LEASE_MS + 2 * RENEW_MS + 1000;
// A clean hand-over (SIGTERM): the leaving instance unowns its notifications, deletes its lease
// row and notifies "released" before it exits, and the others claim at once: measured from its
// exit, within one renew period. A lapsing lease would take LEASE_MS - RENEW_MS at least.
const HANDOVER_BOUND_MS = RENEW_MS;
const NOTIFICATIONS = 1000;
const TERMINALS = 250; // notification i watches terminal i % TERMINALS: 4 notifications each
const POLL_MS = 100;

jest.setTimeout(60000);

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let pg;
let kamailio;
let presence;
let app;
let logDir;
const gateways = new Map(); // name -> { name, configFile, served, stateDir }
const terminals = [];

/**
 * Polls `check` until it returns a truthy value; fails with `what` after timeoutMs, and with the
 * state of the cluster (diagnose()) when `what` is a function (called for the message).
 */
async function waitUntil(check, what, timeoutMs = 10000, interval = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) {
      const text = typeof what === 'function' ? `${what.name || 'it'}\n${await diagnose()}` : what;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${text}`);
    }
    await delay(interval);
  }
}

/** Runs `fn` over `items` with at most `width` at once; resolves the results in order. */
async function pool(items, width, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return results;
}

// --- gateways ---------------------------------------------------------------------------------

/** Writes the configuration of instance `name` (usage.host and store.instanceName = gw-<name>). */
function writeConfig(name, { balance = true } = {}) {
  const stateDir = tempDir(`px-cluster-${name}-`);
  const configFile = path.join(stateDir, 'gateway.yaml');
  fs.writeFileSync(configFile, gatewayYaml({
    presencePort: presence.port,
    stateDir,
    // HOST of this instance's usage records.
    usageYaml: `  host: gw-${name}\n`,
    notificationsYaml: `  minFrequencyMs: 0
  delivery:
    timeoutMs: 2000
    retryBackoffMs: 100
    retryBackoffMaxMs: 400`,
    httpYaml: '  maxBodyBytes: 8192\n  maxConnectionsPerSource: 512\n',
    extraYaml: `store:
  backend: postgresql
  url: "${pg.url}"
  spool: ${path.join(stateDir, 'usage-spool.db')}
  reconnectBackoffMs: 50
  reconnectBackoffMaxMs: 400
  instanceName: gw-${name}
  leaseMs: ${LEASE_MS}
  renewMs: ${RENEW_MS}
  balance: ${balance}
admin:
  enabled: true
  port: 0
`,
  }));
  return { configFile, stateDir };
}

/** Starts instance `name` as a child process; its whole output goes to <logDir>/gw-<name>.log. */
async function startInstance(name, options) {
  const { configFile, stateDir } = writeConfig(name, options);
  const log = fs.createWriteStream(path.join(logDir, `gw-${name}.log`), { flags: 'a' });
  const served = await serveGateway(configFile, { startTimeoutMs: 20000, onOutput: (chunk) => log.write(chunk) });
  const instance = { name, configFile, stateDir, served, log };
  gateways.set(name, instance);
  expect(served.admin).toMatch(/^http:/);
  // Registered: its lease row is in the database (registered at start-up, before listening).
  await waitUntil(async () => Number(await pg.psql(`SELECT count(*) FROM px_instance WHERE name = 'gw-${name}' AND expires_at > now()`)) === 1,
    `gw-${name}'s lease row`);
  return instance;
}

/** A Prometheus sample of the instance's /metrics (0 when absent). */
async function metric(name, series) {
  const response = await fetch(`${gateways.get(name).served.admin}/metrics`);
  expect(response.status).toBe(200);
  const text = await response.text();
  const match = new RegExp(`^${series} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

/** The instance's view of the cluster (stats().cluster, as its /metrics exports it). */
async function clusterStats(name) {
  return {
    leaseHeld: await metric(name, 'parlayx_cluster_lease_held'),
    live: await metric(name, 'parlayx_cluster_live_instances'),
    owned: await metric(name, 'parlayx_cluster_owned_notifications'),
    claimed: await metric(name, 'parlayx_cluster_claimed_total'),
    handedOver: await metric(name, 'parlayx_cluster_handed_over_total'),
    leaseLosses: await metric(name, 'parlayx_cluster_lease_losses_total'),
  };
}

// --- SOAP -------------------------------------------------------------------------------------

function startBody(correlator, address, { checkImmediate = true } = {}) {
  return envelope(`<loc:startNotification>
  <loc:reference><endpoint>${app.url}</endpoint><interfaceName>TerminalStatusNotification</interfaceName><correlator>${correlator}</correlator></loc:reference>
  <loc:addresses>${address}</loc:addresses>
  <loc:checkImmediate>${checkImmediate}</loc:checkImmediate>
  <loc:frequency><metric>Millisecond</metric><units>0</units></loc:frequency>
</loc:startNotification>`, { localNs: NM_NS });
}

function startOn(name, correlator, address, options) {
  return postSoap(gateways.get(name).served.managerEndpoint, startBody(correlator, address, options));
}

function endOn(name, correlator) {
  return postSoap(gateways.get(name).served.managerEndpoint,
    envelope(`<loc:endNotification><loc:correlator>${correlator}</loc:correlator></loc:endNotification>`, { localNs: NM_NS }));
}

function messageId(reply) {
  const m = /<messageId>(\w+)<\/messageId>/.exec(reply.text);
  return m ? m[1] : null;
}

// --- PostgreSQL -------------------------------------------------------------------------------

/**
 * Who owns the held notifications (held-0 ... held-999) now: { byName: { 'gw-b': n, ... }, orphans, onLive, total } where
 * orphans are unowned or owned by an instance whose lease lapsed, onLive owned by a live one.
 */
async function ownership() {
  const out = await pg.psql(`SELECT coalesce(i.name, '-'), (i.expires_at > now())::text, count(*)
    FROM notification n LEFT JOIN px_instance i ON i.id = n.owner WHERE n.correlator LIKE 'held-%' GROUP BY 1, 2`);
  const result = { byName: {}, orphans: 0, onLive: 0, total: 0 };
  for (const line of out.split('\n').filter(Boolean)) {
    const [name, live, count] = line.split('|');
    const n = Number(count);
    result.total += n;
    if (live === 'true') {
      result.onLive += n;
      result.byName[name] = (result.byName[name] || 0) + n;
    } else {
      result.orphans += n;
    }
    // Rows of a lapsed instance are counted under its name too: "still A's".
    if (live !== 'true' && name !== '-') result.byName[`${name} (lapsed)`] = (result.byName[`${name} (lapsed)`] || 0) + n;
  }
  return result;
}

/** The instances' rows, who owns what, and each running instance's parlayx_cluster_* metrics. */
async function diagnose() {
  const lines = [`px_instance: ${await pg.psql("SELECT name || ' ' || id || ' expires ' || (expires_at - now())::text FROM px_instance ORDER BY name")}`,
    `ownership: ${JSON.stringify(await ownership())}`];
  for (const [name, { served }] of gateways) {
    if (served.proc.hasExited()) continue;
    const text = await (await fetch(`${served.admin}/metrics`)).text();
    lines.push(`gw-${name}: ${text.split('\n').filter((l) => /^parlayx_(cluster|notifications_active|sip_subscriptions )/.test(l)).join(', ')}`);
  }
  return lines.join('\n');
}

const owned = (o, name) => (o.byName[name] || 0) + (o.byName[`${name} (lapsed)`] || 0);

// --- the application's view -------------------------------------------------------------------

/** The statuses statusNotification reported to the application for `correlator`, in order. */
function reported(correlator) {
  return app.of(correlator).filter((r) => r.kind === 'statusNotification').map((r) => r.statuses.map((s) => s.status).join(','));
}

/** Correlators of the held notifications watching terminal t. */
function watchersOf(t) {
  const out = [];
  for (let i = t; i < NOTIFICATIONS; i += TERMINALS) out.push(`held-${i}`);
  return out;
}

beforeAll(async () => {
  logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'px-cluster-logs-'));
  // Neither can be missing: a test that cannot start them fails (no skip).
  pg = await startPostgres();
  kamailio = await startKamailio({ workDir: tempDir('px-cluster-kam-'), log: (chunk) => fs.appendFileSync(path.join(logDir, 'kamailio.log'), chunk) });
  presence = { host: '127.0.0.1', port: kamailio.sipPort };
  app = await startAppEndpoint();
  for (let t = 0; t < TERMINALS; t++) terminals.push(sip.presentity(presence, `sip:cl-${t}@example.test`));
  await pool(terminals, 25, (terminal) => terminal.set('Reachable'));
}, 60000);

afterAll(async () => {
  for (const { served, log } of gateways.values()) {
    await served.proc.stop({ signal: 'SIGKILL' });
    log.end();
  }
  if (app) await app.close();
  if (kamailio) {
    const { workDir } = kamailio;
    await kamailio.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  if (pg) {
    // For a failure's diagnosis: who delivered what, and the last state of the tables.
    try {
      fs.writeFileSync(path.join(logDir, 'deliveries.txt'), await pg.psql("SELECT host, recordtime, servicedata FROM usage_record "
        + "WHERE eventtype = 'statusNotification_DeliveryAttempted' ORDER BY recordtime"));
      fs.writeFileSync(path.join(logDir, 'px_instance.txt'), await pg.psql('SELECT * FROM px_instance'));
    } catch (error) {
      console.log(`cluster.test.js: no dump of PostgreSQL: ${error.message}`);
    }
    await pg.destroy();
  }
  for (const { stateDir } of gateways.values()) fs.rmSync(stateDir, { recursive: true, force: true });
  console.log(`cluster.test.js: gateway and Kamailio logs in ${logDir}`);
}, 60000);

describe('a clustered service of gateway processes on one PostgreSQL', () => {
  test('A, B and C register; a notification started on A is ended on B (A unsubscribes), a correlator A holds is SVC0005 on B and C', async () => {
    // A never hands over (balance false), so that it can hold every notification below.
    await startInstance('a', { balance: false });
    await startInstance('b');
    await startInstance('c');
    expect((await pg.psql("SELECT string_agg(name, ',' ORDER BY name) FROM px_instance WHERE expires_at > now()"))).toBe('gw-a,gw-b,gw-c');
    // Each start has a fresh id: the fencing token of what it owns.
    expect(Number(await pg.psql('SELECT count(DISTINCT id) FROM px_instance'))).toBe(3);

    const endTerminal = sip.presentity(presence, 'sip:cl-end@example.test');
    await endTerminal.set('Reachable');
    const subscriptionsBefore = await metric('a', 'parlayx_sip_subscriptions');
    const subscribesBefore = await metric('a', 'parlayx_sip_subscribe_requests_total');
    expect((await startOn('a', 'end-1', endTerminal.uri)).status).toBe(200);
    // checkImmediate: the current status proves A's subscription is established.
    expect((await app.waitFor('end-1', 1))[0].statuses).toEqual([{ address: endTerminal.uri, status: 'Reachable' }]);
    expect(await pg.psql("SELECT i.name FROM notification n JOIN px_instance i ON i.id = n.owner WHERE n.correlator = 'end-1'")).toBe('gw-a');
    expect(await metric('a', 'parlayx_sip_subscriptions')).toBe(subscriptionsBefore + 1);
    expect(await metric('b', 'parlayx_notifications_active')).toBe(0);
    // Control: while A watches, a change is reported.
    expect(reported('end-1')).toEqual(['Reachable']);
    await endTerminal.set('Busy');
    await app.waitFor('end-1', 2);
    expect(reported('end-1')).toEqual(['Reachable', 'Busy']);

    // Ended through B, which does not own it.
    const ended = await endOn('b', 'end-1');
    expect({ status: ended.status, ok: ended.text.includes('endNotificationResponse') }).toEqual({ status: 200, ok: true });
    expect(await pg.psql("SELECT count(*) FROM notification WHERE correlator = 'end-1'")).toBe('0');
    // A was told (LISTEN/NOTIFY) and ends its SIP subscription: SUBSCRIBE Expires: 0.
    await waitUntil(async () => (await metric('a', 'parlayx_sip_subscriptions')) === subscriptionsBefore, 'A to drop the subscription of end-1');
    expect(await metric('a', 'parlayx_notifications_active')).toBe(0);
    expect(await metric('a', 'parlayx_sip_subscribe_requests_total')).toBe(subscribesBefore + 2); // the SUBSCRIBE and its Expires: 0
    await endTerminal.set('Unreachable');
    await delay(800);
    expect(reported('end-1')).toEqual(['Reachable', 'Busy']); // nothing after the end
    expect(app.of('end-1').map((r) => r.kind)).toEqual(['statusNotification', 'statusNotification']); // no statusEnd for endNotification
    // Gone everywhere: a second end, on C, does not know it.
    expect(messageId(await endOn('c', 'end-1'))).toBe('SVC0002');

    // Duplicate correlators: held by A, refused on B and C (checkImmediate, so that a refused
    // start that still reported its first status would show; three of them, each refused twice,
    // since whether B's first NOTIFY comes before or after the database's verdict varies).
    const dups = [1, 2, 3].map((k) => ({ correlator: `dup-${k}`, terminal: sip.presentity(presence, `sip:cl-dup-${k}@example.test`) }));
    for (const { correlator, terminal } of dups) {
      await terminal.set('Reachable');
      expect((await startOn('a', correlator, terminal.uri)).status).toBe(200);
    }
    try {
      for (const { correlator } of dups) await app.waitFor(correlator, 1);
      for (const { correlator, terminal } of dups) {
        const replies = await Promise.all(['b', 'c'].map((other) => startOn(other, correlator, terminal.uri)));
        for (const reply of replies) {
          expect({ correlator, status: reply.status, messageId: messageId(reply) }).toEqual({ correlator, status: 500, messageId: 'SVC0005' });
        }
      }
      expect(await pg.psql("SELECT string_agg(DISTINCT i.name, ',') FROM notification n JOIN px_instance i ON i.id = n.owner WHERE n.correlator LIKE 'dup-%'")).toBe('gw-a');
      await waitUntil(async () => (await metric('b', 'parlayx_notifications_active')) === 0
        && (await metric('c', 'parlayx_notifications_active')) === 0, 'B and C to forget their refused starts');
      // Only A watches them: a change is reported once, not once per instance, and the refused
      // starts reported nothing.
      for (const { terminal } of dups) await terminal.set('Busy');
      for (const { correlator } of dups) await app.waitFor(correlator, 2);
      await delay(600);
      for (const { correlator } of dups) expect([correlator, reported(correlator)]).toEqual([correlator, ['Reachable', 'Busy']]);
    } finally {
      // Ended whatever failed above: the tests below count every notification.
      for (const { correlator } of dups) expect((await endOn('a', correlator)).status).toBe(200);
    }
    expect(await pg.psql('SELECT count(*) FROM notification')).toBe('0');
  });

  test(`A holds ${NOTIFICATIONS} notifications while B and C are live`, async () => {
    const startedAt = Date.now();
    const replies = await pool(Array.from({ length: NOTIFICATIONS }, (_, i) => i), 16,
      (i) => startOn('a', `held-${i}`, terminals[i % TERMINALS].uri).then((r) => r.status));
    expect(replies.filter((s) => s !== 200)).toEqual([]);
    console.log(`cluster.test.js: ${NOTIFICATIONS} notifications started on A in ${Date.now() - startedAt} ms`);
    // checkImmediate: every notification reports Reachable once, from A's subscriptions.
    await waitUntil(() => app.received.filter((r) => r.correlator && r.correlator.startsWith('held-')).length >= NOTIFICATIONS,
      `${NOTIFICATIONS} immediate statusNotifications`, 30000);
    for (let i = 0; i < NOTIFICATIONS; i++) expect([`held-${i}`, reported(`held-${i}`)]).toEqual([`held-${i}`, ['Reachable']]);

    // Every row is A's, and stays so over renewals (B and C are below their share but find no
    // orphan; A does not balance).
    for (let round = 0; round < 2; round++) {
      const o = await ownership();
      expect(o).toEqual({ byName: { 'gw-a': NOTIFICATIONS }, orphans: 0, onLive: NOTIFICATIONS, total: NOTIFICATIONS });
      await delay(RENEW_MS + 200);
    }
    expect(await metric('a', 'parlayx_notifications_active')).toBe(NOTIFICATIONS);
    // One shared subscription per terminal (end-1's and the dup-* ones are gone).
    await waitUntil(async () => (await metric('a', 'parlayx_sip_subscriptions')) === TERMINALS, `A to hold ${TERMINALS} subscriptions`);
    expect(await metric('b', 'parlayx_notifications_active')).toBe(0);
    expect(await metric('c', 'parlayx_notifications_active')).toBe(0);
    // The baselines are stored (lastSeen) and nothing waits in the outbox: after a takeover,
    // any report comes from a change, not from a redelivery.
    await waitUntil(async () => Number(await pg.psql('SELECT count(*) FROM pending_delivery')) === 0, 'the outbox to empty', 15000);
  }, 90000);

  let killedAt;
  let publishedAt;

  test('A SIGKILLed: B and C own every notification within the lease bound, about half each, and watch them', async () => {
    const dying = Array.from({ length: 10 }, (_, t) => t); // terminals changed while A is dying
    killedAt = Date.now();
    const exit = await gateways.get('a').served.kill();
    expect(exit.signal).toBe('SIGKILL');
    // While A's lease still runs: nobody may take its notifications yet.
    await pool(dying, 10, (t) => terminals[t].set('Busy'));
    publishedAt = Date.now();

    let firstMovedAt = null;
    let doneAt = null;
    const deadline = killedAt + TAKEOVER_BOUND_MS + 5000;
    let last;
    while (Date.now() < deadline) {
      last = await ownership();
      const now = Date.now();
      if (firstMovedAt === null && owned(last, 'gw-a') < NOTIFICATIONS) firstMovedAt = now;
      if (owned(last, 'gw-a') === 0 && last.onLive === NOTIFICATIONS && last.total === NOTIFICATIONS) {
        doneAt = now;
        break;
      }
      await delay(POLL_MS);
    }
    const takeoverMs = doneAt === null ? null : doneAt - killedAt;
    if (doneAt === null) console.log(`cluster.test.js: no takeover:\n${await diagnose()}`);
    console.log(`cluster.test.js: takeover after SIGKILL: first notification moved after ${firstMovedAt - killedAt} ms, `
      + `all ${NOTIFICATIONS} owned by live instances after ${takeoverMs} ms (bound ${TAKEOVER_BOUND_MS} ms); `
      + `split ${JSON.stringify(last.byName)}`);
    expect(last).toMatchObject({ total: NOTIFICATIONS, onLive: NOTIFICATIONS, orphans: 0 });
    expect(takeoverMs).not.toBeNull();
    expect(takeoverMs).toBeLessThanOrEqual(TAKEOVER_BOUND_MS);
    // Not before A's lease could have lapsed (fencing): it renewed at most RENEW_MS before dying.
    expect(firstMovedAt - killedAt).toBeGreaterThanOrEqual(LEASE_MS - RENEW_MS - 250);
    // The PUBLISHes were made while A was dying, before any takeover.
    expect(publishedAt).toBeLessThan(firstMovedAt);

    // Balanced: each survivor owns at least 30 %.
    expect(Object.keys(last.byName).sort()).toEqual(['gw-b', 'gw-c']);
    expect(last.byName['gw-b']).toBeGreaterThanOrEqual(0.3 * NOTIFICATIONS);
    expect(last.byName['gw-c']).toBeGreaterThanOrEqual(0.3 * NOTIFICATIONS);

    // What the database says is what the instances hold: each restored its share and watches it.
    await waitUntil(async () => (await metric('b', 'parlayx_notifications_active')) === last.byName['gw-b']
      && (await metric('c', 'parlayx_notifications_active')) === last.byName['gw-c'], 'B and C to restore what they own', 10000);
    expect(await metric('b', 'parlayx_sip_subscriptions')).toBeGreaterThan(0);
    expect(await metric('c', 'parlayx_sip_subscriptions')).toBeGreaterThan(0);
    // Each claimed its share once: nothing was claimed back and forth (churn).
    const b = await clusterStats('b');
    const c = await clusterStats('c');
    expect([b, c]).toEqual([
      { leaseHeld: 1, live: 2, owned: last.byName['gw-b'], claimed: last.byName['gw-b'], handedOver: 0, leaseLosses: 0 },
      { leaseHeld: 1, live: 2, owned: last.byName['gw-c'], claimed: last.byName['gw-c'], handedOver: 0, leaseLosses: 0 },
    ]);
  });

  test('a status published while A was dying is reported exactly once per notification; so is a change after the takeover', async () => {
    const dying = Array.from({ length: 10 }, (_, t) => t);
    const dyingWatchers = dying.flatMap(watchersOf);
    for (const c of dyingWatchers) await app.waitFor(c, 2, 15000);
    // A fresh change after the takeover.
    const fresh = Array.from({ length: 10 }, (_, t) => 10 + t);
    await pool(fresh, 10, (t) => terminals[t].set('Unreachable'));
    const freshWatchers = fresh.flatMap(watchersOf);
    for (const c of freshWatchers) await app.waitFor(c, 2, 10000);
    // Longer than a renew period: a late duplicate would have arrived.
    await delay(RENEW_MS + 1000);
    for (const c of dyingWatchers) expect([c, reported(c)]).toEqual([c, ['Reachable', 'Busy']]);
    for (const c of freshWatchers) expect([c, reported(c)]).toEqual([c, ['Reachable', 'Unreachable']]);
    // Everything else reported its first status only.
    for (let i = 0; i < NOTIFICATIONS; i++) {
      if (i % TERMINALS < 20) continue;
      expect([`held-${i}`, reported(`held-${i}`)]).toEqual([`held-${i}`, ['Reachable']]);
    }
    expect(app.received.filter((r) => r.kind !== 'statusNotification')).toEqual([]);
  });

  test('a fourth instance D gets a share (balancing hand-over), then ownership stays put', async () => {
    const joinedAt = Date.now();
    const before = { b: await clusterStats('b'), c: await clusterStats('c') };
    await startInstance('d');
    const o = await waitUntil(async () => {
      const now = await ownership();
      return owned(now, 'gw-d') >= 0.25 * NOTIFICATIONS && now.onLive === NOTIFICATIONS ? now : null;
    }, function dToOwnAtLeast25Percent() {}, 15000, POLL_MS);
    console.log(`cluster.test.js: D owns ${owned(o, 'gw-d')} after ${Date.now() - joinedAt} ms: ${JSON.stringify(o.byName)}`);
    // Settled: no churn over two renew periods.
    await delay(2 * RENEW_MS);
    const settled = await ownership();
    await delay(2 * RENEW_MS + 500);
    const later = await ownership();
    console.log(`cluster.test.js: after D joined: ${JSON.stringify(settled.byName)}, then ${JSON.stringify(later.byName)}`);
    expect(later).toEqual(settled);
    expect(later).toMatchObject({ total: NOTIFICATIONS, onLive: NOTIFICATIONS, orphans: 0 });
    for (const name of ['gw-b', 'gw-c', 'gw-d']) {
      expect([name, later.byName[name] >= 0.25 * NOTIFICATIONS]).toEqual([name, true]);
    }
    await waitUntil(async () => (await metric('b', 'parlayx_notifications_active')) === later.byName['gw-b']
      && (await metric('c', 'parlayx_notifications_active')) === later.byName['gw-c']
      && (await metric('d', 'parlayx_notifications_active')) === later.byName['gw-d'], 'B, C and D to hold what they own');
    // One hand-over: what B and C released is what D claimed, and none of it went back.
    const after = { b: await clusterStats('b'), c: await clusterStats('c'), d: await clusterStats('d') };
    const released = (after.b.handedOver - before.b.handedOver) + (after.c.handedOver - before.c.handedOver);
    expect({
      released,
      claimedByD: after.d.claimed,
      claimedBackByBC: (after.b.claimed - before.b.claimed) + (after.c.claimed - before.c.claimed),
      ownedByD: after.d.owned,
    }).toEqual({ released: later.byName['gw-d'], claimedByD: later.byName['gw-d'], claimedBackByBC: 0, ownedByD: later.byName['gw-d'] });

    // Moved notifications keep working, once each.
    const changed = Array.from({ length: 10 }, (_, t) => 20 + t);
    await pool(changed, 10, (t) => terminals[t].set('Busy'));
    for (const c of changed.flatMap(watchersOf)) await app.waitFor(c, 2, 10000);
    await delay(800);
    for (const c of changed.flatMap(watchersOf)) expect([c, reported(c)]).toEqual([c, ['Reachable', 'Busy']]);
  });

  test('PostgreSQL restarted under the cluster: afterwards every notification is owned and watched again, changes reported once', async () => {
    const statsBefore = { b: await clusterStats('b'), c: await clusterStats('c'), d: await clusterStats('d') };
    await pg.stop();
    const downAt = Date.now();
    // Longer than the lease: every instance must see its lease lost and drop its subscriptions
    // (it cannot know whether others took over), then register again and claim when it is back.
    await delay(LEASE_MS + RENEW_MS);
    await waitUntil(async () => (await metric('b', 'parlayx_cluster_lease_held')) === 0
      && (await metric('c', 'parlayx_cluster_lease_held')) === 0
      && (await metric('d', 'parlayx_cluster_lease_held')) === 0, 'every instance to see its lease lost');
    for (const name of ['b', 'c', 'd']) expect([name, await metric(name, 'parlayx_notifications_active')]).toEqual([name, 0]);
    await pg.start();
    const upAt = Date.now();
    const o = await waitUntil(async () => {
      const now = await ownership();
      return now.onLive === NOTIFICATIONS ? now : null;
    }, function everyNotificationOwnedAgain() {}, LEASE_MS + 2 * RENEW_MS + 5000, POLL_MS);
    console.log(`cluster.test.js: PostgreSQL down ${upAt - downAt} ms; every notification owned again ${Date.now() - upAt} ms after it was back: ${JSON.stringify(o.byName)}`);
    for (const name of ['b', 'c', 'd']) {
      const after = await clusterStats(name);
      expect([name, after.leaseLosses - statsBefore[name].leaseLosses]).toEqual([name, 1]);
    }
    // Balanced again (the first instance back may claim more than its share; balancing hands
    // the excess over), settled, and watched: each instance holds what it owns. Settled is the
    // balancer's own rule (native/cluster/Lease.cc balance): nobody above the fair share plus a
    // tenth of it, else it still hands over.
    const fair = Math.ceil(NOTIFICATIONS / 3);
    const mostKept = fair + Math.max(1, Math.floor(fair / 10));
    await waitUntil(async () => {
      const now = await ownership();
      return now.onLive === NOTIFICATIONS
        && ['gw-b', 'gw-c', 'gw-d'].every((name) => (now.byName[name] || 0) >= 0.25 * NOTIFICATIONS
          && (now.byName[name] || 0) <= mostKept)
        && (await metric('b', 'parlayx_notifications_active')) === (now.byName['gw-b'] || 0)
        && (await metric('c', 'parlayx_notifications_active')) === (now.byName['gw-c'] || 0)
        && (await metric('d', 'parlayx_notifications_active')) === (now.byName['gw-d'] || 0);
    }, function balancedAndHeldAfterTheRestart() {}, 15000, POLL_MS);
    const settled = await ownership();
    await delay(2 * RENEW_MS);
    expect(await ownership()).toEqual(settled);
    const changed = Array.from({ length: 10 }, (_, t) => 40 + t);
    await pool(changed, 10, (t) => terminals[t].set('Busy'));
    for (const c of changed.flatMap(watchersOf)) await app.waitFor(c, 2, 10000);
    await delay(800);
    for (const c of changed.flatMap(watchersOf)) expect([c, reported(c)]).toEqual([c, ['Reachable', 'Busy']]);
  });

  test('C stopped with SIGTERM hands its notifications over within about a renew period, not a lease', async () => {
    const before = await ownership();
    expect(before.byName['gw-c']).toBeGreaterThan(0);
    const statsBefore = { b: await clusterStats('b'), d: await clusterStats('d') };
    const stoppedAt = Date.now();
    const exit = await gateways.get('c').served.stop();
    const exitedAt = Date.now();
    expect(exit.code).toBe(0);
    const after = await waitUntil(async () => {
      const o = await ownership();
      return owned(o, 'gw-c') === 0 && o.onLive === NOTIFICATIONS ? o : null;
    }, function cNotificationsOwnedByBAndD() {}, LEASE_MS + 2 * RENEW_MS + 2000, POLL_MS);
    const handoverMs = Date.now() - exitedAt;
    console.log(`cluster.test.js: clean hand-over: C exited ${exitedAt - stoppedAt} ms after SIGTERM; `
      + `its ${before.byName['gw-c']} notifications were owned by B and D ${handoverMs} ms later `
      + `(bound ${HANDOVER_BOUND_MS} ms; lease ${LEASE_MS} ms); split ${JSON.stringify(after.byName)}`);
    expect(handoverMs).toBeLessThanOrEqual(HANDOVER_BOUND_MS);
    // C left: no lease of it is left to lapse (a row of an id it had before the PostgreSQL
    // restart may remain, lapsed, until forgetLapsed() tidies it).
    expect(await pg.psql("SELECT count(*) FROM px_instance WHERE name = 'gw-c' AND expires_at > now()")).toBe('0');
    expect(after.byName['gw-b']).toBeGreaterThanOrEqual(0.3 * NOTIFICATIONS);
    expect(after.byName['gw-d']).toBeGreaterThanOrEqual(0.3 * NOTIFICATIONS);
    // B and D claimed exactly what C left, once.
    const statsAfter = { b: await clusterStats('b'), d: await clusterStats('d') };
    expect({
      claimed: (statsAfter.b.claimed - statsBefore.b.claimed) + (statsAfter.d.claimed - statsBefore.d.claimed),
      handedOver: (statsAfter.b.handedOver - statsBefore.b.handedOver) + (statsAfter.d.handedOver - statsBefore.d.handedOver),
      live: [statsAfter.b.live, statsAfter.d.live],
    }).toEqual({ claimed: before.byName['gw-c'], handedOver: 0, live: [2, 2] });

    // Still reported exactly once, by whoever owns them now.
    const changed = Array.from({ length: 10 }, (_, t) => 30 + t);
    await pool(changed, 10, (t) => terminals[t].set('Busy'));
    for (const c of changed.flatMap(watchersOf)) await app.waitFor(c, 2, 10000);
    await delay(800);
    for (const c of changed.flatMap(watchersOf)) expect([c, reported(c)]).toEqual([c, ['Reachable', 'Busy']]);
    // No notification was ever reported twice (a duplicate shows as a repeated status).
    const twice = [];
    for (let i = 0; i < NOTIFICATIONS; i++) {
      const statuses = reported(`held-${i}`);
      if (statuses.some((s, k) => k > 0 && s === statuses[k - 1])) twice.push([`held-${i}`, statuses]);
    }
    expect(twice).toEqual([]);
  });

  test('the usage records of every instance are in PostgreSQL, and one export of any instance returns them all', async () => {
    for (const name of ['b', 'd']) expect((await gateways.get(name).served.stop()).code).toBe(0);
    const byHost = {};
    for (const line of (await pg.psql('SELECT host, count(*) FROM usage_record WHERE segment = 0 GROUP BY host')).split('\n').filter(Boolean)) {
      const [host, n] = line.split('|');
      byHost[host] = Number(n);
    }
    console.log(`cluster.test.js: usage records per HOST: ${JSON.stringify(byHost)}`);
    // A started every notification; B ended one; B and C refused duplicates and delivered (D
    // delivers only when a changed terminal happens to be watched by one of its notifications).
    expect(Object.keys(byHost)).toEqual(expect.arrayContaining(['gw-a', 'gw-b', 'gw-c']));
    expect(byHost['gw-a']).toBeGreaterThanOrEqual(NOTIFICATIONS);
    const started = await pg.psql("SELECT host, count(*) FROM usage_record WHERE segment = 0 AND eventtype = 'startNotification' GROUP BY host ORDER BY host");
    expect(started.split('\n')).toEqual([`gw-a|${NOTIFICATIONS + 4}`, 'gw-b|3', 'gw-c|3']);

    // One export, through C's configuration (C is stopped: its spool file is free).
    const { stdout } = await execFileAsync(process.execPath, [path.join(REPO, 'js', 'cli.js'), 'usage', 'export',
      '--config', gateways.get('c').configFile, '--format', 'json'], { cwd: REPO, maxBuffer: 256 * 1024 * 1024 });
    const records = JSON.parse(stdout);
    const exported = {};
    for (const r of records) exported[r.host] = (exported[r.host] || 0) + 1;
    expect(exported).toEqual(byHost);
    const endedOnB = records.filter((r) => r.eventType === 'endNotification' && r.host === 'gw-b');
    expect(endedOnB).toHaveLength(1);
    expect(endedOnB[0]).toMatchObject({ statusCode: 0 });
  });
});
