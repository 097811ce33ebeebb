'use strict';
// Usage records on PostgreSQL (store.backend: postgresql, issue 17): a real PostgreSQL started
// for the test (tests/support/postgres.js), real getStatus requests over HTTP against a real
// Kamailio presence server. Records land in PostgreSQL (checked with psql and through the
// gateway's own export); PostgreSQL stopped under load: durable requests fail cleanly with
// SVC0001 while it is down, batched records are spooled and all present after the restart, each
// once; /readyz says so while it is down.
const path = require('node:path');
const { startKamailio, freePort } = require('../../scripts/kamailio/kamailio');
const sip = require('../support/sip');
const { startGateway, postSoap, envelope, tempDir } = require('../support/gateway');
const { startPostgres } = require('../support/postgres');
const native = require('../../js/native');

let pg;
let kamailio;
let presencePort;
const gateways = [];

const getStatus = envelope('<loc:getStatus><loc:address>sip:alice@example.test</loc:address></loc:getStatus>');

async function pgGateway(durability) {
  const stateDir = tempDir('px-usage-pg-');
  const fixture = await startGateway({
    presencePort,
    stateDir,
    usageYaml: `  durability: ${durability}\n  flushIntervalMs: 20\n`,
    extraYaml: `store:\n  backend: postgresql\n  url: "${pg.url}"\n  spool: ${path.join(stateDir, 'usage-spool.db')}\n` +
      '  reconnectBackoffMs: 50\n  reconnectBackoffMaxMs: 400\n',
  });
  gateways.push(fixture);
  await until(() => fixture.gateway.usage.stats().reachable, 10000, 'the store connects');
  return fixture;
}

async function until(predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** One getStatus: { status, globalId, svc0001 }. */
async function request(fixture) {
  const reply = await postSoap(fixture.endpoint, getStatus);
  return { status: reply.status, globalId: reply.headers.get('x-parlayx-global-id'), svc0001: reply.text.includes('SVC0001') };
}

/** GLOBALID -> number of records (segment 0 rows) in PostgreSQL. */
async function recordCounts() {
  const out = await pg.psql('SELECT globalid, count(*) FROM usage_record WHERE segment = 0 GROUP BY globalid');
  const counts = new Map();
  for (const line of out.split('\n').filter(Boolean)) {
    const [globalId, n] = line.split('|');
    counts.set(globalId, Number(n));
  }
  return counts;
}

beforeAll(async () => {
  pg = await startPostgres();
  presencePort = await freePort();
  kamailio = await startKamailio({ sipPort: presencePort, workDir: tempDir('px-kamailio-') });
  await sip.publish({ server: { host: '127.0.0.1', port: presencePort }, presentity: 'sip:alice@example.test', basic: 'open' });
}, 60000);

afterAll(async () => {
  for (const f of gateways) await f.gateway.close().catch(() => {});
  if (kamailio) await kamailio.stop();
  if (pg) await pg.destroy();
}, 30000);

test('store config errors name the file, line and key', () => {
  const error = (text) => {
    try {
      native.loadConfig({ text, name: 'cluster.yaml' });
    } catch (e) {
      return { message: e.message, key: e.key, line: e.line };
    }
    return null;
  };
  expect(error('store:\n  backend: postgresql\n')).toEqual({
    message: 'cluster.yaml:2: store.backend: store.url is required when store.backend is postgresql', key: 'store.backend', line: 2,
  });
  expect(error('store:\n  backend: mysql\n')).toMatchObject({ key: 'store.backend', line: 2 });
  expect(error('store:\n  reconnectBackoffMs: 9000\n')).toMatchObject({ key: 'store.reconnectBackoffMs', line: 2 });
  // SQLite stays the default: nothing to set.
  expect(native.loadConfig({ text: '', name: 'empty.yaml' }).store).toMatchObject({ backend: 'sqlite', url: '' });
});

test('getStatus records are committed to PostgreSQL before the answer, under a versioned schema, and exported back', async () => {
  const fixture = await pgGateway('durable');
  const before = Date.now();
  const replies = [];
  for (let i = 0; i < 10; i++) replies.push(await request(fixture));
  expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200));
  // Durable: committed before the answer, so psql sees them at once.
  const ids = replies.map((r) => `'${r.globalId}'`).join(',');
  expect(await pg.psql(`SELECT count(*) FROM usage_record WHERE globalid IN (${ids})`)).toBe('10');
  expect(await pg.psql("SELECT version FROM schema_version WHERE component = 'usage'")).toBe('1');
  // The gateway's export reads PostgreSQL: the record, reassembled, with its attributes.
  const [record] = await fixture.gateway.usage.query({ globalId: replies[0].globalId });
  expect(record).toMatchObject({ eventType: 'getStatus', status: 'VALID', service: 'PX_TS_SIP' });
  expect(record.attributes.TARGET).toBe('sip:alice@example.test');
  const recent = await fixture.gateway.usage.query({ from: before - 1000, eventType: 'getStatus', requester: '' });
  expect(recent.map((r) => r.globalId)).toEqual(expect.arrayContaining(replies.map((r) => r.globalId)));
  expect(fixture.gateway.usage.stats()).toMatchObject({ backend: 'postgresql', reachable: true, writeErrors: 0 });
  expect((await fixture.gateway.readiness()).ready).toBe(true);
}, 30000);

test('PostgreSQL stopped under load: durable requests fail with SVC0001, batched records are spooled and replayed once; readiness flips', async () => {
  const durable = await pgGateway('durable');
  const batched = await pgGateway('batched');
  const results = { durable: [], batched: [] };
  // up -> stopping (pg_ctl stop -w running) -> down (it returned: the server is gone) ->
  // starting (pg_ctl start -w running: the server accepts connections before it returns) -> back.
  // Each request is labelled by the phase it left in and the one its answer came in: only a
  // request whose whole life lies within 'down' ran while PostgreSQL was certainly away.
  let phase = 'up';
  let restartBegan = 0;
  let running = true;
  const load = async (fixture, into) => {
    while (running) {
      const leftIn = phase;
      const sentAt = Date.now();
      const r = await request(fixture);
      into.push({ ...r, phase: leftIn, answeredIn: phase, sentAt });
    }
  };
  const workers = [];
  for (let i = 0; i < 3; i++) workers.push(load(durable, results.durable), load(batched, results.batched));

  await new Promise((resolve) => setTimeout(resolve, 400));
  phase = 'stopping';
  await pg.stop('fast');
  phase = 'down';
  await until(() => !durable.gateway.usage.stats().reachable && !batched.gateway.usage.stats().reachable, 5000, 'the loss is seen');
  await new Promise((resolve) => setTimeout(resolve, 700));
  const downReadiness = await Promise.all([durable.gateway.readiness(), batched.gateway.readiness()]);
  for (const report of downReadiness) {
    expect(report.ready).toBe(false);
    expect(report.checks.usageStoreWritable).toBe(false);
    expect(report.reasons.join(' ')).toMatch(/database unreachable/);
  }
  expect(batched.gateway.usage.stats().spooled).toBeGreaterThan(0);

  phase = 'starting';
  restartBegan = Date.now();
  await pg.start();
  phase = 'back';
  await until(() => durable.gateway.usage.stats().reachable && batched.gateway.usage.stats().reachable, 15000, 'both reconnect');
  await new Promise((resolve) => setTimeout(resolve, 300));
  running = false;
  await Promise.all(workers);
  await until(() => {
    const s = batched.gateway.usage.stats();
    return s.queued === 0 && s.spooled === 0;
  }, 15000, 'the spool is replayed');

  const counts = await recordCounts();
  // Durable: every request sent and answered while PostgreSQL was certainly down (after the stop
  // returned, before the restart began) is refused with SVC0001, none answered 200; and none of
  // them waits for PostgreSQL to come back: those that left well before the restart began were
  // answered before it. Requests across the edges may go either way (one in flight when the server
  // stops may have committed; one sent while pg_ctl start runs may meet the server up again), and
  // for every request the durable guarantee holds: 200 => its record committed, exactly once.
  const durableDown = results.durable.filter((r) => r.phase === 'down' && r.answeredIn === 'down');
  expect(durableDown.length).toBeGreaterThan(0);
  for (const r of durableDown) expect({ status: r.status, svc0001: r.svc0001 }).toEqual({ status: 500, svc0001: true });
  const leftEarly = results.durable.filter((r) => r.phase === 'down' && r.sentAt < restartBegan - 400);
  expect(leftEarly.length).toBeGreaterThan(0);
  for (const r of leftEarly) expect({ sentAt: r.sentAt, answeredIn: r.answeredIn }).toEqual({ sentAt: r.sentAt, answeredIn: 'down' });
  for (const r of results.durable.filter((x) => x.status !== 200)) expect({ status: r.status, svc0001: r.svc0001 }).toEqual({ status: 500, svc0001: true });
  for (const r of results.durable.filter((x) => x.status === 200)) expect({ id: r.globalId, n: counts.get(r.globalId) }).toEqual({ id: r.globalId, n: 1 });
  expect(durable.gateway.usage.stats().writeErrors).toBeGreaterThan(0);

  // Batched: every request answered, and every record present exactly once after the replay.
  expect(results.batched.filter((r) => r.phase === 'down' && r.answeredIn === 'down').length).toBeGreaterThan(0);
  expect(results.batched.filter((r) => r.status !== 200)).toEqual([]);
  const missingOrTwice = results.batched.filter((r) => counts.get(r.globalId) !== 1);
  expect(missingOrTwice).toEqual([]);
  const s = batched.gateway.usage.stats();
  expect(s.replayed).toBeGreaterThan(0);
  expect(s.writeErrors).toBe(0);
  expect(s.reconnects).toBeGreaterThan(0);

  for (const fixture of [durable, batched]) expect((await fixture.gateway.readiness()).ready).toBe(true);
}, 90000);
