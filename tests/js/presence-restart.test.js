'use strict';
// The presence server killed (SIGKILL, the whole Kamailio process group) and restarted on the
// same port under a steady getStatus load, with notifications holding long-lived subscriptions
// (presence.subscriptionExpiresSec 10 s, so refreshed every 5 s). Real parts: a gateway child
// process, Kamailio, real HTTP and SIP on loopback.
//
// Asserted: every getStatus answers within presence.fetchTimeoutMs (+ a small tolerance) with a
// status or SVC0001, never anything else; every one started while Kamailio is down is SVC0001;
// the gateway process stays up; after the restart getStatus works again, and each held
// subscription is re-established within one refresh period: a status PUBLISHed right after the
// restart reaches the application as a statusNotification. Kamailio keeps presence in memory
// (and a fresh database) in the test config, so the restart loses every publication: the test
// publishes again.
const fs = require('node:fs');
const { startKamailio } = require('../../scripts/kamailio/kamailio');
const sip = require('../support/sip');
const { postSoap, envelope, tempDir, basicAuth } = require('../support/gateway');
const { writeHostileConfig, NM_NS } = require('../support/hostileGateway');
const { serveGateway } = require('../support/gatewayProcess');
const { startAppEndpoint } = require('../support/appEndpoint');

jest.setTimeout(90000);

const AUTH = basicAuth('acme', 'acme-password');
const FETCH_TIMEOUT_MS = 1000;
const TOLERANCE_MS = 400;
const EXPIRES_SEC = 10;
const REFRESH_PERIOD_MS = (EXPIRES_SEC * 1000) / 2; // README: refreshed at half the granted expiry
const LOAD_PER_SEC = 50;
const TERMINALS = 3;

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const cleanups = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()();
});

function getStatusBody(address) {
  return envelope(`<loc:getStatus><loc:address>${address}</loc:address></loc:getStatus>`);
}

/** Classifies a getStatus answer: 'Reachable'|'Unreachable'|'Busy', 'SVC0001', or 'other: ...'. */
function outcome(reply) {
  const result = /<ns:result>(\w+)<\/ns:result>/.exec(reply.text);
  if (reply.status === 200 && result) return result[1];
  if (reply.status === 500 && /<messageId>SVC0001<\/messageId>/.test(reply.text)) return 'SVC0001';
  return `other: ${reply.status} ${reply.text.slice(0, 300)}`;
}

/**
 * Sends getStatus at a steady rate until stop() and keeps every answer with its start and end
 * time (Date.now()).
 */
function startLoad(endpoint, address) {
  const results = [];
  const inFlight = new Set();
  const fire = () => {
    const startedAt = Date.now();
    const request = postSoap(endpoint, getStatusBody(address), AUTH)
      .then((reply) => outcome(reply), (error) => `other: ${error.cause ? error.cause.code || error.cause.message : error.message}`)
      .then((result) => results.push({ startedAt, endedAt: Date.now(), result }));
    inFlight.add(request);
    request.finally(() => inFlight.delete(request));
  };
  const timer = setInterval(fire, 1000 / LOAD_PER_SEC);
  return {
    results,
    async stop() {
      clearInterval(timer);
      await Promise.all([...inFlight]);
    },
  };
}

function publisher(server) {
  const etags = new Map();
  return async (presentity, status) => {
    const body = { Reachable: { basic: 'open' }, Unreachable: { basic: 'closed' }, Busy: { basic: 'open', activities: ['on-the-phone'] } }[status];
    const published = await sip.publish({ server, presentity, etag: etags.get(presentity), ...body });
    expect(published.status).toBe(200);
    etags.set(presentity, published.etag);
  };
}

// 3 s down: refreshes and re-subscriptions fail meanwhile (ICMP port unreachable: 503) and the
// gateway keeps retrying with backoff. 0 s: restarted at once, usually between two refreshes, so
// the next refresh reaches a Kamailio that has never heard of the dialog (481).
test.each([[3000], [0]])('SIGKILL of Kamailio under load, down for %i ms: SVC0001 within the fetch timeout while down; after a restart getStatus and the held subscriptions recover', async (downMs) => {
  const workDir = tempDir('px-kam-restart-');
  let kamailio = await startKamailio({ workDir });
  const port = kamailio.sipPort;
  const server = { host: '127.0.0.1', port };
  cleanups.push(() => kamailio.stop().then(() => fs.rmSync(workDir, { recursive: true, force: true })));
  let publish = publisher(server);
  const alice = 'sip:alice@example.test';
  const terminals = Array.from({ length: TERMINALS }, (_, i) => `sip:held-${i}@example.test`);
  await publish(alice, 'Reachable');
  for (const t of terminals) await publish(t, 'Reachable');

  const stateDir = tempDir('px-restart-state-');
  cleanups.push(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const configFile = writeHostileConfig({
    presencePort: port,
    stateDir,
    fetchTimeoutMs: FETCH_TIMEOUT_MS,
    // Failures while Kamailio is down must not make the gateway give the terminals up.
    presenceYaml: `  subscriptionExpiresSec: ${EXPIRES_SEC}
  subscribeTimeoutMs: 1000
  resubscribeBackoffMs: 200
  resubscribeBackoffMaxMs: 1000
  maxSubscribeFailures: 100`,
    notificationsYaml: '  minFrequencyMs: 0',
  });
  const gw = await serveGateway(configFile);
  cleanups.push(() => gw.proc.stop({ signal: 'SIGKILL' }));
  const app = await startAppEndpoint();
  cleanups.push(() => app.close());
  for (const [i, t] of terminals.entries()) {
    const reply = await postSoap(gw.managerEndpoint, envelope(`<loc:startNotification>
  <loc:reference><endpoint>${app.url}</endpoint><interfaceName>TerminalStatusNotification</interfaceName><correlator>held-${i}</correlator></loc:reference>
  <loc:addresses>${t}</loc:addresses><loc:checkImmediate>true</loc:checkImmediate>
  <loc:frequency><metric>Millisecond</metric><units>0</units></loc:frequency>
</loc:startNotification>`, { localNs: NM_NS }), AUTH);
    expect(reply.status).toBe(200);
  }
  // checkImmediate: one Reachable each proves every subscription is established.
  for (let i = 0; i < TERMINALS; i++) expect((await app.waitFor(`held-${i}`, 1))[0].statuses[0].status).toBe('Reachable');

  const load = startLoad(gw.endpoint, alice);
  await delay(2000);
  // SIGKILL the whole process group (main process and workers): no goodbye, sockets just vanish.
  const killedAt = Date.now();
  process.kill(-kamailio.pid, 'SIGKILL');
  await kamailio.exited;
  await kamailio.stop(); // reaps the supervised handle; the work dir is reused below
  await delay(downMs);
  const restartAt = Date.now();
  kamailio = await startKamailio({ sipPort: port, workDir });
  const upAt = Date.now();
  publish = publisher(server);
  await publish(alice, 'Busy');
  for (const t of terminals) await publish(t, 'Busy');
  await delay(2000);
  await load.stop();

  // Every answer: in time, and a status or SVC0001.
  const late = load.results.filter((r) => r.endedAt - r.startedAt > FETCH_TIMEOUT_MS + TOLERANCE_MS);
  expect(late).toEqual([]);
  expect(load.results.filter((r) => !/^(Reachable|Unreachable|Busy|SVC0001)$/.test(r.result))).toEqual([]);
  // The load really ran (the timer rate drops on a busy machine; the phases below are what count).
  expect(load.results.length).toBeGreaterThanOrEqual(LOAD_PER_SEC * 3);
  const before = load.results.filter((r) => r.endedAt < killedAt);
  const down = load.results.filter((r) => r.startedAt > killedAt + 50 && r.endedAt < restartAt);
  const afterRepublish = load.results.filter((r) => r.startedAt > upAt + 1000);
  expect(before.length).toBeGreaterThan(LOAD_PER_SEC / 2);
  expect(new Set(before.map((r) => r.result))).toEqual(new Set(['Reachable']));
  if (downMs > 0) {
    expect(down.length).toBeGreaterThan((LOAD_PER_SEC * downMs) / 2000);
    expect(new Set(down.map((r) => r.result))).toEqual(new Set(['SVC0001']));
  }
  expect(afterRepublish.length).toBeGreaterThan(LOAD_PER_SEC / 2);
  expect(new Set(afterRepublish.map((r) => r.result))).toEqual(new Set(['Busy']));

  // The held subscriptions: re-established (481 to the refresh, then a new dialog) within one
  // refresh period of the restart, so the Busy published after it is reported.
  for (let i = 0; i < TERMINALS; i++) {
    const received = await app.waitFor(`held-${i}`, 2, REFRESH_PERIOD_MS + 2000 - (Date.now() - upAt));
    const last = received[received.length - 1];
    expect(last).toMatchObject({ kind: 'statusNotification', statuses: [{ address: terminals[i], status: 'Busy' }] });
    expect(last.at - restartAt).toBeLessThan(REFRESH_PERIOD_MS + 2000);
    // Nothing but statusNotifications: the gateway never gave a terminal up (no statusError).
    expect(received.every((r) => r.kind === 'statusNotification')).toBe(true);
  }
  // And they keep working: the next change goes through the new dialog at once.
  const count = app.of('held-0').length;
  await publish(terminals[0], 'Unreachable');
  const after = await app.waitFor('held-0', count + 1, 3000);
  expect(after[count].statuses).toEqual([{ address: terminals[0], status: 'Unreachable' }]);

  expect(gw.proc.hasExited()).toBe(false);
  expect((await gw.stop()).code).toBe(0);
  expect(gw.proc.logs()).not.toMatch(/uncaught|unhandled|"level":"error"/i);
});
