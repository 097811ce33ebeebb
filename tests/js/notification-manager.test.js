'use strict';
// TerminalStatusNotificationManager end to end: SOAP startNotification / endNotification over
// real HTTP into the gateway, its faults and usage records; with the native notification engine,
// a real Kamailio presence server and a real application endpoint, the statusNotification,
// statusEnd and statusError the application receives, and the admin API.
const http = require('node:http');
const { startKamailio, freePort } = require('../../scripts/kamailio/kamailio');
const sip = require('../support/sip');
const { startGateway, postSoap, envelope, tempDir } = require('../support/gateway');
const { parseEnvelope } = require('../../js/soap/envelope');
const { NOTIFICATION_NS } = require('../../js/soap/builder');

const NM_NS = 'http://www.csapi.org/schema/parlayx/terminal_status/notification_manager/v2_3/local';
const PATH = '/TerminalStatusNotificationManagerService/services/TerminalStatusNotificationManager';
const PARTS = ['reference', 'addresses', 'criteria', 'checkImmediate', 'frequency', 'duration', 'count'];

let kamailio;
let presence;
let fixture;
let manager;
let application;
let correlators = 0;

/** The application's TerminalStatusNotification endpoint: keeps every request, answers 200. */
async function startApplication() {
  const received = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const wrapper = parseEnvelope(Buffer.concat(chunks)).body;
      received.push(wrapper);
      res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8' });
      res.end(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><ns:${wrapper.name}Response xmlns:ns="${NOTIFICATION_NS}"/></soapenv:Body></soapenv:Envelope>`);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/app/TerminalStatusNotification`,
    received,
    /** Resolves with the requests of a correlator once `count` have arrived. */
    async of(correlator, count, timeoutMs = 8000) {
      const mine = () => received.filter((w) => child(w, 'correlator').text === correlator);
      const deadline = Date.now() + timeoutMs;
      while (mine().length < count) {
        if (Date.now() > deadline) throw new Error(`${correlator}: ${mine().length} of ${count} requests arrived`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return mine();
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

function child(element, name) {
  return element.children.find((c) => c.name === name);
}

function nextCorrelator() {
  correlators += 1;
  return `corr-${correlators}`;
}

function reference({ endpoint = application.url, correlator = nextCorrelator() } = {}) {
  return `<loc:reference><endpoint>${endpoint}</endpoint><interfaceName>TerminalStatusNotification</interfaceName>`
    + `<correlator>${correlator}</correlator></loc:reference>`;
}

function timeMetric(part, metric, units) {
  return `<loc:${part}><metric>${metric}</metric><units>${units}</units></loc:${part}>`;
}

const addresses = (...list) => list.map((a) => `<loc:addresses>${a}</loc:addresses>`).join('');

/** A startNotification body: valid defaults, any part replaced by its XML in `parts`. */
function startBody(parts = {}) {
  const all = {
    reference: reference(),
    addresses: addresses('sip:alice@example.test'),
    criteria: '',
    checkImmediate: '<loc:checkImmediate>false</loc:checkImmediate>',
    frequency: timeMetric('frequency', 'Second', 1),
    duration: '',
    count: '<loc:count>5</loc:count>',
    ...parts,
  };
  return envelope(`<loc:startNotification>${PARTS.map((p) => all[p]).join('')}</loc:startNotification>`, { localNs: NM_NS });
}

function endBody(correlator) {
  return envelope(`<loc:endNotification><loc:correlator>${correlator}</loc:correlator></loc:endNotification>`, { localNs: NM_NS });
}

/** POSTs to the manager; the answer, its fault (if any) and the usage records of its GLOBALID. */
async function call(body) {
  const reply = await postSoap(manager, body);
  const globalId = reply.headers.get('x-parlayx-global-id');
  let fault = null;
  if (reply.status === 500) {
    const soapFault = parseEnvelope(reply.text).body;
    const exception = child(soapFault, 'detail').children[0];
    fault = {
      kind: exception.name,
      messageId: child(exception, 'messageId').text,
      variables: exception.children.filter((c) => c.name === 'variables').map((c) => c.text),
      faultstring: child(soapFault, 'faultstring').text,
    };
  }
  const records = globalId ? await fixture.gateway.usage.query({ globalId }) : [];
  return { reply, globalId, fault, records };
}

beforeAll(async () => {
  const port = await freePort();
  kamailio = await startKamailio({ sipPort: port, workDir: tempDir('px-kamailio-') });
  presence = { host: '127.0.0.1', port };
  expect((await sip.publish({ server: presence, presentity: 'sip:alice@example.test', basic: 'open' })).status).toBe(200);
  expect((await sip.publish({ server: presence, presentity: 'sip:bob@example.test', basic: 'closed' })).status).toBe(200);
  application = await startApplication();
  fixture = await startGateway({
    presencePort: port,
    extraYaml: `groups:
  schemes: [glmgroup]
  members:
    "glmgroup:team@example.test": [sip:alice@example.test, sip:bob@example.test]
`,
    maxTargets: 3,
    notificationsYaml: `  defaultDurationSec: 600
  maxDurationSec: 3600
  minFrequencyMs: 1000
  unlimitedCountAllowed: false
  maxCount: 10
  busyCriteriaAllowed: false
  delivery:
    timeoutMs: 2000
    maxAttempts: 2
    retryBackoffMs: 100
`,
  });
  manager = `${fixture.url}${PATH}`;
}, 30000);

afterAll(async () => {
  if (fixture) await fixture.gateway.close();
  if (application) await application.close();
  if (kamailio) await kamailio.stop();
});

describe('startNotification faults (checked before the notification engine is asked)', () => {
  // [what is wrong, messageId, variables, STATUSCODE, the parts that differ from a valid request]
  test.each([
    ['an endpoint that is not http(s)', 'SVC0002', ['endpoint'], 13, () => ({ reference: reference({ endpoint: 'ftp://app.example.test/n' }) })],
    ['a relative endpoint', 'SVC0002', ['endpoint'], 13, () => ({ reference: reference({ endpoint: '/notify' }) })],
    ['no reference', 'SVC0002', ['reference'], 13, () => ({ reference: '' })],
    ['an empty correlator', 'SVC0002', ['correlator'], 13, () => ({ reference: reference({ correlator: '' }) })],
    ['no addresses', 'SVC0002', ['addresses'], 13, () => ({ addresses: '' })],
    ['an invalid address', 'SVC0002', ['addresses'], 13, () => ({ addresses: addresses('sip:alice@example.test', 'not a uri') })],
    ['an address of an unknown scheme', 'SVC0002', ['addresses'], 10, () => ({ addresses: addresses('mailto:alice@example.test') })],
    ['an unknown group', 'SVC0002', ['addresses'], 15, () => ({ addresses: addresses('glmgroup:nobody@example.test') })],
    ['more than policy.maxTargets terminals once groups are expanded', 'POL0003', ['addresses'], 3,
      () => ({ addresses: addresses('glmgroup:team@example.test', 'sip:carol@example.test', 'tel:+15550001') })],
    ['a criterion that is no Status', 'SVC0002', ['criteria'], 13, () => ({ criteria: '<loc:criteria>Away</loc:criteria>' })],
    ['Busy as a criterion when busyCriteriaAllowed is false', 'POL0001', ['Busy is not supported as a criterion'], 13,
      () => ({ criteria: '<loc:criteria>Busy</loc:criteria>' })],
    ['checkImmediate that is no xsd:boolean', 'SVC0002', ['checkImmediate'], 13,
      () => ({ checkImmediate: '<loc:checkImmediate>yes</loc:checkImmediate>' })],
    ['no frequency', 'SVC0002', ['frequency'], 13, () => ({ frequency: '' })],
    ['a frequency in an unknown unit', 'SVC0002', ['frequency'], 13, () => ({ frequency: timeMetric('frequency', 'Fortnight', 1) })],
    ['a frequency that is no xsd:int', 'SVC0002', ['frequency'], 13, () => ({ frequency: timeMetric('frequency', 'Second', '1.5') })],
    ['a frequency below minFrequencyMs', 'POL0009', [], 13, () => ({ frequency: timeMetric('frequency', 'Millisecond', 500) })],
    ['a negative duration', 'SVC0002', ['duration'], 13, () => ({ duration: timeMetric('duration', 'Minute', -1) })],
    ['a duration above maxDurationSec', 'POL0001', ['duration longer than the maximum of 3600 seconds'], 13,
      () => ({ duration: timeMetric('duration', 'Hour', 2) })],
    ['no count when unlimited notifications are not allowed', 'POL0004', [], 13, () => ({ count: '' })],
    ['a count above maxCount', 'POL0005', [], 13, () => ({ count: '<loc:count>11</loc:count>' })],
    ['a count of 0', 'SVC0002', ['count'], 13, () => ({ count: '<loc:count>0</loc:count>' })],
    ['a count that is no xsd:int', 'SVC0002', ['count'], 13, () => ({ count: '<loc:count>many</loc:count>' })],
    ['a count given twice', 'SVC0002', ['count'], 13, () => ({ count: '<loc:count>1</loc:count><loc:count>2</loc:count>' })],
  ])('%s: %s %j, STATUSCODE %i', async (_name, messageId, variables, statusCode, parts) => {
    const { reply, fault, records } = await call(startBody(parts()));
    expect(reply.status).toBe(500);
    expect(fault.kind).toBe(messageId.startsWith('SVC') ? 'ServiceException' : 'PolicyException');
    expect(fault.messageId).toBe(messageId);
    expect(fault.variables).toEqual(variables);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ eventType: 'startNotification', statusCode, service: 'PX_TS_SIP' });
    expect(records[0].attributes).toMatchObject({ FAILURE_REASON: messageId, FAILURE_DETAIL: fault.faultstring });
  });

  test('the record of a refused request names what was asked', async () => {
    const correlator = nextCorrelator();
    const { records } = await call(startBody({
      reference: reference({ correlator }),
      addresses: addresses('glmgroup:team@example.test', 'sip:carol@example.test', 'sip:dave@example.test'),
    }));
    expect(records[0].attributes).toMatchObject({
      TARGET: 'sip:alice@example.test,sip:bob@example.test,sip:carol@example.test,sip:dave@example.test',
      CORRELATOR: correlator,
      NOTIFICATION_ENDPOINT: application.url,
      NOTIFICATION_EXPIRES_AT: '',
      FAILURE_REASON: 'POL0003',
      ERROR_TYPE: 'PolicyException',
    });
  });

  test('endNotification without a correlator is SVC0002 and recorded', async () => {
    const { reply, fault, records } = await call(endBody(''));
    expect(reply.status).toBe(500);
    expect(fault).toMatchObject({ messageId: 'SVC0002', variables: ['correlator'] });
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ eventType: 'endNotification', statusCode: 13 });
  });

  test('the manager\'s WSDL is served with its endpoint address', async () => {
    const reply = await fetch(`${manager}?wsdl`);
    expect(reply.status).toBe(200);
    expect(await reply.text()).toContain(`<soap:address location="${manager}"/>`);
  });
});

describe('with the native notification engine', () => {
  test('startNotification answers an empty response and records the notification it started', async () => {
    const correlator = nextCorrelator();
    const before = Date.now();
    const { reply, globalId, records } = await call(startBody({
      reference: reference({ correlator }),
      addresses: addresses('glmgroup:team@example.test', 'sip:alice@example.test', 'tel:+15550001'),
      criteria: '<loc:criteria>Unreachable</loc:criteria>',
    }));
    expect(reply.status).toBe(200);
    expect(reply.text).toContain(`<ns:startNotificationResponse xmlns:ns="${NM_NS}"></ns:startNotificationResponse>`);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ eventType: 'startNotification', statusCode: 0 });
    const attributes = records[0].attributes;
    expect(attributes).toMatchObject({
      TARGET: 'sip:alice@example.test,sip:bob@example.test,tel:+15550001',
      CORRELATOR: correlator,
      NOTIFICATION_ENDPOINT: application.url,
      DURATION: '600000',
      FREQUENCY: '1000',
      'NOTIFICATION LIMIT': '5',
    });
    const expires = Date.parse(attributes.NOTIFICATION_EXPIRES_AT);
    expect(expires).toBeGreaterThanOrEqual(before + 600000);
    expect(expires).toBeLessThan(Date.now() + 600000 + 5);

    const listed = fixture.gateway.notifications.list().find((n) => n.correlator === correlator);
    expect(listed).toMatchObject({
      requester: '', endpoint: application.url, globalId, criteria: ['Unreachable'], checkImmediate: false,
      frequencyMs: 1000, countLimit: 5, expiresAtMs: expires, sent: 0,
    });
    expect(listed.addresses.map((a) => a.address)).toEqual(['sip:alice@example.test', 'sip:bob@example.test', 'tel:+15550001']);
    await call(endBody(correlator));
  });

  test('a correlator already in use is SVC0005', async () => {
    const correlator = nextCorrelator();
    expect((await call(startBody({ reference: reference({ correlator }) }))).reply.status).toBe(200);
    const { reply, fault, records } = await call(startBody({ reference: reference({ correlator }) }));
    expect(reply.status).toBe(500);
    expect(fault).toMatchObject({ kind: 'ServiceException', messageId: 'SVC0005', variables: [correlator, 'correlator'] });
    expect(records[0]).toMatchObject({ eventType: 'startNotification', statusCode: 13 });
    await call(endBody(correlator));
  });

  test('endNotification ends a notification (no statusEnd); an unknown correlator is SVC0002', async () => {
    const correlator = nextCorrelator();
    expect((await call(startBody({ reference: reference({ correlator }) }))).reply.status).toBe(200);
    const ended = await call(endBody(correlator));
    expect(ended.reply.status).toBe(200);
    expect(ended.reply.text).toContain(`<ns:endNotificationResponse xmlns:ns="${NM_NS}"></ns:endNotificationResponse>`);
    expect(ended.records).toHaveLength(1);
    expect(ended.records[0]).toMatchObject({ eventType: 'endNotification', statusCode: 0 });
    expect(ended.records[0].attributes.CORRELATOR).toBe(correlator);
    expect(fixture.gateway.notifications.list().some((n) => n.correlator === correlator)).toBe(false);

    const again = await call(endBody(correlator));
    expect(again.fault).toMatchObject({ kind: 'ServiceException', messageId: 'SVC0002', variables: ['correlator'] });
    expect(again.records[0]).toMatchObject({ eventType: 'endNotification', statusCode: 13 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(application.received.filter((w) => child(w, 'correlator').text === correlator)).toEqual([]);
  });

  test('checkImmediate with count 1: the application gets statusNotification, then statusEnd, recorded under the start\'s GLOBALID', async () => {
    const correlator = nextCorrelator();
    const started = await call(startBody({
      reference: reference({ correlator }),
      checkImmediate: '<loc:checkImmediate>true</loc:checkImmediate>',
      count: '<loc:count>1</loc:count>',
    }));
    expect(started.reply.status).toBe(200);
    const [notification, end] = await application.of(correlator, 2);
    expect(notification.name).toBe('statusNotification');
    const status = child(notification, 'terminalStatus');
    expect([child(status, 'address').text, child(status, 'currentStatus').text]).toEqual(['sip:alice@example.test', 'Reachable']);
    expect(end.name).toBe('statusEnd');
    expect(fixture.gateway.notifications.list().some((n) => n.correlator === correlator)).toBe(false);

    await fixture.gateway.delivery.settled();
    const records = await fixture.gateway.usage.query({ globalId: started.globalId });
    expect(records.map((r) => r.eventType)).toEqual([
      'startNotification',
      'statusNotification_DeliveryAttempted', 'statusNotification_DeliveryResult',
      'statusEnd_DeliveryAttempted', 'statusEnd_DeliveryResult',
    ]);
    expect(records[1].attributes).toMatchObject({ CORRELATOR: correlator, TARGETS: 'sip:alice@example.test', DELIVERY_STATUS: 'Reachable' });
    expect(records[2].attributes.APP_CORRELATION_ID).toBe(records[1].attributes.APP_CORRELATION_ID);
    expect(records[2].statusCode).toBe(0);
  });

  test('a status change published over SIP reaches the application', async () => {
    const correlator = nextCorrelator();
    const presentity = 'sip:erin@example.test';
    const first = await sip.publish({ server: presence, presentity, basic: 'open' });
    expect((await call(startBody({ reference: reference({ correlator }), addresses: addresses(presentity) }))).reply.status).toBe(200);
    // The first status seen is the baseline (checkImmediate false): wait until the engine has it.
    const deadline = Date.now() + 5000;
    const baselineSeen = () => fixture.gateway.notifications.list()
      .some((n) => n.correlator === correlator && n.addresses[0].lastSeen === 'Reachable');
    while (!baselineSeen() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(baselineSeen()).toBe(true);
    await sip.publish({ server: presence, presentity, etag: first.etag, basic: 'closed' });
    const [notification] = await application.of(correlator, 1);
    const status = child(notification, 'terminalStatus');
    expect([child(status, 'address').text, child(status, 'currentStatus').text]).toEqual([presentity, 'Unreachable']);
    await call(endBody(correlator));
  });

  test('the admin API terminates a notification: the application gets statusError for all of it', async () => {
    const correlator = nextCorrelator();
    expect((await call(startBody({ reference: reference({ correlator }) }))).reply.status).toBe(200);
    await expect(fixture.gateway.notifications.terminate(correlator, { reason: 'maintenance' })).resolves.toBe(true);
    const [error] = await application.of(correlator, 1);
    expect(error.name).toBe('statusError');
    expect(child(error, 'address')).toBeUndefined();
    expect(child(child(error, 'reason'), 'messageId').text).toMatch(/^(SVC|POL)\d{4}$/);
    expect(fixture.gateway.notifications.list().some((n) => n.correlator === correlator)).toBe(false);
    await expect(fixture.gateway.notifications.terminate(correlator)).resolves.toBe(false);
  });
});
