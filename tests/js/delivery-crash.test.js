'use strict';
// A gateway process killed with SIGKILL while notification deliveries are in flight to a slow
// application, queued behind them, or waiting for a retry; then started again on the same
// databases. Real parts: the gateway child process (js/cli.js serve), Kamailio, SQLite, real HTTP
// application endpoints that hold or fail their answers.
//
// What is guaranteed (README "At least once, also across crashes"): the notifications, the last
// status seen per address and every delivery decided but not yet settled (the outbox,
// pending_deliveries, written in the same transaction as the change that caused it) are stored.
// So after a restart a status that changed while the gateway was down is reported, and a change
// whose delivery was in flight, queued or waiting for a retry when the process died is sent
// again: at least once, twice when the crash cut an attempt the application had received.
const fs = require('node:fs');
const path = require('node:path');
const native = require('../../js/native');
const { UsageLog } = require('../../js/usage');
const { startKamailio } = require('../../scripts/kamailio/kamailio');
const sip = require('../support/sip');
const { postSoap, envelope, tempDir, basicAuth } = require('../support/gateway');
const { writeHostileConfig, NM_NS } = require('../support/hostileGateway');
const { serveGateway } = require('../support/gatewayProcess');
const { startSlowApp } = require('../support/slowApp');

jest.setTimeout(60000);

const AUTH = basicAuth('acme', 'acme-password');
const RETRY_BACKOFF_MS = 3000;
const NOTIFICATIONS_YAML = `  minFrequencyMs: 0
  delivery:
    timeoutMs: 30000
    maxAttempts: 5
    retryBackoffMs: ${RETRY_BACKOFF_MS}
    retryBackoffMaxMs: ${RETRY_BACKOFF_MS}`;

let kamailio;
let presence;
let names = 0;
const cleanups = [];
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function newPresentity(label) {
  names += 1;
  return sip.presentity(presence, `sip:${label}-${names}@example.test`);
}

async function startOverSoap(manager, { endpoint, correlator, address }) {
  const reply = await postSoap(manager, envelope(`<loc:startNotification>
  <loc:reference><endpoint>${endpoint}</endpoint><interfaceName>TerminalStatusNotification</interfaceName><correlator>${correlator}</correlator></loc:reference>
  <loc:addresses>${address}</loc:addresses>
  <loc:checkImmediate>true</loc:checkImmediate>
  <loc:frequency><metric>Millisecond</metric><units>0</units></loc:frequency>
</loc:startNotification>`, { localNs: NM_NS }), AUTH);
  expect(reply.status).toBe(200);
  return reply.headers.get('x-parlayx-global-id');
}

async function newApp() {
  const app = await startSlowApp();
  cleanups.push(() => app.close());
  return app;
}

/** A gateway config in a fresh state directory; returns { dir, configFile }. */
function newState() {
  const dir = tempDir('px-crash-');
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const configFile = writeHostileConfig({ presencePort: presence.port, stateDir: dir, notificationsYaml: NOTIFICATIONS_YAML });
  return { dir, configFile };
}

async function serve(configFile) {
  const gw = await serveGateway(configFile);
  cleanups.push(() => gw.proc.stop({ signal: 'SIGKILL' }));
  return gw;
}

/** The delivery records in the usage database (read after the gateway stopped). */
async function deliveryRecords(dir) {
  const usage = new UsageLog(new native.UsageDatabase({ text: `usage:\n  database: ${path.join(dir, 'usage.db')}\n`, name: 'reader.yaml' }));
  try {
    return (await usage.query({})).filter((r) => /_Delivery(Attempted|Result)$/.test(r.eventType));
  } finally {
    await usage.close();
  }
}

/** Attempted records of a correlator, each with its Result (or null). */
function pairs(records, correlator) {
  const attempted = records.filter((r) => r.eventType.endsWith('_DeliveryAttempted') && r.attributes.CORRELATOR === correlator);
  return attempted.map((a) => {
    const results = records.filter((r) => r.eventType.endsWith('_DeliveryResult')
      && r.attributes.APP_CORRELATION_ID === a.attributes.APP_CORRELATION_ID);
    expect(results.length).toBeLessThanOrEqual(1);
    return { status: a.attributes.DELIVERY_STATUS, result: results[0] || null };
  });
}

/** Statuses a correlator received, in order, and whether each was answered. */
const seen = (app, correlator) => app.of(correlator).map((r) => [r.kind, r.statuses.map((s) => s.status).join(',')]);

beforeAll(async () => {
  kamailio = await startKamailio({ workDir: tempDir('px-kam-crash-') });
  presence = { host: '127.0.0.1', port: kamailio.sipPort };
}, 30000);

afterAll(async () => {
  if (kamailio) await kamailio.stop();
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()();
});

test('SIGKILL with nothing in flight: a change made while down is delivered once after the restart, records paired', async () => {
  const { dir, configFile } = newState();
  const app = await newApp();
  const terminal = newPresentity('down');
  await terminal.set('Reachable');
  const first = await serve(configFile);
  await startOverSoap(first.managerEndpoint, { endpoint: app.url, correlator: 'down-1', address: terminal.uri });
  await app.waitFor('down-1', 1); // checkImmediate: the subscription is up
  await terminal.set('Busy');
  await app.waitFor('down-1', 2);
  await delay(200); // the answer reached the gateway and its Result record was committed

  expect((await first.kill()).signal).toBe('SIGKILL');
  await terminal.set('Unreachable');
  const second = await serve(configFile);
  await app.waitFor('down-1', 3);
  await delay(1500); // anything delivered twice would arrive meanwhile
  expect(seen(app, 'down-1')).toEqual([
    ['statusNotification', 'Reachable'],
    ['statusNotification', 'Busy'],
    ['statusNotification', 'Unreachable'],
  ]);
  expect(app.of('down-1').every((r) => r.answered === 200)).toBe(true);
  expect((await second.stop()).code).toBe(0);

  const p = pairs(await deliveryRecords(dir), 'down-1');
  expect(p.map((x) => [x.status, x.result && x.result.statusCode])).toEqual([['Reachable', 0], ['Busy', 0], ['Unreachable', 0]]);
});

test('deliveries in flight, queued or waiting for a retry at SIGKILL are sent again after the restart, in order', async () => {
  const { dir, configFile } = newState();
  const slow = await newApp(); // holds its answers when told
  const failing = await newApp(); // answers 503 when told
  const inFlight = newPresentity('inflight');
  const retried = newPresentity('retried');
  const downChange = newPresentity('downchange');
  for (const t of [inFlight, retried, downChange]) await t.set('Reachable');

  const first = await serve(configFile);
  await startOverSoap(first.managerEndpoint, { endpoint: slow.url, correlator: 'inflight-1', address: inFlight.uri });
  await startOverSoap(first.managerEndpoint, { endpoint: failing.url, correlator: 'retry-1', address: retried.uri });
  await startOverSoap(first.managerEndpoint, { endpoint: slow.url, correlator: 'downchange-1', address: downChange.uri });
  await slow.waitFor('inflight-1', 1);
  await failing.waitFor('retry-1', 1);
  await slow.waitFor('downchange-1', 1);

  // In flight: the application has the Busy request and has not answered it yet.
  slow.mode({ hold: true });
  await inFlight.set('Busy');
  await slow.waitFor('inflight-1', 2);
  // Queued behind it in the same notification (one delivery in flight per notification).
  await inFlight.set('Unreachable');
  // Waiting for a retry: the first attempt got 503, the next one is RETRY_BACKOFF_MS away.
  failing.mode({ status: 503 });
  await retried.set('Busy');
  const [, refused] = await failing.waitFor('retry-1', 2);
  await delay(500); // the 503 was read, the Unreachable NOTIFY applied (both in well under 500 ms on loopback)
  expect(refused.answered).toBe(503);

  const killedAt = Date.now();
  expect((await first.kill()).signal).toBe('SIGKILL');
  expect(Date.now() - killedAt).toBeLessThan(RETRY_BACKOFF_MS); // the retry was still pending
  await downChange.set('Busy'); // a change while down: the positive control
  slow.mode({ hold: false });
  failing.mode({ status: 200 });
  await delay(100);
  expect(slow.of('inflight-1')[1]).toMatchObject({ answered: null, aborted: true }); // the crash cut it

  const second = await serve(configFile);
  // The restored notifications are subscribed again: the change made while down arrives...
  const control = await slow.waitFor('downchange-1', 2);
  expect(control[1].statuses).toEqual([{ address: downChange.uri, status: 'Busy' }]);
  // ...and the three deliveries the dead process held are sent again, in order:
  await slow.waitFor('inflight-1', 4);
  await failing.waitFor('retry-1', 3);
  await delay(1000); // anything sent a third time would arrive meanwhile
  expect(seen(slow, 'inflight-1')).toEqual([
    ['statusNotification', 'Reachable'],
    ['statusNotification', 'Busy'], // received, cut by the crash before it was answered
    ['statusNotification', 'Busy'], // so sent again (at least once)
    ['statusNotification', 'Unreachable'], // queued at the crash
  ]);
  expect(seen(failing, 'retry-1')).toEqual([
    ['statusNotification', 'Reachable'],
    ['statusNotification', 'Busy'], // refused with 503, waiting for its retry at the crash
    ['statusNotification', 'Busy'], // retried after the restart
  ]);
  // The notifications themselves survived: a new change is delivered after them.
  await inFlight.set('Reachable');
  await retried.set('Unreachable');
  expect((await slow.waitFor('inflight-1', 5))[4].statuses).toEqual([{ address: inFlight.uri, status: 'Reachable' }]);
  expect((await failing.waitFor('retry-1', 4))[3].statuses).toEqual([{ address: retried.uri, status: 'Unreachable' }]);
  expect((await second.stop()).code).toBe(0);

  // Usage records: every attempt has its Result except the one the crash cut (Attempted, no Result).
  const records = await deliveryRecords(dir);
  const summary = (correlator) => pairs(records, correlator).map((x) => [x.status, x.result && x.result.attributes.FAILURE_REASON]);
  expect(summary('inflight-1')).toEqual([['Reachable', ''], ['Busy', null], ['Busy', ''], ['Unreachable', ''], ['Reachable', '']]);
  expect(summary('retry-1')).toEqual([['Reachable', ''], ['Busy', 'HTTP 503'], ['Busy', ''], ['Unreachable', '']]);
  const retryResult = pairs(records, 'retry-1')[1].result;
  expect(retryResult.attributes.FAILURE_DETAIL).toBe(`HTTP 503 Service Unavailable; attempt 1 of 5, retry in ${RETRY_BACKOFF_MS} ms`);
  expect(summary('downchange-1')).toEqual([['Reachable', ''], ['Busy', '']]);
});

test('the count-th statusNotification in flight and its statusEnd queued at SIGKILL both arrive after the restart', async () => {
  const { dir, configFile } = newState();
  const slow = await newApp();
  const terminal = newPresentity('ending');
  await terminal.set('Reachable');
  const first = await serve(configFile);
  const reply = await postSoap(first.managerEndpoint, envelope(`<loc:startNotification>
  <loc:reference><endpoint>${slow.url}</endpoint><interfaceName>TerminalStatusNotification</interfaceName><correlator>end-1</correlator></loc:reference>
  <loc:addresses>${terminal.uri}</loc:addresses>
  <loc:checkImmediate>true</loc:checkImmediate>
  <loc:frequency><metric>Millisecond</metric><units>0</units></loc:frequency><loc:count>2</loc:count>
</loc:startNotification>`, { localNs: NM_NS }), AUTH);
  expect(reply.status).toBe(200);
  await slow.waitFor('end-1', 1); // statusNotification 1 of 2
  slow.mode({ hold: true });
  await terminal.set('Busy');
  await slow.waitFor('end-1', 2); // statusNotification 2 of 2, in flight; statusEnd queued behind it
  await delay(300);
  expect((await first.kill()).signal).toBe('SIGKILL');
  slow.mode({ hold: false });

  const second = await serve(configFile);
  // The end was committed with the count: after the restart the notification no longer exists...
  const end = await postSoap(second.managerEndpoint, envelope('<loc:endNotification><loc:correlator>end-1</loc:correlator></loc:endNotification>',
    { localNs: NM_NS }), AUTH);
  expect(end.status).toBe(500);
  expect(end.text).toContain('<messageId>SVC0002</messageId>');
  expect(end.text).toContain('<variables>correlator</variables>');
  // ...but its last deliveries were kept: the second statusNotification again, then statusEnd.
  await slow.waitFor('end-1', 4);
  await terminal.set('Unreachable');
  await delay(1500);
  expect(seen(slow, 'end-1')).toEqual([
    ['statusNotification', 'Reachable'], ['statusNotification', 'Busy'], ['statusNotification', 'Busy'], ['statusEnd', ''],
  ]);
  expect((await second.stop()).code).toBe(0);
  const records = await deliveryRecords(dir);
  expect(pairs(records, 'end-1').filter((x) => x.status !== undefined).map((x) => [x.status, x.result && x.result.statusCode]))
    .toEqual([['Reachable', 0], ['Busy', null], ['Busy', 0]]);
  expect(records.filter((r) => r.eventType.startsWith('statusEnd_')).map((r) => [r.eventType, r.statusCode]))
    .toEqual([['statusEnd_DeliveryAttempted', 0], ['statusEnd_DeliveryResult', 0]]);
});
