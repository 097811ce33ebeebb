'use strict';
// Call Notification / Call Direction through a running gateway: the WSDLs at ?wsdl, node-soap
// clients generated from them for start/stop, raw SOAP in the 2.x and 3.x namespaces, the faults,
// the usage records, and the outbound notify*/handle* requests at a real HTTP application.
// Events from real calls (Kamailio S-CSCF + SIPp) are in calls-kamailio.test.js.
const http = require('node:http');
const soap = require('soap');
const { parseEnvelope } = require('../../js/soap/envelope');
const { startGateway, postSoap, soapFault } = require('../support/gateway');

const CN_PATH = '/CallNotificationManagerService/services/CallNotificationManager';
const CD_PATH = '/CallDirectionManagerService/services/CallDirectionManager';
const CN_MGR = (v) => `http://www.csapi.org/schema/parlayx/call_notification/notification_manager/${v}/local`;
const CD_MGR = (v) => `http://www.csapi.org/schema/parlayx/call_direction/notification_manager/${v}/local`;
const SOAP_NS = 'http://schemas.xmlsoap.org/soap/envelope/';

/** Own property on a native object (its prototype methods are read-only). */
function override(object, name, value) {
  Object.defineProperty(object, name, { value, writable: true, configurable: true });
}

let app;
let appRequests;
let appReply;
let fixture;

function listen(handler) {
  return new Promise((resolve) => {
    const server = http.createServer(handler);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

beforeAll(async () => {
  appRequests = [];
  appReply = () => ({ status: 200, body: '' });
  app = await listen((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const { body } = parseEnvelope(text);
      appRequests.push({ url: req.url, ns: body.ns, operation: body.name, body });
      const { status, body: out } = appReply(body.name);
      res.writeHead(status, { 'content-type': 'text/xml' });
      res.end(out);
    });
  });
  fixture = await startGateway({
    presencePort: 5999,
    notificationsYaml: '  delivery:\n    maxAttempts: 1\n',
    policyYaml: '  privacy:\n    optedOut: ["tel:+15559*"]\n',
    extraYaml: `calls:\n  port: 0\ngroups:\n  members:\n    "glmgroup:sales@example.test": ["tel:+1-555-0400", "sip:carol@example.test"]\n`,
  });
});

afterAll(async () => {
  if (fixture) await fixture.gateway.close();
  if (app) await new Promise((resolve) => app.close(resolve));
});

const appEndpoint = (path = '/cn') => `http://127.0.0.1:${app.address().port}${path}`;

async function records(eventType) {
  await fixture.gateway.delivery.settled();
  return fixture.gateway.usage.query({ eventType });
}

function startXml(ns, operation, { correlator, addresses = ['tel:+15550001'], criteria = [], endpoint = appEndpoint(), extra = '' }) {
  return `<soapenv:Envelope xmlns:soapenv="${SOAP_NS}" xmlns:loc="${ns}"><soapenv:Body><loc:${operation}>`
    + `<loc:reference><endpoint>${endpoint}</endpoint><interfaceName>CallNotification</interfaceName><correlator>${correlator}</correlator></loc:reference>`
    + addresses.map((a) => `<loc:addresses>${a}</loc:addresses>`).join('')
    + criteria.map((c) => `<loc:criteria>${c}</loc:criteria>`).join('')
    + `${extra}</loc:${operation}></soapenv:Body></soapenv:Envelope>`;
}

function faultOf(text) {
  const { body } = parseEnvelope(text);
  expect(body.name).toBe('Fault');
  const exception = body.children.find((c) => c.name === 'detail').children[0];
  const field = (name) => exception.children.filter((c) => c.name === name).map((c) => c.text);
  return { ns: exception.ns, kind: exception.name, messageId: field('messageId')[0], variables: field('variables') };
}

describe('WSDL', () => {
  test.each([[CN_PATH, 'CallNotificationManager'], [CD_PATH, 'CallDirectionManager']])('%s?wsdl is the 3.x service, addressed at the gateway', async (path, port) => {
    const response = await fetch(`${fixture.url}${path}?wsdl`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toContain(`<wsdl:port name="${port}"`);
    expect(text).toContain(`location="${fixture.url}${path}"`);
    expect(text).toContain(`location="${fixture.url}/wsdl/parlayx_call_`);
  });

  test.each([
    ['parlayx_call_notification_manager_service_3_2.wsdl', ['startCallNotification', 'stopCallNotification']],
    ['parlayx_call_notification_manager_service_2_3.wsdl', ['startCallNotification', 'stopCallNotification']],
    ['parlayx_call_direction_manager_service_3_1.wsdl', ['startCallDirectionNotification', 'stopCallDirectionNotification']],
    ['parlayx_call_direction_manager_service_2_3.wsdl', ['startCallDirectionNotification', 'stopCallDirectionNotification']],
    ['parlayx_call_notification_service_3_2.wsdl', ['notifyCallEvent', 'notifyBusy', 'notifyNotReachable', 'notifyNoAnswer', 'notifyCalledNumber', 'notifyAnswer']],
    ['parlayx_call_notification_service_2_3.wsdl', ['notifyBusy', 'notifyNotReachable', 'notifyNoAnswer', 'notifyCalledNumber']],
    ['parlayx_call_direction_service_3_2.wsdl', ['handleBusy', 'handleNotReachable', 'handleNoAnswer', 'handleCalledNumber']],
    ['parlayx_call_direction_service_2_3.wsdl', ['handleBusy', 'handleNotReachable', 'handleNoAnswer', 'handleCalledNumber']],
  ])('node-soap reads %s as served, with exactly its operations', async (file, operations) => {
    const client = await soap.createClientAsync(`${fixture.url}/wsdl/${file}`);
    const [service] = Object.values(client.describe());
    const [port] = Object.values(service);
    expect(Object.keys(port).sort()).toEqual([...operations].sort());
  });

  test('the derived 2.x files are served under /wsdl/', async () => {
    for (const file of ['parlayx_call_notification_manager_service_2_3.wsdl', 'parlayx_call_direction_interface_2_3.wsdl', 'parlayx_call_notification_types_2_2.xsd']) {
      expect((await fetch(`${fixture.url}/wsdl/${file}`)).status).toBe(200);
    }
  });
});

describe('CallNotificationManager with a node-soap client generated from ?wsdl', () => {
  let client;
  beforeAll(async () => {
    client = await soap.createClientAsync(`${fixture.url}${CN_PATH}?wsdl`);
  });

  const reference = (correlator) => ({ endpoint: appEndpoint(), interfaceName: 'CallNotification', correlator });
  const fault = (promise) => promise.then(() => { throw new Error('expected a fault'); }, (error) => soapFault(error));

  test('start, duplicate (SVC0005), overlap (SVC0008), stop, unknown stop (SVC0002)', async () => {
    await client.startCallNotificationAsync({ reference: reference('ns-1'), addresses: ['tel:+1-555-0100'], criteria: ['Busy', 'Answer'] });
    const spec = fixture.gateway.core.listCallRegistrations().find((r) => r.correlator === 'ns-1');
    expect(spec).toMatchObject({
      kind: 'notification', requester: '', addresses: ['tel:+15550100'], criteria: ['Busy', 'Answer'],
      endpoint: appEndpoint(), interfaceName: 'CallNotification', ns: CN_MGR('v3_1'),
    });
    expect(await fault(client.startCallNotificationAsync({ reference: reference('ns-1'), addresses: ['tel:+15550199'] })))
      .toMatchObject({ kind: 'ServiceException', messageId: 'SVC0005', variables: ['ns-1', 'correlator'] });
    expect(await fault(client.startCallNotificationAsync({ reference: reference('ns-2'), addresses: ['tel:+15550100'], criteria: ['Busy'] })))
      .toMatchObject({ messageId: 'SVC0008', variables: ['tel:+15550100'] });
    await client.stopCallNotificationAsync({ correlator: 'ns-1' });
    expect(await fault(client.stopCallNotificationAsync({ correlator: 'ns-1' }))).toMatchObject({ messageId: 'SVC0002', variables: ['correlator'] });

    const starts = await records('startCallNotification');
    const methods = starts.filter((r) => ['ns-1', 'ns-2'].includes(r.attributes.CORRELATOR)).map((r) => r.attributes.METHOD);
    expect(methods).toEqual(['startCallNotification', 'startCallNotification:DuplicateCorrelator', 'startCallNotification:OverlappedCriteria']);
    expect(starts.find((r) => r.attributes.CORRELATOR === 'ns-1').attributes).toEqual({
      CODE: '0', REQUESTER: '', METHOD: 'startCallNotification', CORRELATOR: 'ns-1', CALLED_PARTY: 'tel:+15550100', CALL_EVENTS: 'busy,answer',
    });
    const stops = (await records('stopCallNotification')).filter((r) => r.attributes.CORRELATOR === 'ns-1');
    expect(stops.map((r) => [r.attributes.CODE, r.attributes.METHOD])).toEqual([
      ['0', 'stopCallNotification'], ['1', 'stopCallNotification:UnknownCorrelator'],
    ]);
    expect(stops[0].attributes).not.toHaveProperty('CALLED_PARTY');
  });

  test('invalid and missing addresses, invalid criteria: SVC0002 with the part', async () => {
    expect(await fault(client.startCallNotificationAsync({ reference: reference('bad-1'), addresses: ['not an address'] })))
      .toMatchObject({ messageId: 'SVC0002', variables: ['addresses'] });
    expect(await fault(client.startCallNotificationAsync({ reference: reference('bad-2'), addresses: ['tel:*'] })))
      .toMatchObject({ messageId: 'SVC0002', variables: ['addresses'] });
    expect(await fault(client.startCallNotificationAsync({ reference: reference('bad-3'), addresses: [] })))
      .toMatchObject({ messageId: 'SVC0002', variables: ['addresses'] });
    expect(await fault(client.startCallNotificationAsync({ reference: { ...reference('bad-4'), endpoint: 'ftp://x' }, addresses: ['tel:+15550101'] })))
      .toMatchObject({ messageId: 'SVC0002', variables: ['endpoint'] });
    expect(await fault(client.startCallNotificationAsync({ reference: reference('bad-5'), addresses: ['tel:+15550101'], criteria: ['Ringing'] })))
      .toMatchObject({ messageId: 'SVC0002', variables: ['criteria'] });
    const methods = (await records('startCallNotification')).filter((r) => /^bad-/.test(r.attributes.CORRELATOR)).map((r) => r.attributes.METHOD);
    expect(methods).toEqual([
      'startCallNotification:InvalidAddress', 'startCallNotification:InvalidAddress', 'startCallNotification:NoAddresses',
      'startCallNotification:InvalidEndpoint', 'startCallNotification:InvalidCriteria',
    ]);
  });

  test('the policy on the watched party: privacy (POL0002)', async () => {
    expect(await fault(client.startCallNotificationAsync({ reference: reference('priv-1'), addresses: ['tel:+155590'] })))
      .toMatchObject({ kind: 'PolicyException', messageId: 'POL0002', variables: ['tel:+155590'] });
    const methods = (await records('startCallNotification')).filter((r) => r.attributes.CORRELATOR === 'priv-1')
      .map((r) => r.attributes.METHOD);
    expect(methods).toEqual(['startCallNotification:PrivacyError']);
  });

  test('a gateway with calls.enabled false answers SVC0001 and records ServiceDisabled', async () => {
    const off = await startGateway({ presencePort: 5999, extraYaml: 'calls:\n  enabled: false\n' });
    try {
      expect(off.gateway.core.callPort).toBe(0);
      const response = await postSoap(`${off.url}${CN_PATH}`, startXml(CN_MGR('v3_2'), 'startCallNotification', { correlator: 'off-1', addresses: ['tel:+15550111'] }));
      expect(response.status).toBe(500);
      expect(response.text).toContain('<messageId>SVC0001</messageId>');
      expect(response.text).toContain('call services are disabled');
      const stored = await off.gateway.usage.query({ eventType: 'startCallNotification' });
      expect(stored.map((r) => r.attributes.METHOD)).toEqual(['startCallNotification:ServiceDisabled']);
    } finally {
      await off.gateway.close();
    }
  });

  test('a group watches its members (expanded by the policy, canonical)', async () => {
    await client.startCallNotificationAsync({ reference: reference('grp-1'), addresses: ['glmgroup:sales@example.test'], criteria: ['Busy'] });
    expect(fixture.gateway.core.listCallRegistrations().find((r) => r.correlator === 'grp-1').addresses)
      .toEqual(['tel:+15550400', 'sip:carol@example.test']);
    const start = (await records('startCallNotification')).find((r) => r.attributes.CORRELATOR === 'grp-1');
    expect(start.attributes.CALLED_PARTY).toBe('tel:+15550400,sip:carol@example.test');
    await client.stopCallNotificationAsync({ correlator: 'grp-1' });
  });

  test('a wildcard address is a pattern on its canonical prefix', async () => {
    await client.startCallNotificationAsync({ reference: reference('wild-1'), addresses: ['tel:+4-4*'], criteria: ['CalledNumber'] });
    expect(fixture.gateway.core.listCallRegistrations().find((r) => r.correlator === 'wild-1').addresses).toEqual(['tel:+44*']);
    await client.stopCallNotificationAsync({ correlator: 'wild-1' });
  });
});

describe('raw SOAP in 2.x and 3.x namespaces', () => {
  test('a 2.x start is answered in its namespace; its empty criteria are the four 2.x events', async () => {
    const response = await postSoap(`${fixture.url}${CN_PATH}`, startXml(CN_MGR('v2_3'), 'startCallNotification', { correlator: 'v2-1', addresses: ['tel:+15550200'] }));
    expect(response.status).toBe(200);
    const { body } = parseEnvelope(response.text);
    expect([body.ns, body.name]).toEqual([CN_MGR('v2_3'), 'startCallNotificationResponse']);
    expect(fixture.gateway.core.listCallRegistrations().find((r) => r.correlator === 'v2-1'))
      .toMatchObject({ criteria: ['Busy', 'NotReachable', 'NoAnswer', 'CalledNumber'], ns: CN_MGR('v2_3') });
  });

  test('Answer or Disconnected in a 2.x request: SVC0002 criteria, with the 2.x fault namespace', async () => {
    const response = await postSoap(`${fixture.url}${CN_PATH}`, startXml(CN_MGR('v2_3'), 'startCallNotification', { correlator: 'v2-2', criteria: ['Answer'] }));
    expect(response.status).toBe(500);
    expect(faultOf(response.text)).toEqual({
      ns: 'http://www.csapi.org/schema/parlayx/common/v2_1', kind: 'ServiceException', messageId: 'SVC0002', variables: ['criteria'],
    });
  });

  test('v3_8 addressDirection Calling is refused with POL0001', async () => {
    const response = await postSoap(`${fixture.url}${CN_PATH}`, startXml(CN_MGR('v3_8'), 'startCallNotification', {
      correlator: 'v38-1', extra: '<loc:addressDirection>Calling</loc:addressDirection>',
    }));
    expect(faultOf(response.text)).toMatchObject({ ns: 'http://www.csapi.org/schema/parlayx/common/v3_1', kind: 'PolicyException', messageId: 'POL0001' });
  });

  test('Call Direction: start/stop over SOAP; overlap with ANY requester\'s direction registration', async () => {
    const url = `${fixture.url}${CD_PATH}`;
    const ok = await postSoap(url, startXml(CD_MGR('v3_1'), 'startCallDirectionNotification', { correlator: 'cd-1', addresses: ['tel:+15550300'], criteria: ['Busy'], endpoint: appEndpoint('/cd') }));
    expect(ok.status).toBe(200);
    expect(parseEnvelope(ok.text).body.name).toBe('startCallDirectionNotificationResponse');
    await expect(fixture.gateway.startCallDirectionNotification({
      reference: { endpoint: appEndpoint('/cd'), correlator: 'cd-2' }, addresses: ['tel:+15550300'], criteria: ['Busy'],
    }, { requester: 'someone-else' })).rejects.toMatchObject({ messageId: 'SVC0008', variables: ['tel:+15550300'] });
    const answer = await postSoap(url, startXml(CD_MGR('v3_1'), 'startCallDirectionNotification', { correlator: 'cd-3', criteria: ['Answer'] }));
    expect(faultOf(answer.text)).toMatchObject({ messageId: 'SVC0002', variables: ['criteria'] });
    // Another requester's registration is answered like an unknown one.
    await expect(fixture.gateway.stopCallDirectionNotification('cd-1', { requester: 'someone-else' }))
      .rejects.toMatchObject({ messageId: 'SVC0002', variables: ['correlator'] });
    const stop = await postSoap(url, `<soapenv:Envelope xmlns:soapenv="${SOAP_NS}" xmlns:loc="${CD_MGR('v2_3')}"><soapenv:Body>`
      + '<loc:stopCallDirectionNotification><loc:correlator>cd-1</loc:correlator></loc:stopCallDirectionNotification></soapenv:Body></soapenv:Envelope>');
    expect(stop.status).toBe(200);
    expect(parseEnvelope(stop.text).body.ns).toBe(CD_MGR('v2_3'));
    const starts = await records('startCallDirectionNotification');
    expect(starts.map((r) => r.attributes.METHOD)).toEqual(expect.arrayContaining([
      'startCallDirectionNotification', 'startCallDirectionNotification:OverlappedCriteria', 'startCallDirectionNotification:InvalidCriteria',
    ]));
  });

  test('a node-soap client of the derived 2.x WSDL works unchanged against the same endpoint', async () => {
    const client = await soap.createClientAsync(`${fixture.url}/wsdl/parlayx_call_notification_manager_service_2_3.wsdl`);
    await client.startCallNotificationAsync({
      reference: { endpoint: appEndpoint(), interfaceName: 'CallNotification', correlator: 'v2-ns' }, addresses: ['tel:+15550222'], criteria: ['NoAnswer'],
    });
    expect(fixture.gateway.core.listCallRegistrations().find((r) => r.correlator === 'v2-ns')).toMatchObject({ ns: CN_MGR('v2_3'), criteria: ['NoAnswer'] });
    const error = await client.startCallNotificationAsync({
      reference: { endpoint: appEndpoint(), interfaceName: 'CallNotification', correlator: 'v2-ns' }, addresses: ['tel:+15550223'],
    }).then(() => null, (e) => soapFault(e));
    expect(error).toMatchObject({ messageId: 'SVC0005' });
    await client.stopCallNotificationAsync({ correlator: 'v2-ns' });
  });

  test('a node-soap client of the direction WSDL', async () => {
    const client = await soap.createClientAsync(`${fixture.url}${CD_PATH}?wsdl`);
    await client.startCallDirectionNotificationAsync({
      reference: { endpoint: appEndpoint('/cd'), interfaceName: 'CallDirection', correlator: 'cd-ns' }, addresses: ['sip:bob@example.test'],
    });
    expect(fixture.gateway.core.listCallRegistrations().find((r) => r.correlator === 'cd-ns'))
      .toMatchObject({ kind: 'direction', criteria: ['Busy', 'NotReachable', 'NoAnswer', 'CalledNumber'], ns: CD_MGR('v3_1') });
    await client.stopCallDirectionNotificationAsync({ correlator: 'cd-ns' });
  });
});

describe('outbound to the application', () => {
  const due = (extra) => ({
    callRef: 1, event: 'Busy', sipStatus: 486, description: '486 Busy Here', atMs: Date.now(), correlator: 'out-1', requester: '',
    endpoint: appEndpoint('/cn'), interfaceName: 'CallNotification', ns: CN_MGR('v3_1'),
    caller: 'sip:alice@example.test', callerName: 'Alice', called: 'tel:+15550001', callSessionId: 'call-1', ...extra,
  });

  test('notifications go in order per correlator, in the registration generation; Sending records', async () => {
    appRequests = [];
    appReply = () => ({ status: 200, body: '' });
    // The path of the core's call listener (setCallListener).
    fixture.gateway.handleCallBatch({ decisions: [], notifications: [
      due({ event: 'CalledNumber', sipStatus: 0 }),
      due({ event: 'Answer', description: '200 OK' }),
      due({ event: 'Disconnected', description: 'BYE' }),
      due({ event: 'NoAnswer', correlator: 'out-2', ns: CN_MGR('v2_3') }),
    ] });
    await fixture.gateway.delivery.settled();
    const first = appRequests.filter((r) => r.body.children[0].text === 'out-1');
    expect(first.map((r) => r.operation)).toEqual(['notifyCalledNumber', 'notifyCallEvent', 'notifyCallEvent']);
    expect(first.every((r) => r.ns === 'http://www.csapi.org/schema/parlayx/call_notification/v3_2/local')).toBe(true);
    expect(first[1].body.children[1].children.map((c) => c.text)).toEqual(['Answer', '200 OK']);
    const v2 = appRequests.find((r) => r.body.children[0].text === 'out-2');
    expect([v2.ns, v2.operation]).toEqual(['http://www.csapi.org/schema/parlayx/call_notification/v2_3/local', 'notifyNoAnswer']);
    expect(v2.body.children.map((c) => c.name)).toEqual(['correlator', 'callingParticipant', 'calledParticipant']);

    const sent = (await records('notifyCalledNumber')).filter((r) => r.attributes.CORRELATOR === 'out-1');
    expect(sent.map((r) => r.attributes)).toEqual([{
      CODE: '0', CALL_NOTIFICATION: 'Sending', CORRELATOR: 'out-1', CALLER: 'sip:alice@example.test', CALLED_PARTY: 'tel:+15550001', NETWORK_EVENT: 'NotifyCalledNumber',
    }]);
  });

  test('a notification the application refuses: the Error record', async () => {
    appReply = () => ({ status: 400, body: 'no' });
    fixture.gateway.callDeliveries.enqueue([due({ correlator: 'out-3' })]);
    await fixture.gateway.delivery.settled();
    await fixture.gateway.callDeliveries.written();
    const busy = (await records('notifyBusy')).filter((r) => r.attributes.CORRELATOR === 'out-3');
    expect(busy.map((r) => [r.attributes.CODE, r.attributes.CALL_NOTIFICATION])).toEqual([['0', 'Sending'], ['1', 'Error']]);
    expect(busy[1].statusCode).not.toBe(0);
  });

  test('a malformed batch or due is logged and skipped, never thrown into the core', async () => {
    expect(() => fixture.gateway.handleCallBatch(null)).not.toThrow();
    expect(() => fixture.gateway.handleCallBatch({ notifications: [null, due({ event: 'Ringing' }), due({ event: 'Answer', ns: CN_MGR('v2_3') })] })).not.toThrow();
    expect(fixture.gateway.callDeliveries.counters.skipped).toBeGreaterThanOrEqual(3);
  });

  test('a decision: handleBusy at the application, its Action given to the core', async () => {
    appReply = (operation) => ({
      status: 200,
      body: `<soapenv:Envelope xmlns:soapenv="${SOAP_NS}"><soapenv:Body><ns:${operation}Response xmlns:ns="http://www.csapi.org/schema/parlayx/call_direction/v3_2/local">`
        + `<ns:result><actionToPerform>Route</actionToPerform><routingAddress>tel:+15550999</routingAddress></ns:result></ns:${operation}Response></soapenv:Body></soapenv:Envelope>`,
    });
    const core = fixture.gateway.core;
    const realDecide = core.decideCall;
    const decided = [];
    override(core, 'decideCall', (callRef, decisionId, action) => { decided.push({ callRef, decisionId, action }); return true; });
    try {
      const result = await fixture.gateway.decisions.decide({
        ...due({ correlator: 'cd-9', endpoint: appEndpoint('/cd'), ns: CD_MGR('v3_1') }), decisionId: 2, timeoutMs: 1500,
      });
      expect(result).toMatchObject({ fromApplication: true, accepted: true });
    } finally {
      override(core, 'decideCall', realDecide);
    }
    expect(appRequests.at(-1)).toMatchObject({ url: '/cd', operation: 'handleBusy', ns: 'http://www.csapi.org/schema/parlayx/call_direction/v3_2/local' });
    expect(decided).toEqual([{ callRef: 1, decisionId: 2, action: { action: 'Route', routingAddress: 'tel:+15550999' } }]);
  });
});

describe('routing', () => {
  const { createRouter } = require('../../handlers');
  const { AuthenticationError } = require('../../js/auth/errors');

  test('a refused login at a call endpoint is counted under its policy service', async () => {
    const refused = [];
    const router = createRouter({
      basePath: '/parlayx', defaultHost: 'localhost:1', maxBodyBytes: 8192,
      services: { terminalStatus: {}, notifications: {}, callNotifications: {}, callDirection: {} },
      authenticator: { realm: 'px', understoodHeaders: new Set(), authenticate: async () => { throw new AuthenticationError('badPassword', 'acme'); } },
      onAuthFailure: (info) => refused.push(info),
    });
    const post = (path, ns, operation) => router({
      httpMethod: 'POST', path: `/parlayx${path}`, headers: {},
      body: `<soapenv:Envelope xmlns:soapenv="${SOAP_NS}" xmlns:loc="${ns}"><soapenv:Body><loc:${operation}><loc:correlator>c</loc:correlator></loc:${operation}></soapenv:Body></soapenv:Envelope>`,
    });
    expect((await post(CN_PATH, CN_MGR('v3_1'), 'stopCallNotification')).statusCode).toBe(401);
    expect((await post(CD_PATH, CD_MGR('v2_3'), 'stopCallDirectionNotification')).statusCode).toBe(401);
    expect(refused).toEqual([
      { requester: 'acme', reason: 'badPassword', operation: 'stopCallNotification', service: 'callNotification' },
      { requester: 'acme', reason: 'badPassword', operation: 'stopCallDirectionNotification', service: 'callDirection' },
    ]);
  });

  test('an embedder without call services gets 404 at the call paths', async () => {
    const router = createRouter({ basePath: '/', defaultHost: 'localhost:1', maxBodyBytes: 8192, services: { terminalStatus: {}, notifications: {} } });
    expect((await router({ httpMethod: 'POST', path: CN_PATH, headers: {}, body: '' })).statusCode).toBe(404);
  });
});
