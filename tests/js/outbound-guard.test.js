'use strict';
// The SSRF guard (js/outbound) and what must never take the gateway down on the notification
// path: endpoints refused at startNotification with SVC0002, a destination refused again at
// connect time (DNS rebinding), a malformed endpoint that reaches delivery anyway (a row of an
// older version), and stored rows that no longer decode. All against a real gateway over HTTP,
// real application endpoints and the real SQLite notification store.
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { freePort } = require('../../scripts/kamailio/kamailio');
const { startGateway, postSoap, envelope, tempDir } = require('../support/gateway');
const { startAppEndpoint } = require('../support/appEndpoint');
const { parseEnvelope } = require('../../js/soap/envelope');
const { DestinationPolicy, addressBytes } = require('../../js/outbound/destinationPolicy');
const { parseEndpointUrl } = require('../../js/outbound/endpointUrl');
const { NotificationDelivery } = require('../../js/delivery');

const NM_NS = 'http://www.csapi.org/schema/parlayx/terminal_status/notification_manager/v2_3/local';
const MANAGER = '/TerminalStatusNotificationManagerService/services/TerminalStatusNotificationManager';
const NONE_ALLOWED = { allowCidrs: [], allowHosts: [], allowOwnListeners: false };

const cleanups = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()();
});

/** A lookup that answers from a table, the shape of dns.lookup. */
function fakeLookup(table) {
  return (hostname, options, callback) => {
    const list = table[hostname];
    if (!list) {
      const error = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
      error.code = 'ENOTFOUND';
      setImmediate(callback, error);
      return;
    }
    const entries = list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    setImmediate(() => (options.all ? callback(null, entries) : callback(null, entries[0].address, entries[0].family)));
  };
}

describe('DestinationPolicy', () => {
  const policy = new DestinationPolicy(NONE_ALLOWED, { ownPorts: () => [8080, 5070] });

  test.each([
    ['127.0.0.1', 'loopback'],
    ['127.9.9.9', 'loopback'],
    ['::1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['10.1.2.3', 'private'],
    ['172.20.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fd12:3456::1', 'private'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['192.0.2.1', 'documentation'],
    ['2001:db8::1', 'documentation'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['64:ff9b::a00:1', 'private'],
    ['::127.0.0.1', 'reserved'],
  ])('%s is refused as %s', (address, reason) => {
    expect(policy.refusal(address, 80)).toContain(reason);
  });

  test.each(['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8'])('public %s is allowed', (address) => {
    expect(policy.refusal(address, 80)).toBeNull();
  });

  test('every spelling the URL parser accepts ends up as the same address', async () => {
    for (const spelling of ['http://2130706433/', 'http://0x7f.1/', 'http://0177.0.0.1/', 'http://127.1/',
      'http://[::ffff:127.0.0.1]/', 'http://[0:0:0:0:0:ffff:7f00:1]/', 'http://169.254.169.254/latest/meta-data',
      'http://0xa9.0xfe.0xa9.0xfe/', 'http://[::]/', 'http://0/']) {
      const { url } = parseEndpointUrl(spelling);
      await expect(policy.check(url)).rejects.toMatchObject({ code: 'ERR_PX_DESTINATION' });
    }
    expect(policy.stats().refused).toBeGreaterThanOrEqual(10);
  });

  test('addressBytes parses IPv6 forms exactly', () => {
    expect([...addressBytes('::ffff:1.2.3.4')].slice(10)).toEqual([0xff, 0xff, 1, 2, 3, 4]);
    expect([...addressBytes('2001:db8::1')]).toEqual([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(addressBytes('not-an-ip')).toBeNull();
  });

  test('the allow-list lets a range or a host through; own listeners stay refused unless allowed too', () => {
    const allowed = new DestinationPolicy({ allowCidrs: ['127.0.0.0/8', '10.20.0.0/16'], allowHosts: ['apps.internal'], allowOwnListeners: false },
      { ownPorts: () => [8080, 5070] });
    expect(allowed.refusal('127.0.0.1', 9000)).toBeNull();
    expect(allowed.refusal('10.20.3.4', 80)).toBeNull();
    expect(allowed.refusal('10.21.3.4', 80)).toContain('private');
    expect(allowed.refusal('192.168.0.9', 80, 'apps.internal')).toBeNull();
    expect(allowed.refusal('192.168.0.9', 80, 'other.internal')).toContain('private');
    expect(allowed.refusal('127.0.0.1', 8080)).toContain('own listeners');
    expect(allowed.refusal('0.0.0.0', 5070)).toContain('unspecified');
    const self = new DestinationPolicy({ allowCidrs: ['127.0.0.0/8'], allowHosts: [], allowOwnListeners: true },
      { ownPorts: () => [8080] });
    expect(self.refusal('127.0.0.1', 8080)).toBeNull();
  });

  test('a name is refused when any address it resolves to is refused', async () => {
    const named = new DestinationPolicy(NONE_ALLOWED, {
      lookup: fakeLookup({ 'mixed.example': ['93.184.216.34', '10.0.0.1'], 'public.example': ['93.184.216.34'] }),
    });
    await expect(named.check(new URL('http://mixed.example/x'))).rejects.toMatchObject({ code: 'ERR_PX_DESTINATION' });
    await expect(named.check(new URL('http://public.example/x'))).resolves.toBeUndefined();
    await expect(named.check(new URL('http://missing.example/x'))).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  test('the connect-time lookup refuses a name that rebinds to a refused address', (done) => {
    const table = { 'app.example': ['93.184.216.34'] };
    const named = new DestinationPolicy(NONE_ALLOWED, { lookup: fakeLookup(table) });
    named.check(new URL('http://app.example/x')).then(() => {
      table['app.example'] = ['127.0.0.1']; // the attacker's DNS answers differently now
      named.connectLookup(80)('app.example', { all: true }, (error) => {
        expect(error).toMatchObject({ code: 'ERR_PX_DESTINATION' });
        expect(error.message).toContain('loopback');
        done();
      });
    }, done);
  });
});

describe('endpoint URL syntax (one rule at the door and at delivery)', () => {
  test.each([
    'http://a%ZZ@host/x', 'http://u:%E0%A4%A@host/x', 'http://%0d%0aX:y@host/', 'ftp://host/x', 'http:/host', 'http://',
    'http://host /x', 'http://ho\tst/', 'mailto:a@b', '//host/x', 'http://a%3Ab:c@host/',
  ])('%s is refused', (endpoint) => {
    expect(parseEndpointUrl(endpoint)).toBeNull();
  });

  test('user information becomes Basic credentials', () => {
    const parsed = parseEndpointUrl('https://app%40x:p%3Ass@apps.example:8443/ts');
    expect(parsed.authorization).toBe(`Basic ${Buffer.from('app@x:p:ss').toString('base64')}`);
    expect(parsed.url.port).toBe('8443');
  });
});

/** The parts of a SOAP fault answer. */
function faultOf(reply) {
  const fault = parseEnvelope(reply.text).body;
  const exception = fault.children.find((c) => c.name === 'detail').children[0];
  return {
    messageId: exception.children.find((c) => c.name === 'messageId').text,
    variables: exception.children.filter((c) => c.name === 'variables').map((c) => c.text),
  };
}

function startBody(endpoint, correlator) {
  return envelope(`<loc:startNotification><loc:reference><endpoint>${endpoint}</endpoint>`
    + `<interfaceName>TerminalStatusNotification</interfaceName><correlator>${correlator}</correlator></loc:reference>`
    + '<loc:addresses>sip:alice@example.test</loc:addresses><loc:checkImmediate>false</loc:checkImmediate>'
    + '<loc:frequency><metric>Second</metric><units>1</units></loc:frequency><loc:count>3</loc:count>'
    + '</loc:startNotification>', { localNs: NM_NS });
}

describe('startNotification refuses endpoints the guard refuses (SVC0002 endpoint, record INVALID)', () => {
  let fixture;
  let correlator = 0;
  beforeAll(async () => {
    // The default outbound section: nothing but public unicast destinations.
    fixture = await startGateway({ presencePort: await freePort(), outboundYaml: '' });
  });
  afterAll(() => fixture.gateway.close());

  const refusedEndpoints = () => {
    const { port } = fixture.gateway.address();
    const sipPort = fixture.gateway.core.sipPort;
    return [
      'http://a%ZZ@127.0.0.1:9/x',
      `http://127.0.0.1:${port}/parlayx/TerminalStatusService/services/TerminalStatus`,
      `http://localhost:${port}/x`,
      'http://169.254.169.254/latest/meta-data/',
      'http://2130706433:9/x',
      'http://0x7f.1:9/x',
      'http://[::ffff:127.0.0.1]:9/x',
      'http://[::1]:9/x',
      'http://10.0.0.1/x',
      'http://192.168.0.1/x',
      'http://0.0.0.0:9/x',
      `http://127.0.0.1:${sipPort}/`,
    ];
  };

  test('each refused endpoint: SVC0002 endpoint, usage record INVALID, nothing started', async () => {
    for (const endpoint of refusedEndpoints()) {
      correlator += 1;
      const reply = await postSoap(`${fixture.url}${MANAGER}`, startBody(endpoint, `ssrf-${correlator}`));
      expect({ endpoint, status: reply.status }).toEqual({ endpoint, status: 500 });
      expect(faultOf(reply)).toEqual({ messageId: 'SVC0002', variables: ['endpoint'] });
      const records = await fixture.gateway.usage.query({ globalId: reply.headers.get('x-parlayx-global-id') });
      expect(records.map((r) => [r.eventType, r.statusCode])).toEqual([['startNotification', 13]]);
    }
    expect(fixture.gateway.notifications.list()).toEqual([]);
    expect(fixture.gateway.destinations.stats().refused).toBeGreaterThanOrEqual(refusedEndpoints().length - 1);
    // And the gateway still answers.
    const again = await postSoap(`${fixture.url}${MANAGER}`, startBody('http://10.9.9.9/x', 'after'));
    expect(faultOf(again).messageId).toBe('SVC0002');
  });
});

describe('lengths no application needs are refused at the door (SVC0002 for the part)', () => {
  test('endpoint over 2048 characters, correlator or interfaceName over 256', async () => {
    const fixture = await startGateway({ presencePort: await freePort() });
    cleanups.push(() => fixture.gateway.close());
    const app = await startAppEndpoint();
    cleanups.push(() => app.close());
    const start = (reference) => fixture.gateway.startNotification({
      reference: { endpoint: app.url, interfaceName: 'TerminalStatusNotification', correlator: 'len', ...reference },
      addresses: ['sip:alice@example.test'], checkImmediate: false, frequency: { metric: 'Second', units: 1 }, count: 1,
    });
    const longPath = `${app.url}?${'q'.repeat(2048 - app.url.length)}`; // exactly 2049 characters
    await expect(start({ endpoint: longPath })).rejects.toMatchObject({ messageId: 'SVC0002', variables: ['endpoint'] });
    await expect(start({ correlator: 'c'.repeat(257) })).rejects.toMatchObject({ messageId: 'SVC0002', variables: ['correlator'] });
    await expect(start({ interfaceName: 'i'.repeat(257) })).rejects.toMatchObject({ messageId: 'SVC0002', variables: ['interfaceName'] });
    // At the limits they are accepted.
    await expect(start({ endpoint: longPath.slice(0, 2048), correlator: 'c'.repeat(256), interfaceName: 'i'.repeat(256) }))
      .resolves.toBeUndefined();
    expect(fixture.gateway.notifications.list().map((n) => n.correlator)).toEqual(['c'.repeat(256)]);
  });
});

describe('the gateway own listeners stay refused even when loopback is allowed', () => {
  test('SOAP and SIP ports of the gateway itself', async () => {
    const fixture = await startGateway({ presencePort: await freePort() });
    cleanups.push(() => fixture.gateway.close());
    const { port } = fixture.gateway.address();
    for (const target of [port, fixture.gateway.core.sipPort]) {
      const reply = await postSoap(`${fixture.url}${MANAGER}`, startBody(`http://127.0.0.1:${target}/x`, `self-${target}`));
      expect(faultOf(reply)).toEqual({ messageId: 'SVC0002', variables: ['endpoint'] });
    }
  });
});

describe('delivery re-checks the destination on every connection', () => {
  test('a name that now resolves to loopback is BLOCKED_DESTINATION: not connected, not retried, recorded', async () => {
    let connections = 0;
    const server = http.createServer((req, res) => res.end());
    server.on('connection', () => { connections += 1; });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const records = [];
    const usage = { record: (batch) => { records.push(...batch); return Promise.resolve(); } };
    const destinations = new DestinationPolicy(NONE_ALLOWED, { lookup: fakeLookup({ 'rebound.example': ['127.0.0.1'] }) });
    const delivery = new NotificationDelivery({
      config: { timeoutMs: 1000, maxAttempts: 3, retryBackoffMs: 10, retryBackoffMaxMs: 10, maxSocketsPerEndpoint: 2 },
      usage,
      destinations,
    });
    const { port } = server.address();
    delivery.enqueue([
      { kind: 'statusEnd', requester: '', correlator: 'rebind', endpoint: `http://rebound.example:${port}/app`, globalId: 'g-1', sequence: 1 },
      { kind: 'statusEnd', requester: '', correlator: 'literal', endpoint: `http://127.0.0.1:${port}/app`, globalId: 'g-2', sequence: 1 },
    ]);
    await delivery.settled();
    await delivery.close();
    expect(connections).toBe(0);
    const results = records.filter((r) => r.eventType === 'statusEnd_DeliveryResult');
    expect(results.map((r) => r.attributes.FAILURE_REASON)).toEqual(['BLOCKED_DESTINATION', 'BLOCKED_DESTINATION']);
    expect(results.every((r) => /not retried/.test(r.attributes.FAILURE_DETAIL))).toBe(true);
    expect(delivery.stats()).toMatchObject({ failed: 2, retries: 0 });
  });

  test('a malformed delivery from the core is skipped and counted, never thrown', () => {
    const delivery = new NotificationDelivery({
      config: { timeoutMs: 1000, maxAttempts: 1, retryBackoffMs: 10, retryBackoffMaxMs: 10, maxSocketsPerEndpoint: 1 },
      usage: { record: () => Promise.resolve() },
    });
    expect(() => delivery.enqueue([null, { kind: 'statusEnd' }, { kind: 'bogus', correlator: 'x', endpoint: 'y', globalId: 'z' }]))
      .not.toThrow();
    expect(delivery.stats().malformed).toBe(3);
  });
});

describe('stored notifications that cannot run are quarantined; the gateway starts and the rest run on', () => {
  test('an endpoint with a malformed escape and an undecodable row, after a restart', async () => {
    const stateDir = tempDir('px-quarantine-');
    cleanups.push(() => fs.rmSync(stateDir, { recursive: true, force: true }));
    const app = await startAppEndpoint();
    cleanups.push(() => app.close());
    const presencePort = await freePort();
    let fixture = await startGateway({ presencePort, stateDir });
    const start = (correlator) => fixture.gateway.startNotification({
      reference: { endpoint: app.url, interfaceName: 'TerminalStatusNotification', correlator },
      addresses: ['sip:alice@example.test'],
      checkImmediate: false,
      frequency: { metric: 'Second', units: 1 },
      count: 3,
    });
    await start('bad-endpoint');
    await start('bad-row');
    await start('healthy');
    await fixture.gateway.close();

    // What an older version, or a hand edit, could have left behind.
    const db = fixture.notificationsDatabase;
    execFileSync('sqlite3', [db, "UPDATE notifications SET endpoint = 'http://a%ZZ@127.0.0.1:9/x' WHERE correlator = 'bad-endpoint'"]);
    execFileSync('sqlite3', [db, "UPDATE notifications SET criteria = 'Sleepy' WHERE correlator = 'bad-row'"]);

    fixture = await startGateway({ presencePort, stateDir });
    cleanups.push(() => fixture.gateway.close());
    // The undecodable row: the application is told through statusError, the row is kept aside.
    const [told] = await app.waitFor('bad-row', 1);
    expect(told).toMatchObject({ kind: 'statusError', error: { messageId: 'SVC0001' } });
    expect(told.error.variables[0]).toContain('could not be restored');
    // The bad endpoint: ended, with the failed attempt recorded; never a crash.
    const deadline = Date.now() + 5000;
    while (fixture.gateway.notifications.list().length !== 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(fixture.gateway.notifications.list().map((n) => n.correlator)).toEqual(['healthy']);
    await fixture.gateway.delivery.settled();
    const results = await fixture.gateway.usage.query({ eventType: 'statusError_DeliveryResult' });
    expect(results.map((r) => r.serviceData)).toEqual(expect.arrayContaining([expect.stringContaining('FAILURE_REASON=INVALID_ENDPOINT')]));
    expect(fixture.logs.map((l) => l.message)).toEqual(expect.arrayContaining([
      'stored notification quarantined: it cannot be restored',
      'stored notification quarantined: its endpoint is not usable',
    ]));
    const quarantined = execFileSync('sqlite3', [db, 'SELECT correlator, criteria FROM quarantined_notifications']).toString().trim();
    expect(quarantined).toBe('bad-row|Sleepy');
  });
});

describe('the process guard of `parlayx-gateway serve`', () => {
  test('an exception nobody caught is logged and counted; the process keeps running', async () => {
    const script = `
      const { installProcessGuard } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'js', 'processGuard'))});
      const lines = [];
      const guard = installProcessGuard({ log: (level, message) => lines.push(level + ' ' + message) });
      setTimeout(() => { throw new Error('boom'); }, 5);
      setTimeout(() => Promise.reject(new Error('nobody listens')), 10);
      setTimeout(() => { process.stdout.write(JSON.stringify({ lines, stats: guard.stats() })); }, 100);
    `;
    const child = spawn(process.execPath, ['-e', script]);
    let out = '';
    child.stdout.on('data', (chunk) => { out += chunk; });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    const result = JSON.parse(out);
    expect(result.stats).toEqual({ uncaughtExceptions: 1, unhandledRejections: 1 });
    expect(result.lines).toEqual([
      'error uncaught exception (the process keeps running)',
      'error unhandled promise rejection (the process keeps running)',
    ]);
  });
});

describe('name lookups are bounded (libuv pool shared with scrypt)', () => {
  test('at most 2 run at once and 256 wait; beyond, ERR_PX_DNS_BUSY without a lookup', async () => {
    let running = 0;
    let peak = 0;
    let calls = 0;
    const pending = [];
    const slowLookup = (hostname, options, callback) => {
      calls += 1;
      running += 1;
      peak = Math.max(peak, running);
      pending.push(() => {
        running -= 1;
        callback(null, [{ address: '93.184.216.34', family: 4 }]);
      });
    };
    const policy = new DestinationPolicy(NONE_ALLOWED, { lookup: slowLookup });
    const checks = [];
    for (let i = 0; i < 258; i++) checks.push(policy.check(new URL(`http://slow-${i}.example/`)).then(() => 'ok', (e) => e.code));
    const refused = await policy.check(new URL('http://one-too-many.example/')).catch((e) => e.code);
    expect(refused).toBe('ERR_PX_DNS_BUSY');
    expect(calls).toBe(2);
    while (pending.length > 0 || calls < 258) {
      await new Promise((resolve) => setImmediate(resolve));
      const next = pending.shift();
      if (next) next();
    }
    expect(await Promise.all(checks)).toEqual(new Array(258).fill('ok'));
    expect(peak).toBe(2);
    expect(policy.stats()).toMatchObject({ lookups: 258, lookupsRefused: 1 });
  });
});
