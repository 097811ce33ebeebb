'use strict';
// CAMARA Device Reachability Status retrieve end to end: real HTTP, access tokens signed with a
// key made here (jose) and checked against its JWKS file, the native SIP watcher, and a real
// Kamailio presence server whose users' presence is set by real SIP PUBLISH. The same getStatus
// path as Parlay X: the policy (pacer, privacy, address plan) refuses with CAMARA errors, and
// every request writes a usage record with the CAMARA SERVICE.
const { startKamailio, freePort } = require('../../scripts/kamailio/kamailio');
const sip = require('../support/sip');
const { startGateway, tempDir, testPasswordHash } = require('../support/gateway');
const { startAppEndpoint } = require('../support/appEndpoint');
const {
  createIssuer, camaraYaml, postJson, originOf, RETRIEVE_PATH,
} = require('../support/camara');

let kamailio;
let server;
let fixture;
let issuer;
let url;

const REQUESTERS = {
  acme: '',
  paced: '\n    policy:\n      pacer: { limit: 2, windowMs: 60000 }',
  german: '\n    policy:\n      addressPlan:\n        countryCodes: ["49"]',
};

beforeAll(async () => {
  const port = await freePort();
  kamailio = await startKamailio({ sipPort: port, workDir: tempDir('px-kamailio-') });
  server = { host: '127.0.0.1', port };
  const publications = [
    ['sip:+15550001@example.test', 'open', undefined],
    ['sip:+15550002@example.test', 'open', ['on-the-phone']],
    ['sip:+15550003@example.test', 'closed', undefined],
    ['sip:+15550004@example.test', 'open', undefined],
    ['sip:+15550005@example.test', 'open', undefined],
  ];
  for (const [presentity, basic, activities] of publications) {
    expect((await sip.publish({ server, presentity, basic, activities })).status).toBe(200);
  }
  const dir = tempDir('px-camara-');
  issuer = await createIssuer(dir);
  fixture = await startGateway({
    presencePort: port,
    policyYaml: '  privacy:\n    optedOut: ["tel:+15550004"]\n',
    extraYaml: `requesters:
${Object.entries(REQUESTERS).map(([name, policy]) => `  ${name}:\n    passwordHash: "${testPasswordHash('pw')}"${policy}\n`).join('')}
${camaraYaml({
    jwksFile: issuer.jwksFile,
    clients: { 'app-acme': 'acme', 'app-paced': 'paced', 'app-german': 'german' },
    extra: '  connectivity:\n    busy: [SMS]\n',
  })}`,
  });
  url = `${originOf(fixture.url)}${RETRIEVE_PATH}`;
}, 30000);

afterAll(async () => {
  if (fixture) await fixture.gateway.close();
  if (kamailio) await kamailio.stop();
});

/** A retrieve as client `client` (default app-acme); resolves { status, body, headers, records }. */
async function retrieve(body, { client = 'app-acme', claims = {}, headers = {} } = {}) {
  const token = await issuer.token({ client_id: client, sub: client, ...claims });
  const reply = await postJson(url, body, { authorization: `Bearer ${token}`, ...headers });
  const globalId = reply.headers.get('x-parlayx-global-id');
  const records = globalId ? await fixture.gateway.usage.query({ globalId }) : [];
  return { ...reply, records };
}

const device = (phoneNumber) => ({ device: { phoneNumber } });

describe('retrieve answers from presence', () => {
  test('open presence (registered): reachable for DATA and SMS, lastStatusTime now, a usage record with the CAMARA SERVICE', async () => {
    const before = Date.now();
    const reply = await retrieve(device('+15550001'));
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
    expect(reply.body).toEqual({ reachable: true, connectivity: ['DATA', 'SMS'], lastStatusTime: expect.any(String) });
    const time = Date.parse(reply.body.lastStatusTime);
    expect(time).toBeGreaterThanOrEqual(before - 5);
    expect(time).toBeLessThanOrEqual(Date.now());
    expect(reply.records).toHaveLength(1);
    expect(reply.records[0]).toMatchObject({ eventType: 'getStatus', statusCode: 0 });
    expect(reply.records[0].attributes).toMatchObject({
      REQUESTER: 'acme', SERVICE: 'CAMARA_DRS_SIP', TARGET: 'tel:+15550001',
    });
  });

  test('open with a busy activity: reachable with the configured busy connectivity (SMS only here)', async () => {
    const reply = await retrieve(device('+15550002'));
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ reachable: true, connectivity: ['SMS'] });
  });

  test.each([
    ['closed presence', '+15550003'],
    ['no presence published (not registered)', '+15550009'],
  ])('%s: not reachable, no connectivity', async (_, phoneNumber) => {
    const reply = await retrieve(device(phoneNumber));
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ reachable: false, lastStatusTime: expect.any(String) });
    expect(Number.isNaN(Date.parse(reply.body.lastStatusTime))).toBe(false);
  });

  test('a presence change published over SIP is seen by the next retrieve', async () => {
    const presentity = 'sip:+15550006@example.test';
    const first = await sip.publish({ server, presentity, basic: 'closed' });
    expect((await retrieve(device('+15550006'))).body.reachable).toBe(false);
    await sip.publish({ server, presentity, etag: first.etag, basic: 'open' });
    expect((await retrieve(device('+15550006'))).body).toMatchObject({ reachable: true, connectivity: ['DATA', 'SMS'] });
  });

  test('a device the token names (three-legged): no device in the body', async () => {
    const reply = await retrieve({}, { claims: { phone_number: '+15550001' } });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ reachable: true });
    expect(reply.records[0].attributes.TARGET).toBe('tel:+15550001');
  });

  test('a terminal a running notification watches is answered from its subscription, without a fetch', async () => {
    const app = await startAppEndpoint();
    try {
      await fixture.gateway.startNotification({
        reference: { endpoint: app.url, correlator: 'camara-live', interfaceName: 'TerminalStatusNotification' },
        addresses: ['tel:+15550005'],
        criteria: [],
        checkImmediate: false,
        frequency: { metric: 'Second', units: 1 },
      }, { requester: 'acme' });
      // The subscription's first NOTIFY makes the terminal live.
      const stats = () => fixture.gateway.core.stats();
      const answeredBefore = stats().fetchesAnsweredFromSubscriptions;
      let reply;
      for (let i = 0; i < 50; i++) {
        reply = await retrieve(device('+15550005'));
        if (stats().fetchesAnsweredFromSubscriptions > answeredBefore) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(stats().fetchesAnsweredFromSubscriptions).toBe(answeredBefore + 1);
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({ reachable: true, connectivity: ['DATA', 'SMS'] });
      expect(reply.records[0].attributes.SERVICE).toBe('CAMARA_DRS_SIP');
    } finally {
      await fixture.gateway.endNotification('camara-live', { requester: 'acme' }).catch(() => {});
      await app.close();
    }
  });
});

describe('x-correlator', () => {
  test('a valid one is echoed, on success and on errors', async () => {
    const ok = await retrieve(device('+15550001'), { headers: { 'x-correlator': 'b4333c46-49c0-4f62-80d7-f0ef930f1c46' } });
    expect(ok.headers.get('x-correlator')).toBe('b4333c46-49c0-4f62-80d7-f0ef930f1c46');
    const refused = await retrieve({ device: { ipv6Address: '2001:db8::1' } }, { headers: { 'x-correlator': 'abc-123' } });
    expect(refused.status).toBe(422);
    expect(refused.headers.get('x-correlator')).toBe('abc-123');
  });

  test('none given: one is made up (a UUID, matching the contract pattern)', async () => {
    const reply = await retrieve(device('+15550001'));
    expect(reply.headers.get('x-correlator')).toMatch(/^[a-zA-Z0-9-]{1,55}$/);
  });

  test('one that breaks the contract pattern: 400 INVALID_ARGUMENT, not echoed', async () => {
    const reply = await retrieve(device('+15550001'), { headers: { 'x-correlator': 'no spaces allowed' } });
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ status: 400, code: 'INVALID_ARGUMENT' });
    expect(reply.headers.get('x-correlator')).not.toBe('no spaces allowed');
    expect(reply.headers.get('x-correlator')).toMatch(/^[a-zA-Z0-9-]{1,55}$/);
    expect(reply.records).toEqual([]);
  });
});

describe('device identification', () => {
  test.each([
    ['an IPv4 address', { ipv4Address: { publicAddress: '84.125.93.10', publicPort: 59765 } }],
    ['an IPv6 address', { ipv6Address: '2001:db8:85a3:8d3:1319:8a2e:370:7344' }],
    ['a network access identifier', { networkAccessIdentifier: '123456789@domain.com' }],
  ])('only %s: 422 UNSUPPORTED_IDENTIFIER', async (_, deviceObject) => {
    const reply = await retrieve({ device: deviceObject });
    expect(reply.status).toBe(422);
    expect(reply.body).toEqual({ status: 422, code: 'UNSUPPORTED_IDENTIFIER', message: expect.any(String) });
    expect(reply.records).toEqual([]);
  });

  test('a phone number beside an unsupported identifier: the phone number is used', async () => {
    const reply = await retrieve({ device: { phoneNumber: '+15550001', ipv6Address: '2001:db8::1' } });
    expect(reply.status).toBe(200);
    expect(reply.body.reachable).toBe(true);
  });

  test('no device and a two-legged token: 422 MISSING_IDENTIFIER', async () => {
    const reply = await retrieve({});
    expect(reply.status).toBe(422);
    expect(reply.body).toMatchObject({ status: 422, code: 'MISSING_IDENTIFIER' });
  });

  test('a device in the body and one in the token: 422 UNNECESSARY_IDENTIFIER', async () => {
    const reply = await retrieve(device('+15550001'), { claims: { phone_number: '+15550001' } });
    expect(reply.status).toBe(422);
    expect(reply.body).toMatchObject({ status: 422, code: 'UNNECESSARY_IDENTIFIER' });
  });
});

describe('invalid requests: 400 INVALID_ARGUMENT, checked against the contract schema', () => {
  test.each([
    ['a phone number without +', device('15550001')],
    ['a phone number too short', device('+1234')],
    ['an empty device', { device: {} }],
    ['an IPv4 device with neither privateAddress nor publicPort', { device: { ipv4Address: { publicAddress: '84.125.93.10' } } }],
    ['an IPv6 address that is none', { device: { ipv6Address: 'not-an-address' } }],
    ['a JSON array', []],
    ['not JSON', '{"device":'],
  ])('%s', async (_, body) => {
    const reply = await retrieve(body);
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({ status: 400, code: 'INVALID_ARGUMENT', message: expect.any(String) });
    expect(reply.records).toEqual([]);
  });

  test('no body at all (the contract requires one)', async () => {
    const token = await issuer.token();
    const response = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ status: 400, code: 'INVALID_ARGUMENT' });
  });

  test('a method other than POST: 405 with a CAMARA body', async () => {
    const response = await fetch(url, { method: 'GET' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect(await response.json()).toMatchObject({ status: 405, code: 'METHOD_NOT_ALLOWED' });
  });
});

describe('policy refusals as CAMARA errors, recorded like getStatus', () => {
  test('the requester\'s pacer: 429 TOO_MANY_REQUESTS with STATUSCODE FAILED_PACER (4)', async () => {
    expect((await retrieve(device('+15550001'), { client: 'app-paced' })).status).toBe(200);
    expect((await retrieve(device('+15550001'), { client: 'app-paced' })).status).toBe(200);
    const refused = await retrieve(device('+15550001'), { client: 'app-paced' });
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({ status: 429, code: 'TOO_MANY_REQUESTS', message: expect.any(String) });
    expect(refused.headers.get('x-correlator')).toBeTruthy();
    expect(refused.records).toHaveLength(1);
    expect(refused.records[0]).toMatchObject({ eventType: 'getStatus', statusCode: 4 });
    expect(refused.records[0].attributes).toMatchObject({
      REQUESTER: 'paced', SERVICE: 'CAMARA_DRS_SIP', FAILURE_REASON: 'POL0001', ERROR_TYPE: 'PolicyException',
    });
    // Counted under the requester like every policy outcome.
    expect(fixture.gateway.policyCounters({ requester: 'paced' })).toContainEqual(expect.objectContaining({
      operation: 'getStatus', outcome: 'FAILED_PACER', count: 1,
    }));
  });

  test('privacy (opted out): 403 PERMISSION_DENIED with STATUSCODE FAILED_PRIVACY (1)', async () => {
    const refused = await retrieve(device('+15550004'));
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ status: 403, code: 'PERMISSION_DENIED' });
    expect(refused.records[0]).toMatchObject({ statusCode: 1 });
  });

  test('outside the requester\'s address plan: 404 IDENTIFIER_NOT_FOUND', async () => {
    const refused = await retrieve(device('+15550001'), { client: 'app-german' });
    expect(refused.status).toBe(404);
    expect(refused.body).toMatchObject({ status: 404, code: 'IDENTIFIER_NOT_FOUND' });
    expect(refused.records[0]).toMatchObject({ statusCode: 2 });
  });
});
