'use strict';
// Terminal Status notifications end to end against a real Kamailio presence server (presence set
// by real SIP PUBLISH) and real HTTP application endpoints: what the application receives
// (statusNotification / statusError / statusEnd), when, and what the SIP side does (one shared
// SUBSCRIBE dialog per terminal, ended at the presence server), delivery retries and their usage
// records, and a gateway process killed with SIGKILL and restarted.
//
// Every test gets a fresh gateway (so that its SIP counters start at 0), fresh application
// endpoints and fresh presentities; Kamailio is shared by the file.
//
// "Ended at the presence server" is checked on Kamailio itself through its ctl socket (kamcmd):
// Kamailio 5.6's presence module has no RPC listing watchers (presence.* offers only cleanup,
// presentity_list, refreshWatchers, updateWatchers), but tm.stats counts the transactions
// Kamailio starts itself (total_local), which for this presence server are only NOTIFYs, and
// core:rcv_requests_subscribe counts the SUBSCRIBEs it received.
const fs = require('node:fs');
const path = require('node:path');
const { execFile, execFileSync } = require('node:child_process');
const { promisify } = require('node:util');
const soap = require('soap');
const { startKamailio, findInstallation } = require('../../scripts/kamailio/kamailio');
const { spawnSupervised } = require('../../scripts/kamailio/supervise');
const sip = require('../support/sip');
const {
  startGateway, postSoap, envelope, tempDir, LOOPBACK_OUTBOUND_YAML,
} = require('../support/gateway');
const { startAppEndpoint } = require('../support/appEndpoint');
const { NOTIFICATION_NS } = require('../../js/soap/builder');

jest.setTimeout(30000);

const REPO = path.join(__dirname, '..', '..');
const NM_NS = 'http://www.csapi.org/schema/parlayx/terminal_status/notification_manager/v2_3/local';
const MANAGER_PATH = '/TerminalStatusNotificationManagerService/services/TerminalStatusNotificationManager';
const TERMINAL_STATUS_PATH = '/TerminalStatusService/services/TerminalStatus';
// Small retry delays keep the retry test fast; frequency 0 lets a test send changes back to back.
const NOTIFICATIONS_YAML = `  minFrequencyMs: 0
  delivery:
    timeoutMs: 2000
    maxAttempts: 10
    retryBackoffMs: 100
    retryBackoffMaxMs: 400`;
const execFileAsync = promisify(execFile);

let kamailio;
let presence;
let controlSocket;
let fixture;
let gateway;
let names = 0;
const cleanups = [];

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a truthy value; fails with `what` after timeoutMs. */
async function waitUntil(check, what, timeoutMs = 8000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(20);
  }
}

function newPresentity(label) {
  names += 1;
  return sip.presentity(presence, `sip:${label}-${names}@example.test`);
}

/** Kamailio's own counters, read through its ctl socket. */
async function kamailioCounters() {
  // kamcmd sits next to the kamailio binary (/usr/sbin on Debian, not always on PATH).
  const binary = path.join(path.dirname(findInstallation().kamailio), 'kamcmd');
  const kamcmd = (...args) => execFileAsync(binary, ['-s', `unix:${controlSocket}`, ...args]).then((r) => r.stdout);
  const tm = await kamcmd('tm.stats');
  const core = await kamcmd('stats.get_statistics', 'rcv_requests_subscribe');
  const field = (text, re) => {
    const m = re.exec(text);
    if (!m) throw new Error(`unexpected kamcmd output: ${text}`);
    return Number(m[1]);
  };
  return {
    notifiesSent: field(tm, /total_local:\s*(\d+)/), // transactions Kamailio started: its NOTIFYs
    subscribesReceived: field(core, /core:rcv_requests_subscribe = (\d+)/),
  };
}

async function newApp(options) {
  const app = await startAppEndpoint(options);
  cleanups.push(() => app.close());
  return app;
}

function listed(correlator, requester = '') {
  return gateway.notifications.list().find((n) => n.correlator === correlator && n.requester === requester);
}

/** Resolves once the notification's first NOTIFY (its baseline) was applied to `address`. */
function baseline(correlator, address, status, requester = '') {
  return waitUntil(() => {
    const n = listed(correlator, requester);
    return n && n.addresses.find((a) => a.address === address).lastSeen === status;
  }, `${correlator}: first status ${status} of ${address}`);
}

/** startNotification through the JS API, with what a test does not care about filled in. */
function start(app, correlator, addresses, options = {}, context = {}) {
  const { endpoint = app.url, ...rest } = options;
  return gateway.startNotification({
    reference: { endpoint, correlator, interfaceName: 'TerminalStatusNotification' },
    addresses,
    criteria: [],
    checkImmediate: false,
    frequency: { metric: 'Millisecond', units: 0 },
    ...rest,
  }, context);
}

beforeAll(async () => {
  // A Kamailio that cannot start fails the whole file (no skip).
  kamailio = await startKamailio({ workDir: tempDir('px-kam-') });
  presence = { host: '127.0.0.1', port: kamailio.sipPort };
  controlSocket = path.join(kamailio.workDir, 'run', 'kamailio_ctl');
  expect(fs.existsSync(controlSocket)).toBe(true);
}, 30000);

afterAll(async () => {
  if (kamailio) {
    const workDir = kamailio.workDir;
    await kamailio.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
});

beforeEach(async () => {
  fixture = await startGateway({ presencePort: presence.port, notificationsYaml: NOTIFICATIONS_YAML });
  gateway = fixture.gateway;
});

afterEach(async () => {
  if (fixture) {
    await fixture.gateway.close();
    fs.rmSync(fixture.stateDir, { recursive: true, force: true });
    fixture = null;
  }
  while (cleanups.length > 0) await cleanups.pop()();
});

describe('statusNotification', () => {
  test('a status change reaches the application (started through the SOAP client of the served WSDL)', async () => {
    const app = await newApp();
    const terminal = newPresentity('soap');
    await terminal.set('Reachable');
    // The client exactly as generated: node-soap 1.13 qualifies the children of SimpleReference
    // and TimeMetric with the common types namespace, which the gateway accepts.
    const client = await soap.createClientAsync(`${fixture.url}${MANAGER_PATH}?wsdl`);
    await client.startNotificationAsync({
      reference: { endpoint: app.url, interfaceName: 'TerminalStatusNotification', correlator: 'soap-1' },
      addresses: [terminal.uri],
      checkImmediate: false,
      frequency: { metric: 'Millisecond', units: 0 },
    });
    await baseline('soap-1', terminal.uri, 'Reachable');
    expect(app.received).toEqual([]); // the first status is a baseline, not a change

    await terminal.set('Busy');
    const [notification] = await app.waitFor('soap-1', 1);
    expect(notification).toMatchObject({
      kind: 'statusNotification',
      namespace: NOTIFICATION_NS,
      correlator: 'soap-1',
      statuses: [{ address: terminal.uri, status: 'Busy' }],
      path: '/app/TerminalStatusNotification',
    });
    // The exact elements, as the application's own SOAP stack would see them.
    expect(notification.raw).toContain(`<ns:correlator>soap-1</ns:correlator><ns:terminalStatus><address>${terminal.uri}</address>`
      + '<currentStatus>Busy</currentStatus></ns:terminalStatus>');

    await terminal.set('Unreachable');
    const all = await app.waitFor('soap-1', 2);
    expect(all[1].statuses).toEqual([{ address: terminal.uri, status: 'Unreachable' }]);
    await client.endNotificationAsync({ correlator: 'soap-1' });
    expect(listed('soap-1')).toBeUndefined();
  });

  test('checkImmediate reports the current status right after the start', async () => {
    const app = await newApp();
    const terminal = newPresentity('immediate');
    await terminal.set('Busy');
    const before = Date.now();
    await start(app, 'immediate-1', [terminal.uri], { checkImmediate: true });
    const [notification] = await app.waitFor('immediate-1', 1, 3000);
    expect(notification).toMatchObject({ kind: 'statusNotification', statuses: [{ address: terminal.uri, status: 'Busy' }] });
    expect(notification.at - before).toBeLessThan(2000);
    await delay(300);
    expect(app.of('immediate-1')).toHaveLength(1);
    expect(listed('immediate-1').sent).toBe(1);
  });

  test('criteria [Busy]: a change to Unreachable sends nothing, a change to Busy sends Busy', async () => {
    const app = await newApp();
    const terminal = newPresentity('criteria');
    await terminal.set('Reachable');
    await start(app, 'criteria-1', [terminal.uri], { criteria: ['Busy'] });
    await baseline('criteria-1', terminal.uri, 'Reachable');

    await terminal.set('Unreachable');
    await baseline('criteria-1', terminal.uri, 'Unreachable'); // seen by the engine...
    await delay(300);
    expect(app.of('criteria-1')).toEqual([]); // ...and not sent

    await terminal.set('Busy'); // open + rpid on-the-phone
    const [notification] = await app.waitFor('criteria-1', 1);
    expect(notification).toMatchObject({ kind: 'statusNotification', statuses: [{ address: terminal.uri, status: 'Busy' }] });
    await terminal.set('Reachable');
    await baseline('criteria-1', terminal.uri, 'Reachable');
    await delay(300);
    expect(app.of('criteria-1')).toHaveLength(1);
  });

  test('frequency: the first change goes at once, later ones wait for the window and the latest status wins', async () => {
    const app = await newApp();
    const terminal = newPresentity('frequency');
    await terminal.set('Reachable');
    await start(app, 'frequency-1', [terminal.uri], { frequency: { metric: 'Millisecond', units: 1500 } });
    await baseline('frequency-1', terminal.uri, 'Reachable');

    const changedAt = Date.now();
    await terminal.set('Busy');
    const [first] = await app.waitFor('frequency-1', 1);
    expect(first.statuses).toEqual([{ address: terminal.uri, status: 'Busy' }]);
    expect(first.at - changedAt).toBeLessThan(1000);

    // Two changes inside the window: only the last one is reported, when the window opens.
    await terminal.set('Unreachable');
    await baseline('frequency-1', terminal.uri, 'Unreachable');
    await terminal.set('Reachable');
    await baseline('frequency-1', terminal.uri, 'Reachable');
    expect(Date.now() - first.at).toBeLessThan(1300); // both changes were inside the window
    expect(app.of('frequency-1')).toHaveLength(1);
    const [, second] = await app.waitFor('frequency-1', 2, 5000);
    expect(second.statuses).toEqual([{ address: terminal.uri, status: 'Reachable' }]);
    const gap = second.at - first.at;
    expect(gap).toBeGreaterThanOrEqual(1400);
    expect(gap).toBeLessThan(2500);
    await delay(400);
    expect(app.of('frequency-1')).toHaveLength(2);
  });
});

describe('end of a notification', () => {
  test('count: statusEnd right after the count-th statusNotification, and nothing after it', async () => {
    const app = await newApp();
    const terminal = newPresentity('count');
    await terminal.set('Reachable');
    await start(app, 'count-1', [terminal.uri], { count: 2 });
    await baseline('count-1', terminal.uri, 'Reachable');
    expect(gateway.core.stats()).toMatchObject({ subscriptions: 1, subscribeRequests: 1 });

    await terminal.set('Busy');
    await app.waitFor('count-1', 1);
    expect(listed('count-1').sent).toBe(1);
    await terminal.set('Unreachable');
    const received = await app.waitFor('count-1', 3);
    expect(received.map((r) => [r.kind, r.statuses])).toEqual([
      ['statusNotification', [{ address: terminal.uri, status: 'Busy' }]],
      ['statusNotification', [{ address: terminal.uri, status: 'Unreachable' }]],
      ['statusEnd', []],
    ]);
    expect(listed('count-1')).toBeUndefined();
    // The terminal is no longer watched: its SUBSCRIBE dialog was ended (Expires: 0).
    await waitUntil(() => gateway.core.stats().subscriptions === 0, 'the subscription to end');
    expect(gateway.core.stats().subscribeRequests).toBe(2);

    await terminal.set('Busy');
    await delay(500);
    expect(app.of('count-1')).toHaveLength(3);
  });

  test('duration: statusEnd when it expires', async () => {
    const app = await newApp();
    const terminal = newPresentity('duration');
    await terminal.set('Reachable');
    const startedAt = Date.now();
    await start(app, 'duration-1', [terminal.uri], { duration: { metric: 'Second', units: 1 } });
    const [end] = await app.waitFor('duration-1', 1, 5000);
    expect(end.kind).toBe('statusEnd');
    expect(end.at - startedAt).toBeGreaterThanOrEqual(950);
    expect(end.at - startedAt).toBeLessThan(3000);
    expect(listed('duration-1')).toBeUndefined();
    await waitUntil(() => gateway.core.stats().subscriptions === 0, 'the subscription to end');

    await terminal.set('Busy');
    await delay(400);
    expect(app.of('duration-1')).toHaveLength(1);
  });

  test('endNotification: the SIP subscription is ended at the presence server, nothing more arrives', async () => {
    const app = await newApp();
    const terminal = newPresentity('end');
    await terminal.set('Reachable');
    await start(app, 'end-1', [terminal.uri]);
    await baseline('end-1', terminal.uri, 'Reachable');

    // Control: while the subscription lives, a change makes Kamailio send a NOTIFY.
    const live = await kamailioCounters();
    await terminal.set('Busy');
    await app.waitFor('end-1', 1);
    expect((await kamailioCounters()).notifiesSent).toBeGreaterThan(live.notifiesSent);

    const statsBefore = gateway.core.stats();
    const kamailioBefore = await kamailioCounters();
    await gateway.endNotification('end-1');
    expect(listed('end-1')).toBeUndefined();
    // One SUBSCRIBE (Expires: 0) sent by the gateway and received by Kamailio.
    await waitUntil(() => gateway.core.stats().subscriptions === 0, 'the gateway to drop the subscription');
    await waitUntil(async () => (await kamailioCounters()).subscribesReceived === kamailioBefore.subscribesReceived + 1,
      'Kamailio to receive the un-SUBSCRIBE');
    expect(gateway.core.stats().subscribeRequests).toBe(statsBefore.subscribeRequests + 1);
    // Kamailio ends the subscription with a last NOTIFY (Subscription-State: terminated).
    await waitUntil(async () => (await kamailioCounters()).notifiesSent === kamailioBefore.notifiesSent + 1,
      'Kamailio\'s last NOTIFY of the subscription');
    await delay(100); // answered by the gateway

    const stray = gateway.core.stats().strayRequests;
    const ended = await kamailioCounters();
    await terminal.set('Unreachable');
    await delay(700);
    expect((await kamailioCounters()).notifiesSent).toBe(ended.notifiesSent); // no watcher left at Kamailio
    expect(gateway.core.stats().strayRequests).toBe(stray);
    expect(app.of('end-1')).toHaveLength(1);
    await gateway.delivery.settled();
    expect((await gateway.usage.query({ eventType: 'statusEnd_DeliveryAttempted' }))).toEqual([]);
  });

  test('an operator terminates a notification: statusError for the whole of it, and it is gone', async () => {
    const app = await newApp();
    const terminal = newPresentity('terminate');
    await terminal.set('Reachable');
    await start(app, 'terminate-1', [terminal.uri], {}, { requester: 'app-t' });
    await baseline('terminate-1', terminal.uri, 'Reachable', 'app-t');

    expect(await gateway.notifications.terminate('terminate-1', { requester: 'app-t', reason: 'maintenance' })).toBe(true);
    const [error] = await app.waitFor('terminate-1', 1);
    expect(error).toMatchObject({
      kind: 'statusError',
      correlator: 'terminate-1',
      address: undefined, // the whole notification
      error: { messageId: 'SVC0001', text: 'A service error occurred. Error code is %1', variables: ['maintenance'] },
    });
    expect(listed('terminate-1', 'app-t')).toBeUndefined();
    expect(gateway.notifications.list()).toEqual([]);
    await waitUntil(() => gateway.core.stats().subscriptions === 0, 'the subscription to end');
    expect(await gateway.notifications.terminate('terminate-1', { requester: 'app-t' })).toBe(false);

    await terminal.set('Busy');
    await delay(400);
    expect(app.of('terminate-1')).toHaveLength(1);
  });
});

describe('getStatus of a terminal a notification watches (presence.answerFromSubscriptions)', () => {
  test('is answered from the subscription\'s last NOTIFY, without a SUBSCRIBE; others are fetched', async () => {
    const app = await newApp();
    const watched = newPresentity('answered');
    const other = newPresentity('fetched');
    await watched.set('Busy');
    await other.set('Reachable');
    await start(app, 'answer-1', [watched.uri]);
    await baseline('answer-1', watched.uri, 'Busy');
    await waitUntil(() => gateway.core.stats().subscriptionsActive === 1, 'the subscription to be established');
    const fetchesBefore = gateway.core.stats().started;
    const kamailioBefore = await kamailioCounters();

    expect(await gateway.getStatus(watched.uri)).toBe('Busy');
    expect(gateway.core.stats()).toMatchObject({ started: fetchesBefore, fetchesAnsweredFromSubscriptions: 1 });
    expect((await kamailioCounters()).subscribesReceived).toBe(kamailioBefore.subscribesReceived);

    // A change arrives by NOTIFY and is the next answer.
    await watched.set('Unreachable');
    await baseline('answer-1', watched.uri, 'Unreachable');
    const group = await gateway.getStatusForGroup([watched.uri, other.uri]);
    expect(group).toEqual([
      { address: watched.uri, reportStatus: 'Retrieved', currentStatus: 'Unreachable' },
      { address: other.uri, reportStatus: 'Retrieved', currentStatus: 'Reachable' },
    ]);
    // Only the unwatched terminal was fetched.
    expect(gateway.core.stats()).toMatchObject({ started: fetchesBefore + 1, fetchesAnsweredFromSubscriptions: 2 });
    expect((await kamailioCounters()).subscribesReceived).toBe(kamailioBefore.subscribesReceived + 1);

    // Once nobody watches it, it is fetched again.
    await gateway.endNotification('answer-1');
    expect(await gateway.getStatus(watched.uri)).toBe('Unreachable');
    expect(gateway.core.stats()).toMatchObject({ started: fetchesBefore + 2, fetchesAnsweredFromSubscriptions: 2 });
  });
});

describe('sharing and delivery', () => {
  test('two applications watching one terminal share one SIP subscription and are both notified', async () => {
    const appA = await newApp();
    const appB = await newApp();
    const terminal = newPresentity('shared');
    await terminal.set('Reachable');
    const kamailioBefore = await kamailioCounters();
    await start(appA, 'shared-a', [terminal.uri], {}, { requester: 'app-a' });
    await start(appB, 'shared-b', [terminal.uri], { criteria: ['Busy'] }, { requester: 'app-b' });
    await baseline('shared-a', terminal.uri, 'Reachable', 'app-a');
    await baseline('shared-b', terminal.uri, 'Reachable', 'app-b');
    await waitUntil(() => gateway.core.stats().subscriptionsActive === 1, 'the subscription to be established');
    expect(gateway.core.stats()).toMatchObject({
      notifications: 2, watchedTerminals: 1, subscriptions: 1, subscriptionsActive: 1, subscribeRequests: 1,
    });
    expect((await kamailioCounters()).subscribesReceived).toBe(kamailioBefore.subscribesReceived + 1);

    await terminal.set('Busy');
    const [a] = await appA.waitFor('shared-a', 1);
    const [b] = await appB.waitFor('shared-b', 1);
    expect(a).toMatchObject({ kind: 'statusNotification', statuses: [{ address: terminal.uri, status: 'Busy' }] });
    expect(b).toMatchObject({ kind: 'statusNotification', statuses: [{ address: terminal.uri, status: 'Busy' }] });
    expect(appA.received).toHaveLength(1);
    expect(appB.received).toHaveLength(1);

    // One application leaves: the other keeps the (same) subscription.
    await gateway.endNotification('shared-a', { requester: 'app-a' });
    await terminal.set('Reachable');
    await baseline('shared-b', terminal.uri, 'Reachable', 'app-b');
    await waitUntil(() => gateway.core.stats().subscriptionsActive === 1, 'the subscription to be established');
    expect(gateway.core.stats()).toMatchObject({ subscriptions: 1, subscribeRequests: 1 });
    await terminal.set('Busy');
    await appB.waitFor('shared-b', 2);
    expect(appA.received).toHaveLength(1);
  });

  test('an application endpoint that is down, then up: retried, delivered, and every attempt recorded', async () => {
    const app = await newApp({ listening: false });
    const terminal = newPresentity('retry');
    await terminal.set('Reachable');
    await start(app, 'retry-1', [terminal.uri], {}, { requester: 'app-r', globalId: 'retry-global-id' });
    await baseline('retry-1', terminal.uri, 'Reachable', 'app-r');

    await terminal.set('Busy');
    const failedResult = () => gateway.usage.query({ globalId: 'retry-global-id', eventType: 'statusNotification_DeliveryResult' })
      .then((records) => records.length > 0);
    await waitUntil(failedResult, 'a failed delivery attempt to be recorded');
    await app.start();
    const [notification] = await app.waitFor('retry-1', 1);
    expect(notification).toMatchObject({ kind: 'statusNotification', statuses: [{ address: terminal.uri, status: 'Busy' }] });
    await gateway.delivery.settled();

    const records = await gateway.usage.query({ globalId: 'retry-global-id' });
    expect(records[0]).toMatchObject({ eventType: 'startNotification', statusCode: 0, globalId: 'retry-global-id' });
    const deliveryRecords = records.slice(1);
    expect(deliveryRecords.every((r) => r.globalId === 'retry-global-id')).toBe(true);
    const attempted = deliveryRecords.filter((r) => r.eventType === 'statusNotification_DeliveryAttempted');
    const results = deliveryRecords.filter((r) => r.eventType === 'statusNotification_DeliveryResult');
    expect(attempted.length + results.length).toBe(deliveryRecords.length);
    expect(attempted.length).toBeGreaterThanOrEqual(2);
    expect(results).toHaveLength(attempted.length);
    const pairs = attempted.map((a) => {
      const id = a.attributes.APP_CORRELATION_ID;
      const matching = results.filter((r) => r.attributes.APP_CORRELATION_ID === id);
      expect(matching).toHaveLength(1);
      expect(a).toMatchObject({ statusCode: 0 });
      expect(a.attributes).toMatchObject({ CORRELATOR: 'retry-1', TARGETS: terminal.uri, DELIVERY_STATUS: 'Busy' });
      return { attempted: a, result: matching[0] };
    });
    expect(new Set(pairs.map((p) => p.attempted.attributes.APP_CORRELATION_ID)).size).toBe(pairs.length);
    const failed = pairs.slice(0, -1).map((p) => p.result);
    const delivered = pairs[pairs.length - 1].result;
    for (const result of failed) {
      expect(result.statusCode).not.toBe(0);
      expect(result.status).toBe('FAILED_OPERATION');
      expect(result.attributes.FAILURE_REASON).toBe('ECONNREFUSED');
      expect(result.attributes.FAILURE_DETAIL).toMatch(/retry in \d+ ms/);
    }
    expect(delivered).toMatchObject({ statusCode: 0 });
    expect(delivered.attributes).toMatchObject({ FAILURE_REASON: '', FAILURE_DETAIL: '' });
    expect(app.of('retry-1')).toHaveLength(1);
  });
});

describe('a gateway process killed and restarted', () => {
  /** A gateway configuration on free ports, with its databases in `dir`; returns its path. */
  function writeConfig(dir) {
    const configFile = path.join(dir, 'gateway.yaml');
    // calls.port 0 too: the default AS port 5090 is shared with any other gateway on the machine.
    fs.writeFileSync(configFile, `authentication:
  required: false
http:
  host: 127.0.0.1
  port: 0
calls:
  port: 0
sip:
  bindHost: 127.0.0.1
  port: 0
  presenceServerUri: "sip:127.0.0.1:${presence.port}"
  telDomain: example.test
notifications:
  database: ${path.join(dir, 'notifications.db')}
${NOTIFICATIONS_YAML}
usage:
  database: ${path.join(dir, 'usage.db')}
${LOOPBACK_OUTBOUND_YAML}`);
    return configFile;
  }

  /** Runs `node js/cli.js serve --config <file>`; resolves with the process and its base URL. */
  async function serve(configFile) {
    const proc = spawnSupervised(process.execPath, [path.join(REPO, 'js', 'cli.js'), 'serve', '--config', configFile], { cwd: REPO });
    cleanups.push(() => proc.stop({ signal: 'SIGKILL' }));
    const line = await waitUntil(() => {
      if (proc.hasExited()) throw new Error(`gateway exited at start:\n${proc.logs()}`);
      return proc.logs().split('\n').find((l) => l.includes('"parlayx-gateway started"'));
    }, 'the gateway process to start', 10000);
    const base = JSON.parse(line).terminalStatus.replace(TERMINAL_STATUS_PATH, '');
    return { proc, manager: `${base}${MANAGER_PATH}` };
  }

  async function startOverSoap(manager, { endpoint, correlator, address, checkImmediate, durationSec }) {
    const reply = await postSoap(manager, envelope(`<loc:startNotification>
  <loc:reference><endpoint>${endpoint}</endpoint><interfaceName>TerminalStatusNotification</interfaceName><correlator>${correlator}</correlator></loc:reference>
  <loc:addresses>${address}</loc:addresses>
  <loc:checkImmediate>${checkImmediate}</loc:checkImmediate>
  <loc:frequency><metric>Millisecond</metric><units>0</units></loc:frequency>
  <loc:duration><metric>Second</metric><units>${durationSec}</units></loc:duration>
</loc:startNotification>`, { localNs: NM_NS }));
    expect(reply.status).toBe(200);
  }

  test('after SIGKILL and a restart, a change made while it was down is reported and an expired notification gets statusEnd', async () => {
    const dir = tempDir('px-restart-');
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const configFile = writeConfig(dir);
    const app = await newApp();
    const watched = newPresentity('restart');
    const expiring = newPresentity('expiring');
    const steady = newPresentity('steady');
    await watched.set('Reachable');
    await expiring.set('Reachable');
    await steady.set('Reachable');

    const first = await serve(configFile);
    // checkImmediate: the first statusNotification proves the subscription is established.
    await startOverSoap(first.manager, { endpoint: app.url, correlator: 'restart-long', address: watched.uri, checkImmediate: true, durationSec: 60 });
    await app.waitFor('restart-long', 1);
    await watched.set('Busy');
    await app.waitFor('restart-long', 2);
    // A terminal that does not change: nothing after the restart (checkImmediate is not repeated).
    await startOverSoap(first.manager, { endpoint: app.url, correlator: 'restart-steady', address: steady.uri, checkImmediate: true, durationSec: 60 });
    await app.waitFor('restart-steady', 1);
    const shortStartedAt = Date.now();
    await startOverSoap(first.manager, { endpoint: app.url, correlator: 'restart-short', address: expiring.uri, checkImmediate: true, durationSec: 2 });
    await app.waitFor('restart-short', 1);
    // Delivery is at least once: a row still in the outbox at the kill is sent again after the
    // restart. This test is about what happens while the gateway is down, so it waits until the
    // deliveries so far are settled (the application got them and the outbox row is gone).
    await waitUntil(() => Number(execSqlite(path.join(dir, 'notifications.db'), 'SELECT count(*) FROM pending_deliveries')) === 0,
      'the outbox to empty before the kill');

    await first.proc.stop({ signal: 'SIGKILL' });
    expect((await first.proc.exited).signal).toBe('SIGKILL');
    await watched.set('Unreachable'); // while the gateway is down
    await delay(Math.max(0, shortStartedAt + 2300 - Date.now())); // restart-short expires while it is down
    expect(app.of('restart-long')).toHaveLength(2);
    expect(app.of('restart-short')).toHaveLength(1);

    const second = await serve(configFile);
    const long = await app.waitFor('restart-long', 3);
    expect(long.map((r) => [r.kind, r.statuses])).toEqual([
      ['statusNotification', [{ address: watched.uri, status: 'Reachable' }]],
      ['statusNotification', [{ address: watched.uri, status: 'Busy' }]],
      ['statusNotification', [{ address: watched.uri, status: 'Unreachable' }]],
    ]);
    const short = await app.waitFor('restart-short', 2);
    expect(short.map((r) => r.kind)).toEqual(['statusNotification', 'statusEnd']);

    // The restored notification keeps working after the restart.
    await watched.set('Reachable');
    const after = await app.waitFor('restart-long', 4);
    expect(after[3].statuses).toEqual([{ address: watched.uri, status: 'Reachable' }]);
    await delay(300);
    expect(app.of('restart-short')).toHaveLength(2);
    expect(app.of('restart-steady').map((r) => r.statuses)).toEqual([[{ address: steady.uri, status: 'Reachable' }]]);
    expect(app.of('restart-long')).toHaveLength(4);
    await second.proc.stop({ signal: 'SIGTERM' });
    expect((await second.proc.exited).code).toBe(0);
  });

  test('SIGKILL while deliveries wait for the application: after the restart they arrive, in order, at least once', async () => {
    const dir = tempDir('px-outbox-');
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const configFile = writeConfig(dir);
    const app = await newApp();
    const terminal = newPresentity('outbox');
    await terminal.set('Reachable');
    const first = await serve(configFile);
    await startOverSoap(first.manager, { endpoint: app.url, correlator: 'outbox', address: terminal.uri, checkImmediate: true, durationSec: 60 });
    await app.waitFor('outbox', 1);
    // The application goes away: the next changes are decided (lastSeen committed) and their
    // deliveries keep failing and waiting for a retry when the gateway dies.
    await app.stop();
    await terminal.set('Busy');
    await delay(300);
    await terminal.set('Unreachable');
    await waitUntil(() => {
      const rows = execSqlite(path.join(dir, 'notifications.db'), 'SELECT count(*) FROM pending_deliveries');
      return Number(rows) >= 2;
    }, 'two deliveries in the outbox');
    await first.proc.stop({ signal: 'SIGKILL' });
    expect((await first.proc.exited).signal).toBe('SIGKILL');
    expect(app.of('outbox')).toHaveLength(1);

    await app.start();
    const second = await serve(configFile);
    const all = await app.waitFor('outbox', 3);
    expect(all.map((r) => r.statuses)).toEqual([
      [{ address: terminal.uri, status: 'Reachable' }],
      [{ address: terminal.uri, status: 'Busy' }],
      [{ address: terminal.uri, status: 'Unreachable' }],
    ]);
    // Settled deliveries leave the outbox; nothing is sent twice once settled.
    await waitUntil(() => Number(execSqlite(path.join(dir, 'notifications.db'), 'SELECT count(*) FROM pending_deliveries')) === 0,
      'the outbox to empty');
    await delay(300);
    expect(app.of('outbox')).toHaveLength(3);
    await second.proc.stop({ signal: 'SIGTERM' });
    expect((await second.proc.exited).code).toBe(0);
  });
});

function execSqlite(database, sql) {
  return execFileSync('sqlite3', [database, sql]).toString().trim();
}
