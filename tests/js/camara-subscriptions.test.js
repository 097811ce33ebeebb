'use strict';
// CAMARA Device Reachability Status Subscriptions v0.7 end to end: real HTTP, access tokens
// signed by a test issuer (tests/support/camara.js), the native SIP watcher, a real Kamailio
// presence server whose users' presence is set by SIP PUBLISH, and a real HTTP sink on loopback
// that receives the CloudEvents. The subscriptions are Parlay X notifications of the same engine:
// one SUBSCRIBE dialog per terminal whatever API asked, one store (a restart restores them).
const { startKamailio, freePort } = require('../../scripts/kamailio/kamailio');
const sip = require('../support/sip');
const { startGateway, tempDir, testPasswordHash } = require('../support/gateway');
const { startEventSink } = require('../support/eventSink');
const { startAppEndpoint } = require('../support/appEndpoint');
const { createIssuer, camaraYaml, originOf } = require('../support/camara');
const { startPostgres } = require('../support/postgres');
const path = require('node:path');

jest.setTimeout(30000);

const BASE = '/device-reachability-status-subscriptions/v0.7/subscriptions';
const PREFIX = 'org.camaraproject.device-reachability-status-subscriptions.v0.';
const DATA = `${PREFIX}reachability-data`;
const SMS = `${PREFIX}reachability-sms`;
const DISCONNECTED = `${PREFIX}reachability-disconnected`;
const ENDS = `${PREFIX}subscription-ends`;
const ALL_SCOPES = [
  `device-reachability-status-subscriptions:${DATA}:create`,
  `device-reachability-status-subscriptions:${SMS}:create`,
  `device-reachability-status-subscriptions:${DISCONNECTED}:create`,
  'device-reachability-status-subscriptions:read',
  'device-reachability-status-subscriptions:delete',
].join(' ');

let kamailio;
let presence;
let issuer;
let fixture;
let origin;
let numbers = 0;
const cleanups = [];

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(check, what, timeoutMs = 8000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(20);
  }
}

/** A fresh phone number and its presentity (PUBLISHed by set()). */
function newDevice() {
  numbers += 1;
  const phoneNumber = `+1555${String(7000 + numbers)}`;
  return { phoneNumber, ...sip.presentity(presence, `sip:${phoneNumber}@example.test`) };
}

async function newSink() {
  const sink = await startEventSink();
  cleanups.push(() => sink.close());
  return sink;
}

async function gatewayOn(stateDir, extra = '', storeYaml = '') {
  const f = await startGateway({
    presencePort: presence.port,
    stateDir,
    notificationsYaml: '  minFrequencyMs: 0',
    extraYaml: `requesters:
  acme:
    passwordHash: "${testPasswordHash('pw')}"
  other:
    passwordHash: "${testPasswordHash('pw')}"
${camaraYaml({
    jwksFile: issuer.jwksFile,
    clients: { 'app-acme': 'acme', 'app-other': 'other' },
    extra: `  connectivity:\n    busy: [SMS]\n  subscriptions:\n    maxPerRequester: 5\n${extra}`,
  })}
${storeYaml}`,
  });
  return f;
}

/** One request to the API as `client`; resolves { status, body, headers }. */
function call(method, path, body, options) {
  return callAt(origin, method, path, body, options);
}

/** call() against the gateway at `at`. */
async function callAt(at, method, path, body, { client = 'app-acme', scope = ALL_SCOPES, headers = {}, claims = {} } = {}) {
  const token = await issuer.token({ client_id: client, sub: client, scope, ...claims });
  const init = { method, headers: { authorization: `Bearer ${token}`, ...headers } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const response = await fetch(`${at}${path}`, init);
  const text = await response.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON (204)
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

function request(sink, phoneNumber, { type = DATA, config = {}, credential = true, ...rest } = {}) {
  const body = {
    protocol: 'HTTP',
    sink: sink.url,
    types: [type],
    config: { subscriptionDetail: { device: { phoneNumber } }, ...config },
    ...rest,
  };
  if (credential) {
    body.sinkCredential = {
      credentialType: 'ACCESSTOKEN', accessToken: 'sink-token-123', accessTokenType: 'bearer',
      accessTokenExpiresUtc: new Date(Date.now() + 2 * 86400e3).toISOString(),
    };
  }
  return body;
}

/** Creates a subscription and waits until its terminal's first status is known (baseline). */
async function subscribe(body, options) {
  const reply = await call('POST', BASE, body, options);
  expect(reply.status).toBe(201);
  const id = reply.body.id;
  await waitUntil(() => {
    const n = fixture.gateway.core.getNotification(options && options.client === 'app-other' ? 'other' : 'acme', id);
    return n === null || n.addresses[0].lastSeen !== undefined;
  }, 'the first NOTIFY of the subscription');
  return reply;
}

function expectEvent(event, { type, id, phoneNumber }) {
  expect(event.method).toBe('POST');
  expect(event.headers['content-type']).toBe('application/cloudevents+json');
  expect(event.headers.authorization).toBe('Bearer sink-token-123');
  expect(event.body).toMatchObject({
    specversion: '1.0',
    type,
    source: '/device-reachability-status-subscriptions/v0.7',
    datacontenttype: 'application/json',
    id: expect.stringMatching(/^\d+-/),
    data: { device: { phoneNumber }, subscriptionId: id },
  });
  expect(Number.isNaN(Date.parse(event.body.time))).toBe(false);
}

beforeAll(async () => {
  const port = await freePort();
  kamailio = await startKamailio({ sipPort: port, workDir: tempDir('px-kamailio-') });
  presence = { host: '127.0.0.1', port };
  issuer = await createIssuer(tempDir('px-camara-'));
  fixture = await gatewayOn(tempDir('px-drs-'));
  origin = originOf(fixture.url);
}, 30000);

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()();
});

afterAll(async () => {
  if (fixture) await fixture.gateway.close();
  if (kamailio) await kamailio.stop();
});

describe('the lifecycle', () => {
  test('create: 201 with the contract body; a PUBLISH into the state: one CloudEvent with the Bearer sink credential; DELETE: 204 and subscription-ends', async () => {
    const device = newDevice();
    await device.set('Unreachable');
    const sink = await newSink();
    const created = await subscribe(request(sink, device.phoneNumber, { config: { initialEvent: false } }));
    expect(created.headers.get('content-type')).toMatch(/^application\/json/);
    expect(created.headers.get('x-correlator')).toBeTruthy();
    expect(created.body).toEqual({
      id: expect.any(String),
      protocol: 'HTTP',
      sink: sink.url,
      types: [DATA],
      config: { subscriptionDetail: { device: { phoneNumber: device.phoneNumber } }, initialEvent: false },
      startsAt: expect.any(String),
      expiresAt: expect.any(String),
      status: 'ACTIVE',
    });
    const id = created.body.id;
    // Default expiry: camara.subscriptions.defaultExpirySec (a day).
    expect(Date.parse(created.body.expiresAt) - Date.parse(created.body.startsAt)).toBe(86400e3);

    await device.set('Reachable');
    const [event] = await sink.waitFor(1);
    expectEvent(event, { type: DATA, id, phoneNumber: device.phoneNumber });
    // Reachable -> Busy is reachable for SMS only here (connectivity.busy: [SMS]): out of the
    // data state, no event; back to Reachable: into it again, one more.
    await device.set('Busy');
    await delay(300);
    expect(sink.events).toHaveLength(1);
    await device.set('Reachable');
    await sink.waitFor(2);
    expect(sink.events[1].body.type).toBe(DATA);
    expect(sink.events[1].body.id).not.toBe(sink.events[0].body.id);

    const got = await call('GET', `${BASE}/${id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(created.body);

    const deleted = await call('DELETE', `${BASE}/${id}`);
    expect(deleted.status).toBe(204);
    expect(deleted.body).toBe('');
    const ends = (await sink.waitFor(3))[2];
    expect(ends.body).toMatchObject({
      type: ENDS, specversion: '1.0',
      data: { subscriptionId: id, terminationReason: 'SUBSCRIPTION_DELETED', device: { phoneNumber: device.phoneNumber } },
    });
    expect(ends.headers.authorization).toBe('Bearer sink-token-123');
    const gone = await call('GET', `${BASE}/${id}`);
    expect(gone.status).toBe(404);
    expect((await call('DELETE', `${BASE}/${id}`)).status).toBe(404);
    await waitUntil(() => fixture.gateway.core.stats().watchedTerminals === 0, 'the terminal to be unwatched');

    // Usage records: create and delete, SERVICE the CAMARA one; the deliveries under the GLOBALID.
    await fixture.gateway.delivery.settled();
    const records = await fixture.gateway.usage.query({ globalId: created.headers.get('x-parlayx-global-id') });
    const types = records.map((r) => r.eventType);
    expect(types).toContain('startNotification');
    expect(types).toContain('statusNotification_DeliveryResult');
    expect(types).toContain('statusEnd_DeliveryResult');
    const start = records.find((r) => r.eventType === 'startNotification');
    expect(start.attributes).toMatchObject({ SERVICE: 'CAMARA_DRS_SIP', REQUESTER: 'acme', CORRELATOR: id, TARGET: `tel:${device.phoneNumber}` });
    const end = await fixture.gateway.usage.query({ globalId: deleted.headers.get('x-parlayx-global-id') });
    expect(end[0]).toMatchObject({ eventType: 'endNotification', statusCode: 0 });
    expect(end[0].attributes).toMatchObject({ SERVICE: 'CAMARA_DRS_SIP', CORRELATOR: id });
    // Every delivery record (two events and subscription-ends, attempted and result) names the
    // CAMARA service itself, not only through the create's GLOBALID.
    const deliveries = records.filter((r) => /_Delivery(Attempted|Result)$/.test(r.eventType));
    expect(deliveries).toHaveLength(6);
    for (const r of deliveries) expect(r.attributes.SERVICE).toBe('CAMARA_DRS_SIP');

    // GET: one getNotification record each, the 404 one INVALID with SVC0002.
    const [read] = await fixture.gateway.usage.query({ globalId: got.headers.get('x-parlayx-global-id') });
    expect(read).toMatchObject({ eventType: 'getNotification', statusCode: 0 });
    expect(read.attributes).toEqual({
      REQUESTER: 'acme', RESPONSE_TIME: expect.stringMatching(/^\d+$/), START_TIME: expect.any(String),
      CORRELATOR: id, SERVICE: 'CAMARA_DRS_SIP', TARGET: `tel:${device.phoneNumber}`,
    });
    const goneRecords = await fixture.gateway.usage.query({ globalId: gone.headers.get('x-parlayx-global-id') });
    expect(goneRecords).toHaveLength(1);
    expect(goneRecords[0]).toMatchObject({ eventType: 'getNotification', statusCode: 13, status: 'INVALID' });
    expect(goneRecords[0].attributes).toMatchObject({
      REQUESTER: 'acme', CORRELATOR: id, SERVICE: 'CAMARA_DRS_SIP', FAILURE_REASON: 'SVC0002', ERROR_TYPE: 'ServiceException',
    });
    expect(goneRecords[0].attributes.TARGET).toBeUndefined();
  });

  test('initialEvent: the current state is reported at once; subscriptionMaxEvents reached: subscription-ends and gone', async () => {
    const device = newDevice();
    await device.set('Reachable');
    const sink = await newSink();
    const created = await call('POST', BASE, request(sink, device.phoneNumber, { config: { initialEvent: true, subscriptionMaxEvents: 2 } }));
    expect(created.status).toBe(201);
    const id = created.body.id;
    const [initial] = await sink.waitFor(1);
    expectEvent(initial, { type: DATA, id, phoneNumber: device.phoneNumber });
    await device.set('Unreachable');
    await delay(200);
    await device.set('Reachable');
    const events = await sink.waitFor(3);
    expect(events.map((e) => e.body.type)).toEqual([DATA, DATA, ENDS]);
    expect(events[2].body.data).toMatchObject({ subscriptionId: id, terminationReason: 'MAX_EVENTS_REACHED' });
    expect((await call('GET', `${BASE}/${id}`)).status).toBe(404);
  });

  test('initialEvent for a state the device is not in: nothing; disconnected and sms types', async () => {
    const device = newDevice();
    await device.set('Reachable');
    const sink = await newSink();
    const disconnected = await subscribe(request(sink, device.phoneNumber, { type: DISCONNECTED, config: { initialEvent: true } }));
    const sms = await subscribe(request(sink, device.phoneNumber, { type: SMS, config: { initialEvent: true } }));
    await delay(200);
    expect(sink.events).toHaveLength(0);
    await device.set('Unreachable');
    const [off] = await sink.waitFor(1);
    expect(off.body).toMatchObject({ type: DISCONNECTED, data: { subscriptionId: disconnected.body.id } });
    await device.set('Busy'); // SMS only (connectivity.busy)
    const events = await sink.waitFor(2);
    expect(events[1].body).toMatchObject({ type: SMS, data: { subscriptionId: sms.body.id } });
    for (const id of [disconnected.body.id, sms.body.id]) expect((await call('DELETE', `${BASE}/${id}`)).status).toBe(204);
  });

  test('subscriptionExpireTime reached: subscription-ends SUBSCRIPTION_EXPIRED', async () => {
    const device = newDevice();
    await device.set('Reachable');
    const sink = await newSink();
    const expireTime = new Date(Date.now() + 1500).toISOString();
    const created = await call('POST', BASE, request(sink, device.phoneNumber, { config: { subscriptionExpireTime: expireTime } }));
    expect(created.status).toBe(201);
    expect(created.body.expiresAt).toBe(expireTime);
    const [ends] = await sink.waitFor(1, 5000);
    expect(ends.body).toMatchObject({ type: ENDS, data: { subscriptionId: created.body.id, terminationReason: 'SUBSCRIPTION_EXPIRED' } });
    expect(Date.parse(ends.body.time)).toBeGreaterThanOrEqual(Date.parse(expireTime));
  });
});

describe('ownership and listing', () => {
  test('a client lists and reads only its own subscriptions; another gets 404 and cannot delete them', async () => {
    const device = newDevice();
    await device.set('Reachable');
    const sink = await newSink();
    const mine = await call('POST', BASE, request(sink, device.phoneNumber));
    const theirs = await call('POST', BASE, request(sink, device.phoneNumber), { client: 'app-other' });
    expect([mine.status, theirs.status]).toEqual([201, 201]);
    const list = await call('GET', BASE);
    expect(list.status).toBe(200);
    expect(list.body.map((s) => s.id)).toContain(mine.body.id);
    expect(list.body.map((s) => s.id)).not.toContain(theirs.body.id);
    const [listed] = await fixture.gateway.usage.query({ globalId: list.headers.get('x-parlayx-global-id') });
    expect(listed).toMatchObject({ eventType: 'listNotifications', statusCode: 0 });
    expect(listed.attributes).toMatchObject({
      REQUESTER: 'acme', SERVICE: 'CAMARA_DRS_SIP', NOTIFICATION_COUNT: String(list.body.length),
    });
    const theirsRead = await call('GET', `${BASE}/${theirs.body.id}`);
    expect(theirsRead.status).toBe(404);
    // Another requester's subscription is unknown to this one, in its record too.
    const [refusedRead] = await fixture.gateway.usage.query({ globalId: theirsRead.headers.get('x-parlayx-global-id') });
    expect(refusedRead).toMatchObject({ eventType: 'getNotification', statusCode: 13 });
    expect(refusedRead.attributes).toMatchObject({ REQUESTER: 'acme', CORRELATOR: theirs.body.id, FAILURE_REASON: 'SVC0002' });
    const refused = await call('DELETE', `${BASE}/${theirs.body.id}`);
    expect(refused.status).toBe(404);
    expect(refused.body).toEqual({ status: 404, code: 'NOT_FOUND', message: expect.any(String) });
    expect((await call('GET', `${BASE}/${theirs.body.id}`, undefined, { client: 'app-other' })).status).toBe(200);
    for (const [id, client] of [[mine.body.id, 'app-acme'], [theirs.body.id, 'app-other']]) {
      expect((await call('DELETE', `${BASE}/${id}`, undefined, { client })).status).toBe(204);
    }
  });

  test('a Parlay X endNotification cannot end a CAMARA subscription of the same requester', async () => {
    const device = newDevice();
    const sink = await newSink();
    const created = await call('POST', BASE, request(sink, device.phoneNumber));
    expect(await fixture.gateway.core.endNotification('acme', created.body.id)).toBe(false);
    expect((await call('DELETE', `${BASE}/${created.body.id}`)).status).toBe(204);
  });
});

describe('one SIP subscription per terminal, whatever API asked', () => {
  test('a Parlay X notification and a CAMARA subscription on one terminal share one SUBSCRIBE dialog; both get the change', async () => {
    const device = newDevice();
    await device.set('Unreachable');
    const before = fixture.gateway.core.stats();
    expect(before.watchedTerminals).toBe(0);
    const app = await startAppEndpoint();
    cleanups.push(() => app.close());
    await fixture.gateway.startNotification({
      reference: { endpoint: app.url, correlator: 'px-shared', interfaceName: 'TerminalStatusNotification' },
      addresses: [`tel:${device.phoneNumber}`],
      criteria: [],
      checkImmediate: false,
      frequency: { metric: 'Millisecond', units: 0 },
    }, { requester: 'acme' });
    const sink = await newSink();
    const created = await subscribe(request(sink, device.phoneNumber));
    await waitUntil(() => fixture.gateway.core.stats().subscriptionsActive === before.subscriptionsActive + 1, 'the dialog');
    const stats = fixture.gateway.core.stats();
    expect(stats.watchedTerminals).toBe(1);
    expect(stats.subscriptions).toBe(before.subscriptions + 1);
    expect(stats.subscribeRequests).toBe(before.subscribeRequests + 1);

    await device.set('Reachable');
    const [event] = await sink.waitFor(1);
    expectEvent(event, { type: DATA, id: created.body.id, phoneNumber: device.phoneNumber });
    const [parlayx] = await app.waitFor('px-shared', 1);
    expect(parlayx).toMatchObject({ kind: 'statusNotification', statuses: [{ address: `tel:${device.phoneNumber}`, status: 'Reachable' }] });
    // The delivery records of the same change: the CAMARA one names its service, the Parlay X
    // one is as before (its service is the record's SERVICE column; no SERVICE attribute).
    await fixture.gateway.delivery.settled();
    const attempts = await fixture.gateway.usage.query({ eventType: 'statusNotification_DeliveryAttempted' });
    const camaraAttempt = attempts.find((r) => r.attributes.CORRELATOR === created.body.id);
    expect(camaraAttempt.attributes.SERVICE).toBe('CAMARA_DRS_SIP');
    const parlayxAttempts = attempts.filter((r) => r.attributes.CORRELATOR === 'px-shared');
    expect(parlayxAttempts).toHaveLength(1);
    expect(Object.keys(parlayxAttempts[0].attributes)).toEqual(['CORRELATOR', 'TARGETS', 'DELIVERY_STATUS', 'APP_CORRELATION_ID']);
    const parlayxResults = (await fixture.gateway.usage.query({ globalId: parlayxAttempts[0].globalId }))
      .filter((r) => r.eventType === 'statusNotification_DeliveryResult');
    expect(parlayxResults).toHaveLength(1);
    expect(Object.keys(parlayxResults[0].attributes)).toEqual(['FAILURE_REASON', 'FAILURE_DETAIL', 'APP_CORRELATION_ID']);
    expect(fixture.gateway.core.stats().subscribeRequests).toBe(before.subscribeRequests + 1);

    expect((await call('DELETE', `${BASE}/${created.body.id}`)).status).toBe(204);
    // The Parlay X notification still watches the terminal: the dialog stays.
    expect(fixture.gateway.core.stats().watchedTerminals).toBe(1);
    await fixture.gateway.endNotification('px-shared', { requester: 'acme' });
    await waitUntil(() => fixture.gateway.core.stats().watchedTerminals === 0, 'the terminal to be unwatched');
  });
});

describe('refused requests', () => {
  test.each([
    ['no body', undefined],
    ['not JSON', '{'],
    ['no types', { protocol: 'HTTP', sink: 'http://127.0.0.1:1/x', config: { subscriptionDetail: {} } }],
    ['two types', { protocol: 'HTTP', sink: 'http://127.0.0.1:1/x', types: [DATA, SMS], config: { subscriptionDetail: {} } }],
    ['an unknown type', { protocol: 'HTTP', sink: 'http://127.0.0.1:1/x', types: ['x'], config: { subscriptionDetail: {} } }],
    ['subscriptionMaxEvents 0', { protocol: 'HTTP', sink: 'http://127.0.0.1:1/x', types: [DATA], config: { subscriptionDetail: { device: { phoneNumber: '+15551234' } }, subscriptionMaxEvents: 0 } }],
    ['a credential without its token', {
      protocol: 'HTTP', sink: 'http://127.0.0.1:1/x', types: [DATA], config: { subscriptionDetail: { device: { phoneNumber: '+15551234' } } },
      sinkCredential: { credentialType: 'ACCESSTOKEN', accessTokenType: 'bearer', accessTokenExpiresUtc: '2099-01-01T00:00:00Z' },
    }],
  ])('%s: 400 INVALID_ARGUMENT', async (_, body) => {
    const reply = await call('POST', BASE, body);
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ status: 400, code: 'INVALID_ARGUMENT' });
  });

  test('MQTT: 400 INVALID_PROTOCOL; a PLAIN credential: 400 INVALID_CREDENTIAL; an expire time in the past: 400 OUT_OF_RANGE', async () => {
    const sink = await newSink();
    const mqtt = await call('POST', BASE, { ...request(sink, '+15551234'), protocol: 'MQTT3' });
    expect(mqtt.body).toMatchObject({ status: 400, code: 'INVALID_PROTOCOL' });
    const plain = await call('POST', BASE, { ...request(sink, '+15551234'), sinkCredential: { credentialType: 'PLAIN', identifier: 'a', secret: 'b' } });
    expect(plain.body).toMatchObject({ status: 400, code: 'INVALID_CREDENTIAL' });
    const past = await call('POST', BASE, request(sink, '+15551234', { config: { subscriptionExpireTime: '2020-01-01T00:00:00Z' } }));
    expect(past.body).toMatchObject({ status: 400, code: 'OUT_OF_RANGE' });
  });

  test('identifiers: 422 UNSUPPORTED_IDENTIFIER, MISSING_IDENTIFIER, UNNECESSARY_IDENTIFIER', async () => {
    const sink = await newSink();
    const ip = request(sink, '+15551234');
    ip.config.subscriptionDetail.device = { ipv4Address: { publicAddress: '84.125.93.10', publicPort: 59765 } };
    expect((await call('POST', BASE, ip)).body).toMatchObject({ status: 422, code: 'UNSUPPORTED_IDENTIFIER' });
    const none = request(sink, '+15551234');
    delete none.config.subscriptionDetail.device;
    expect((await call('POST', BASE, none)).body).toMatchObject({ status: 422, code: 'MISSING_IDENTIFIER' });
    const both = await call('POST', BASE, request(sink, '+15551234'), { claims: { phone_number: '+15551234' } });
    expect(both.body).toMatchObject({ status: 422, code: 'UNNECESSARY_IDENTIFIER' });
  });

  test('tokens: none 401, expired 401, wrong audience 401, missing the type\'s create scope 403, missing read scope 403', async () => {
    const sink = await newSink();
    const body = request(sink, '+15551234');
    const none = await fetch(`${origin}${BASE}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    expect((await call('POST', BASE, body, { claims: { exp: Math.floor(Date.now() / 1000) - 600 } })).status).toBe(401);
    expect((await call('POST', BASE, body, { claims: { aud: 'someone-else' } })).status).toBe(401);
    const wrongType = await call('POST', BASE, body, { scope: `device-reachability-status-subscriptions:${SMS}:create` });
    expect(wrongType.status).toBe(403);
    expect(wrongType.body).toMatchObject({ status: 403, code: 'PERMISSION_DENIED' });
    expect(wrongType.headers.get('www-authenticate')).toMatch(/insufficient_scope/);
    const read = await call('GET', BASE, undefined, { scope: `device-reachability-status-subscriptions:${DATA}:create` });
    expect(read.status).toBe(403);
    const unknownClient = await call('GET', BASE, undefined, { client: 'app-nobody' });
    expect(unknownClient.status).toBe(403);
  });

  test('a method the path does not have: 405 with Allow', async () => {
    const reply = await call('PUT', `${BASE}/some-id`, undefined);
    expect(reply.status).toBe(405);
    expect(reply.headers.get('allow')).toBe('GET, DELETE');
  });
});

describe('a restart', () => {
  test('restores the subscription from the store: a change after the restart reaches the sink', async () => {
    const dir = tempDir('px-drs-restart-');
    const device = newDevice();
    await device.set('Unreachable');
    const sink = await newSink();
    const first = await gatewayOn(dir);
    let created;
    try {
      origin = originOf(first.url);
      const saved = fixture;
      fixture = first;
      created = await subscribe(request(sink, device.phoneNumber));
      fixture = saved;
    } finally {
      await first.gateway.close();
    }
    const second = await gatewayOn(dir);
    try {
      origin = originOf(second.url);
      const restored = second.gateway.core.getNotification('acme', created.body.id);
      expect(restored).toMatchObject({ api: 'camara-device-reachability-status-subscriptions-v0.7', endpoint: sink.url });
      const got = await call('GET', `${BASE}/${created.body.id}`);
      expect(got.status).toBe(200);
      expect(got.body).toEqual(created.body);
      await waitUntil(() => second.gateway.core.getNotification('acme', created.body.id).addresses[0].lastSeen === 'Unreachable', 'the restored dialog');
      await device.set('Reachable');
      const [event] = await sink.waitFor(1);
      expectEvent(event, { type: DATA, id: created.body.id, phoneNumber: device.phoneNumber });
    } finally {
      await second.gateway.close();
      origin = originOf(fixture.url);
    }
  });
});

describe('clustered (store.backend postgresql, docs/cluster.md)', () => {
  // Two instances on one PostgreSQL: a subscription created through A is read, listed, counted
  // against the quota and deleted through B, whose DELETE sends the subscription-ends.
  let pg;
  const instances = [];

  beforeAll(async () => {
    pg = await startPostgres();
    for (const name of ['cam-a', 'cam-b']) {
      const stateDir = tempDir('px-drs-pg-');
      const f = await gatewayOn(stateDir, '',
        `store:\n  backend: postgresql\n  url: "${pg.url}"\n  spool: ${path.join(stateDir, 'spool.db')}\n  instanceName: ${name}\n  leaseMs: 3000\n`);
      instances.push(f);
    }
  }, 30000);

  afterAll(async () => {
    for (const f of instances) await f.gateway.close();
    if (pg) await pg.stop();
  });

  test('GET, list, quota and DELETE through B of a subscription A owns', async () => {
    const [a, b] = instances;
    const onA = (method, p, body, options) => callAt(originOf(a.url), method, p, body, options);
    const onB = (method, p, body, options) => callAt(originOf(b.url), method, p, body, options);
    const sink = await newSink();
    const device = newDevice();
    const created = await onA('POST', BASE, request(sink, device.phoneNumber));
    expect(created.status).toBe(201);
    const id = created.body.id;
    expect(a.gateway.core.getNotification('acme', id)).not.toBeNull();
    expect(b.gateway.core.getNotification('acme', id)).toBeNull();

    const read = await onB('GET', `${BASE}/${id}`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id, sink: sink.url, types: [DATA] });
    // Another client does not see it, on any instance.
    expect((await onB('GET', `${BASE}/${id}`, undefined, { client: 'app-other' })).status).toBe(404);
    // The admin registry of B (gateway.notifications.listService) shows A's subscription too.
    expect((await b.gateway.notifications.listService({ requester: 'acme' })).map((n) => n.correlator)).toEqual([id]);
    expect(b.gateway.notifications.list()).toEqual([]);
    const listed = await onB('GET', BASE);
    expect(listed.status).toBe(200);
    expect(listed.body.map((s) => s.id)).toEqual([id]);

    // The quota (maxPerRequester 5) counts the whole service's subscriptions: 4 more through B.
    for (let i = 0; i < 4; i++) {
      expect((await onB('POST', BASE, request(sink, newDevice().phoneNumber))).status).toBe(201);
    }
    const over = await onA('POST', BASE, request(sink, newDevice().phoneNumber));
    expect(over.status).toBe(429);
    expect(over.body.code).toBe('QUOTA_EXCEEDED');

    const deleted = await onB('DELETE', `${BASE}/${id}`);
    expect(deleted.status).toBe(204);
    const ends = await waitUntil(() => sink.events.find((e) => e.body.type === ENDS && e.body.data.subscriptionId === id), 'subscription-ends');
    expect(ends.body.data.terminationReason).toBe('SUBSCRIPTION_DELETED');
    // A forgot it (the owner was told through NOTIFY); it is gone everywhere.
    await waitUntil(() => a.gateway.core.getNotification('acme', id) === null, 'A forgetting the subscription');
    expect((await onA('GET', `${BASE}/${id}`)).status).toBe(404);
    expect(await pg.psql(`SELECT count(*) FROM notification WHERE correlator = '${id}'`)).toBe('0');
  });
});
