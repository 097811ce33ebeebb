'use strict';
// presence.source reg / both against a real Kamailio that is registrar and presence server at
// once (scripts/kamailio/reginfo.cfg.template: usrloc + registrar + pua_reginfo +
// presence_reginfo). A terminal REGISTERs over real SIP (UDP), pua_reginfo PUBLISHes the new
// registration state as reginfo to Kamailio's presence server, and the gateway, a "reg" watcher,
// maps it: registered is Reachable, de-registered Unreachable. With "both", Busy comes from a
// PUBLISHed PIDF document while the terminal is registered.

const fs = require('node:fs');
const soap = require('soap');
const { startKamailio } = require('../../scripts/kamailio/kamailio');
const sip = require('../support/sip');
const { startGateway, tempDir } = require('../support/gateway');
const { startAppEndpoint } = require('../support/appEndpoint');

jest.setTimeout(30000);

let kamailio;
let server;
let names = 0;
const cleanups = [];

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(check, what, timeoutMs = 8000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await check();
    if (last.done) return last.value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last.value)})`);
    }
    await delay(50);
  }
}

/**
 * A terminal that registers with Kamailio (REGISTER over UDP, a fixed Contact so that the
 * de-REGISTER removes exactly that binding).
 */
function terminal(label) {
  names += 1;
  const user = `${label}-${names}`;
  const aor = `sip:${user}@example.test`;
  const contact = `<sip:${user}@127.0.0.1:${5900 + names}>`;
  let cseq = 0;
  const callId = `reg-${user}-${Date.now()}@127.0.0.1`;
  const register = async (expires) => {
    const socket = new sip.SipUdpSocket();
    await socket.open();
    try {
      cseq += 1;
      const headers = [
        ['Max-Forwards', '70'],
        ['From', `<${aor}>;tag=t${names}${cseq}`],
        ['To', `<${aor}>`],
        ['Call-ID', callId],
        ['CSeq', `${cseq} REGISTER`],
        ['Contact', contact],
        ['Expires', String(expires)],
      ];
      const res = await socket.request(server, { method: 'REGISTER', uri: 'sip:example.test', headers });
      if (res.status !== 200) throw new Error(`REGISTER ${aor} expires ${expires}: ${res.status}`);
    } finally {
      socket.close();
    }
  };
  return {
    uri: aor,
    register: () => register(60),
    deregister: () => register(0),
    presence: sip.presentity(server, aor),
  };
}

async function newGateway(source) {
  const fixture = await startGateway({
    presencePort: server.port,
    presenceYaml: `  source: ${source}\n`,
    notificationsYaml: '  minFrequencyMs: 0',
  });
  cleanups.push(async () => {
    await fixture.gateway.close();
    fs.rmSync(fixture.stateDir, { recursive: true, force: true });
  });
  fixture.client = await soap.createClientAsync(`${fixture.endpoint}?wsdl`);
  fixture.status = async (address) => (await fixture.client.getStatusAsync({ address }))[0].result;
  /** Polls getStatus: pua_reginfo PUBLISHes the registration state just after the 200. */
  fixture.becomes = (address, expected) =>
    waitUntil(async () => {
      const value = await fixture.status(address);
      return { done: value === expected, value };
    }, `getStatus(${address}) = ${expected}`);
  return fixture;
}

async function newApp() {
  const app = await startAppEndpoint();
  cleanups.push(() => app.close());
  return app;
}

function start(fixture, app, correlator, addresses) {
  return fixture.gateway.startNotification({
    reference: { endpoint: app.url, correlator, interfaceName: 'TerminalStatusNotification' },
    addresses,
    criteria: [],
    checkImmediate: false,
    frequency: { metric: 'Millisecond', units: 0 },
  }, {});
}

/** Resolves once the notification's first NOTIFY (its baseline) was applied. */
function baseline(fixture, correlator, address, status) {
  return waitUntil(() => {
    const n = fixture.gateway.notifications.list().find((x) => x.correlator === correlator);
    const seen = n && n.addresses.find((a) => a.address === address).lastSeen;
    return { done: seen === status, value: seen };
  }, `${correlator}: first status ${status}`);
}

beforeAll(async () => {
  // A Kamailio that cannot start fails the whole file (no skip).
  kamailio = await startKamailio({ template: 'reginfo', workDir: tempDir('px-kam-reg-') });
  server = { host: '127.0.0.1', port: kamailio.sipPort };
}, 30000);

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()();
});

afterAll(async () => {
  if (kamailio) {
    const workDir = kamailio.workDir;
    await kamailio.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
});

describe('presence.source: reg', () => {
  test('getStatus follows REGISTER and de-REGISTER (SUBSCRIBE Event: reg, reginfo NOTIFY)', async () => {
    const gw = await newGateway('reg');
    const t = terminal('fetch');
    expect(await gw.status(t.uri)).toBe('Unreachable'); // never registered: NOTIFY without body
    await t.register();
    await gw.becomes(t.uri, 'Reachable');
    await t.deregister();
    await gw.becomes(t.uri, 'Unreachable');
    // Nothing was ever PUBLISHed as presence for this AoR: the answers came from reginfo.
    expect(gw.gateway.core.stats()).toMatchObject({ sipErrors: 0, timeouts: 0 });
  });

  test('a presence document does not count: a PUBLISHed open tuple without REGISTER is Unreachable', async () => {
    const gw = await newGateway('reg');
    const t = terminal('pidf-only');
    await t.presence.set('Busy');
    await delay(200);
    expect(await gw.status(t.uri)).toBe('Unreachable');
  });

  test('REGISTER / de-REGISTER drive statusNotifications to the application', async () => {
    const gw = await newGateway('reg');
    const app = await newApp();
    const t = terminal('notify');
    await start(gw, app, 'reg-1', [t.uri]);
    await baseline(gw, 'reg-1', t.uri, 'Unreachable');
    expect(app.received).toEqual([]);

    await t.register();
    const [first] = await app.waitFor('reg-1', 1);
    expect(first).toMatchObject({
      kind: 'statusNotification',
      correlator: 'reg-1',
      statuses: [{ address: t.uri, status: 'Reachable' }],
    });

    await t.deregister();
    const all = await app.waitFor('reg-1', 2);
    expect(all[1].statuses).toEqual([{ address: t.uri, status: 'Unreachable' }]);
    await gw.gateway.endNotification('reg-1');
  });
});

describe('presence.source: both', () => {
  test('getStatus: reachability from the registration, Busy from presence', async () => {
    const gw = await newGateway('both');
    const t = terminal('both');
    await t.presence.set('Busy');
    // Busy published, not registered: Unreachable.
    await delay(200);
    expect(await gw.status(t.uri)).toBe('Unreachable');
    await t.register();
    await gw.becomes(t.uri, 'Busy');
    await t.presence.set('Reachable');
    await gw.becomes(t.uri, 'Reachable');
    // Registered, presence closed: registered means reachable.
    await t.presence.set('Unreachable');
    expect(await gw.status(t.uri)).toBe('Reachable');
    await t.presence.set('Busy');
    await gw.becomes(t.uri, 'Busy');
    await t.deregister();
    await gw.becomes(t.uri, 'Unreachable');
  });

  test('notifications combine a reg and a presence subscription', async () => {
    const gw = await newGateway('both');
    const app = await newApp();
    const t = terminal('both-notify');
    await t.presence.set('Reachable');
    await start(gw, app, 'both-1', [t.uri]);
    await baseline(gw, 'both-1', t.uri, 'Unreachable');

    await t.register();
    const [first] = await app.waitFor('both-1', 1);
    expect(first.statuses).toEqual([{ address: t.uri, status: 'Reachable' }]);

    await t.presence.set('Busy');
    const two = await app.waitFor('both-1', 2);
    expect(two[1].statuses).toEqual([{ address: t.uri, status: 'Busy' }]);

    await t.deregister();
    const three = await app.waitFor('both-1', 3);
    expect(three[2].statuses).toEqual([{ address: t.uri, status: 'Unreachable' }]);
    // Two subscriptions for the one terminal: reg and presence.
    expect(gw.gateway.core.stats().subscriptions).toBe(2);
    await gw.gateway.endNotification('both-1');
  });
});
