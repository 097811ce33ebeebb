'use strict';
// The SOAP side of Call Notification / Call Direction without a gateway: the manager requests in
// 2.x and 3.x namespaces, the answers, the outbound notify*/handle* envelopes parsed back, the
// Action answers (good and bad ones), and the decision client against a real local HTTP server
// (deadline, default action, SSRF guard, records).
const http = require('node:http');
const { parseEnvelope, SoapFaultError } = require('../../js/soap/envelope');
const {
  readRequest, readActionResponse, CALL_NOTIFICATION_MANAGER, CALL_DIRECTION_MANAGER,
} = require('../../js/soap/requests');
const builder = require('../../js/soap/builder');
const { DecisionClient, decisionDeadlineMs, checkAction } = require('../../js/calls/decisionClient');
const { DestinationPolicy } = require('../../js/outbound/destinationPolicy');
const { ConnectionBudget } = require('../../js/http1Client');
const { parseWatchedAddress, checkCriteria, callEventsAttribute } = require('../../js/calls/registrationRequests');

const CN_MGR = (v) => `http://www.csapi.org/schema/parlayx/call_notification/notification_manager/${v}/local`;
const CD_MGR = (v) => `http://www.csapi.org/schema/parlayx/call_direction/notification_manager/${v}/local`;
const SOAP = 'http://schemas.xmlsoap.org/soap/envelope/';

function envelope(ns, inner) {
  return `<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="${SOAP}" xmlns:loc="${ns}"><soapenv:Body>${inner}</soapenv:Body></soapenv:Envelope>`;
}

/** The wrapper element's children as { name: text } (repeated names as arrays), with namespaces. */
function children(element) {
  const out = {};
  for (const child of element.children) {
    const value = child.children.length > 0 ? children(child) : child.text;
    out[child.name] = Object.hasOwn(out, child.name) ? [].concat(out[child.name], value) : value;
  }
  return out;
}

const START = `<loc:startCallNotification><loc:reference><endpoint>http://app.example/cn</endpoint>
  <interfaceName>CallNotification</interfaceName><correlator>c-1</correlator></loc:reference>
  <loc:addresses>tel:+15551234567</loc:addresses><loc:addresses> tel:+44* </loc:addresses>
  <loc:criteria>Busy</loc:criteria><loc:criteria>Answer</loc:criteria></loc:startCallNotification>`;

describe('manager requests', () => {
  test.each(['v2_3', 'v3_1', 'v3_8'])('startCallNotification in %s is read with its namespace', (v) => {
    const parsed = readRequest(CALL_NOTIFICATION_MANAGER, envelope(CN_MGR(v), START));
    expect(parsed.operation).toBe('startCallNotification');
    expect(parsed.ns).toBe(CN_MGR(v));
    expect(parsed.commonNs).toBe(v === 'v2_3' ? 'http://www.csapi.org/schema/parlayx/common/v2_1' : 'http://www.csapi.org/schema/parlayx/common/v3_1');
    expect(parsed.request).toEqual({
      reference: { endpoint: 'http://app.example/cn', interfaceName: 'CallNotification', correlator: 'c-1' },
      addresses: ['tel:+15551234567', 'tel:+44*'],
      criteria: ['Busy', 'Answer'],
      namespace: CN_MGR(v),
    });
  });

  test('addressDirection (v3_8) is read; stop reads the correlator', () => {
    const start = START.replace('</loc:startCallNotification>', '<loc:addressDirection>Calling</loc:addressDirection></loc:startCallNotification>');
    expect(readRequest(CALL_NOTIFICATION_MANAGER, envelope(CN_MGR('v3_8'), start)).request.addressDirection).toBe('Calling');
    const stop = readRequest(CALL_NOTIFICATION_MANAGER, envelope(CN_MGR('v2_3'), '<loc:stopCallNotification><loc:correlator>c-1</loc:correlator></loc:stopCallNotification>'));
    expect(stop.request).toEqual({ correlator: 'c-1', namespace: CN_MGR('v2_3') });
    const twice = readRequest(CALL_NOTIFICATION_MANAGER, envelope(CN_MGR('v3_1'),
      '<loc:stopCallNotification><loc:correlator>a</loc:correlator><loc:correlator>b</loc:correlator></loc:stopCallNotification>'));
    expect(twice.request.correlator).toBe('');
  });

  test.each([CD_MGR('v3_1'), CD_MGR('v2_3'), 'http://www.csapi.org/schema/parlayx/call_direction/manager/v3_1/local'])(
    'Call Direction in %s', (ns) => {
      const start = START.replace(/startCallNotification/g, 'startCallDirectionNotification');
      const parsed = readRequest(CALL_DIRECTION_MANAGER, envelope(ns, start));
      expect(parsed.operation).toBe('startCallDirectionNotification');
      expect(parsed.request.namespace).toBe(ns);
      const stop = readRequest(CALL_DIRECTION_MANAGER, envelope(ns, '<loc:stopCallDirectionNotification><loc:correlator>x</loc:correlator></loc:stopCallDirectionNotification>'));
      expect(stop.request.correlator).toBe('x');
    });

  test('operations not offered and foreign namespaces are Client faults', () => {
    const media = '<loc:startPlayAndCollectNotification><loc:callSessionIdentifier>1</loc:callSessionIdentifier></loc:startPlayAndCollectNotification>';
    expect(() => readRequest(CALL_NOTIFICATION_MANAGER, envelope(CN_MGR('v3_1'), media))).toThrow(SoapFaultError);
    expect(() => readRequest(CALL_DIRECTION_MANAGER, envelope(CN_MGR('v3_1'), START))).toThrow(SoapFaultError);
    expect(() => readRequest(CALL_NOTIFICATION_MANAGER, envelope(CD_MGR('v3_1'), START))).toThrow(SoapFaultError);
  });

  test.each(['startCallNotification', 'stopCallNotification', 'startCallDirectionNotification', 'stopCallDirectionNotification'])(
    '%s is answered with an empty response in the request namespace', (operation) => {
      const ns = CN_MGR('v2_3');
      const { body } = parseEnvelope(builder.operationResponse({ operation, ns }, undefined));
      expect(body).toMatchObject({ ns, name: `${operation}Response`, children: [] });
    });
});

const CALL = {
  callRef: 7, event: 'Busy', sipStatus: 486, description: '486 Busy Here', atMs: 1, correlator: 'c<1>',
  requester: 'app', endpoint: 'http://app.example/cn', interfaceName: 'CallNotification',
  caller: 'sip:alice@example.test', callerName: 'Alice & co', called: 'tel:+15551234567', callSessionId: 'call-7',
};

describe('outbound envelopes', () => {
  test('notifyBusy to a 3.x registration: every part, in the v3_2 namespace', () => {
    const { body } = parseEnvelope(builder.callNotificationEnvelope({ ...CALL, ns: CN_MGR('v3_1') }));
    expect(body.ns).toBe('http://www.csapi.org/schema/parlayx/call_notification/v3_2/local');
    expect(body.name).toBe('notifyBusy');
    expect(body.children.every((c) => c.ns === body.ns)).toBe(true);
    expect(children(body)).toEqual({
      correlator: 'c<1>', callingParticipant: 'sip:alice@example.test', callingParticipantName: 'Alice & co',
      calledParticipant: 'tel:+15551234567', callSessionIdentifier: 'call-7',
    });
  });

  test('a 2.x registration gets the 2.x parts in the v2_3 namespace, and never a 3.x event', () => {
    for (const [event, operation] of [['Busy', 'notifyBusy'], ['NotReachable', 'notifyNotReachable'], ['NoAnswer', 'notifyNoAnswer'], ['CalledNumber', 'notifyCalledNumber']]) {
      const { body } = parseEnvelope(builder.callNotificationEnvelope({ ...CALL, event, ns: CN_MGR('v2_3') }));
      expect(body.ns).toBe('http://www.csapi.org/schema/parlayx/call_notification/v2_3/local');
      expect(body.name).toBe(operation);
      expect(children(body)).toEqual({ correlator: 'c<1>', callingParticipant: 'sip:alice@example.test', calledParticipant: 'tel:+15551234567' });
    }
    expect(() => builder.callNotificationEnvelope({ ...CALL, event: 'Answer', ns: CN_MGR('v2_3') })).toThrow(TypeError);
    expect(() => builder.callNotificationEnvelope({ ...CALL, event: 'Ringing', ns: CN_MGR('v3_1') })).toThrow(TypeError);
  });

  test.each(['Answer', 'Disconnected'])('%s goes as notifyCallEvent with eventNotified (unqualified children)', (event) => {
    const { body } = parseEnvelope(builder.callNotificationEnvelope({ ...CALL, event, description: '200 OK', ns: CN_MGR('v3_8') }));
    expect(body.ns).toBe('http://www.csapi.org/schema/parlayx/call_notification/v3_8/local');
    expect(body.name).toBe('notifyCallEvent');
    expect(body.children.map((c) => c.name)).toEqual(['correlator', 'eventNotified', 'callingParticipant', 'callingParticipantName', 'calledParticipant', 'callSessionIdentifier']);
    const eventNotified = body.children[1];
    expect(eventNotified.children.map((c) => [c.ns, c.name, c.text])).toEqual([['', 'callEvent', event], ['', 'description', '200 OK']]);
  });

  test('deliveryEnvelope writes a call delivery by its kind', () => {
    const xml = builder.deliveryEnvelope({ kind: 'notifyNoAnswer', correlator: 'c', call: { ...CALL, event: 'NoAnswer', ns: CN_MGR('v3_1') } });
    expect(parseEnvelope(xml).body.name).toBe('notifyNoAnswer');
  });

  test('handle* in the registration generation namespace', () => {
    const v3 = parseEnvelope(builder.handleEnvelope({ ...CALL, event: 'CalledNumber', ns: CD_MGR('v3_1') })).body;
    expect([v3.ns, v3.name]).toEqual(['http://www.csapi.org/schema/parlayx/call_direction/v3_2/local', 'handleCalledNumber']);
    expect(Object.keys(children(v3))).toEqual(['correlator', 'callingParticipant', 'callingParticipantName', 'calledParticipant', 'callSessionIdentifier']);
    const v2 = parseEnvelope(builder.handleEnvelope({ ...CALL, event: 'NoAnswer', ns: CD_MGR('v2_3') })).body;
    expect([v2.ns, v2.name]).toEqual(['http://www.csapi.org/schema/parlayx/call_direction/v2_3/local', 'handleNoAnswer']);
    expect(Object.keys(children(v2))).toEqual(['correlator', 'callingParticipant', 'calledParticipant']);
    expect(() => builder.handleEnvelope({ ...CALL, event: 'Answer', ns: CD_MGR('v3_1') })).toThrow(TypeError);
  });
});

function actionAnswer(operation, inner, { qualified = false, ns = 'http://www.csapi.org/schema/parlayx/call_direction/v3_2/local' } = {}) {
  const q = qualified ? 'x:' : '';
  return `<soapenv:Envelope xmlns:soapenv="${SOAP}"><soapenv:Body><ns:${operation}Response xmlns:ns="${ns}" xmlns:x="http://www.csapi.org/schema/parlayx/call_notification/v3_1">`
    + `<ns:result>${inner.replace(/<(\/?)(actionToPerform|routingAddress)>/g, `<$1${q}$2>`)}</ns:result></ns:${operation}Response></soapenv:Body></soapenv:Envelope>`;
}

describe('Action answers', () => {
  test('Continue, EndCall, Route with its address; qualified or not', () => {
    expect(readActionResponse(actionAnswer('handleBusy', '<actionToPerform>Continue</actionToPerform>'), 'handleBusy')).toEqual({ action: 'Continue' });
    expect(readActionResponse(actionAnswer('handleBusy', '<actionToPerform> EndCall </actionToPerform>', { qualified: true }), 'handleBusy')).toEqual({ action: 'EndCall' });
    const route = readActionResponse(actionAnswer('handleNoAnswer', '<actionToPerform>Route</actionToPerform><routingAddress>tel:+44-20-7946-0000</routingAddress>'), 'handleNoAnswer');
    expect(route).toEqual({ action: 'Route', routingAddress: 'tel:+44-20-7946-0000' });
    expect(checkAction(route)).toEqual({ action: { action: 'Route', routingAddress: 'tel:+442079460000' } });
  });

  test('bad answers are application errors', () => {
    const bad = (xml, operation = 'handleBusy') => {
      try {
        readActionResponse(xml, operation);
      } catch (error) {
        return error.code || error.name;
      }
      return 'accepted';
    };
    expect(bad(actionAnswer('handleNotReachable', '<actionToPerform>Continue</actionToPerform>'))).toBe('ERR_PX_BAD_ACTION');
    expect(bad(actionAnswer('handleBusy', ''))).toBe('ERR_PX_BAD_ACTION');
    expect(bad(actionAnswer('handleBusy', '<actionToPerform>Route</actionToPerform><routingAddress>a</routingAddress><routingAddress>b</routingAddress>'))).toBe('ERR_PX_BAD_ACTION');
    expect(bad(builder.toSoapFault(new (require('../../js/parlayx/faults').ParlayxFault)('SVC0001', ['x'])))).toBe('ERR_PX_BAD_ACTION');
    expect(bad('not xml')).toBe('SoapFaultError');
    expect(checkAction({ action: 'Jump' }).error).toMatch(/unknown actionToPerform/);
    expect(checkAction({ action: 'Route' }).error).toMatch(/without routingAddress/);
    expect(checkAction({ action: 'Route', routingAddress: 'mailto:x@y' }).error).toMatch(/invalid routingAddress/);
  });
});

describe('addresses and criteria', () => {
  test('exact addresses and trailing-* patterns with a fixed part of scheme + 2 characters', () => {
    expect(parseWatchedAddress('tel:+1-555-123')).toEqual({ pattern: false, canonical: 'tel:+1555123' });
    expect(parseWatchedAddress('tel:+44*')).toEqual({ pattern: true, canonical: 'tel:+44' });
    expect(parseWatchedAddress('sip:alice*')).toEqual({ pattern: true, canonical: 'sip:alice' });
    for (const bad of ['tel:*', 'tel:+*', 'tel:+4**', '*', 'tel:+4*4*', 'nonsense', '', 'tel:+1\n']) {
      expect(parseWatchedAddress(bad)).toBeNull();
    }
  });

  test('criteria by generation and kind; CALL_EVENTS names', () => {
    expect(checkCriteria([], CN_MGR('v2_3'))).toEqual(['Busy', 'NotReachable', 'NoAnswer', 'CalledNumber']);
    expect(checkCriteria(undefined, CN_MGR('v3_1'))).toHaveLength(6);
    expect(() => checkCriteria(['Answer'], CN_MGR('v2_3'))).toThrow(expect.objectContaining({ messageId: 'SVC0002', variables: ['criteria'] }));
    expect(() => checkCriteria(['Disconnected'], CD_MGR('v3_1'), 'direction')).toThrow(expect.objectContaining({ messageId: 'SVC0002' }));
    expect(() => checkCriteria(['busy'], CN_MGR('v3_1'))).toThrow(expect.objectContaining({ messageId: 'SVC0002' }));
    expect(checkCriteria(['Busy', 'Busy'], CN_MGR('v3_1'))).toEqual(['Busy']);
    expect(callEventsAttribute(['CalledNumber', 'Busy', 'NoAnswer', 'NotReachable', 'Answer', 'Disconnected']))
      .toBe('called_number,busy,no_answer,not_reachable,answer,disconnected');
  });
});

// ---------------------------------------------------------------------------------------------
// The decision client against a real HTTP server

function listen(handler) {
  return new Promise((resolve) => {
    const server = http.createServer(handler);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

describe('decision client', () => {
  let server;
  let answer; // (operation, requestXml) -> { status, body, delayMs }
  let seen;
  let client;
  let decided;
  let records;
  let coreAccepts;
  const LOOPBACK = { allowCidrs: ['127.0.0.0/8'], allowHosts: [], allowOwnListeners: false };

  beforeAll(async () => {
    server = await listen(async (req, res) => {
      const text = await readBody(req);
      const { body } = parseEnvelope(text);
      seen.push({ url: req.url, soapAction: req.headers.soapaction, ns: body.ns, operation: body.name, parts: children(body) });
      const { status = 200, body: out = '', delayMs = 0 } = answer(body.name, text);
      setTimeout(() => {
        res.writeHead(status, { 'content-type': 'text/xml' });
        res.end(out);
      }, delayMs);
    });
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  beforeEach(() => {
    seen = [];
    decided = [];
    records = [];
    coreAccepts = true;
    const core = { decideCall: (callRef, decisionId, action) => { decided.push({ callRef, decisionId, action }); return coreAccepts; } };
    const usage = { record: async (entries) => { records.push(...entries); } };
    client = new DecisionClient({
      core, calls: { defaultAction: 'EndCall' }, usage, destinations: new DestinationPolicy(LOOPBACK), budget: new ConnectionBudget(8),
    });
  });
  afterEach(() => client.close());

  const due = (extra = {}) => ({
    ...CALL, callRef: 11, decisionId: 3, event: 'Busy', timeoutMs: 1000, correlator: 'dir-1', ns: CD_MGR('v3_1'),
    endpoint: `http://127.0.0.1:${server.address().port}/app/cd?x=1`, ...extra,
  });

  test('deadline: the timeout minus a margin of a fifth, 20..250 ms', () => {
    expect(decisionDeadlineMs(1500)).toBe(1250);
    expect(decisionDeadlineMs(1000)).toBe(800);
    expect(decisionDeadlineMs(50)).toBe(30);
    expect(decisionDeadlineMs(20000)).toBe(19750);
  });

  test('Route: handleBusy is posted, the canonical routing address decided, recorded', async () => {
    answer = (op) => ({ body: actionAnswer(op, '<actionToPerform>Route</actionToPerform><routingAddress>tel:+44-20-7946-0001</routingAddress>') });
    const result = await client.decide(due());
    expect(seen).toEqual([expect.objectContaining({
      url: '/app/cd?x=1', soapAction: '""', ns: 'http://www.csapi.org/schema/parlayx/call_direction/v3_2/local', operation: 'handleBusy',
      parts: expect.objectContaining({ correlator: 'dir-1', calledParticipant: 'tel:+15551234567' }),
    })]);
    expect(result).toMatchObject({ fromApplication: true, accepted: true });
    expect(decided).toEqual([{ callRef: 11, decisionId: 3, action: { action: 'Route', routingAddress: 'tel:+442079460001' } }]);
    await client.written();
    expect(records).toEqual([expect.objectContaining({
      eventType: 'handleBusy', statusCode: 0,
      attributes: { CODE: '0', CORRELATOR: 'dir-1', CALLER: 'sip:alice@example.test', CALLED_PARTY: 'tel:+15551234567', ACTION: 'Route:tel:+442079460001' },
    })]);
  });

  test('Continue from a 2.x application; EndCall', async () => {
    answer = (op) => ({ body: actionAnswer(op, '<actionToPerform>Continue</actionToPerform>', { ns: 'http://www.csapi.org/schema/parlayx/call_direction/v2_3/local' }) });
    await client.decide(due({ event: 'CalledNumber', ns: CD_MGR('v2_3') }));
    expect(seen[0]).toMatchObject({ ns: 'http://www.csapi.org/schema/parlayx/call_direction/v2_3/local', operation: 'handleCalledNumber' });
    answer = (op) => ({ body: actionAnswer(op, '<actionToPerform>EndCall</actionToPerform>') });
    await client.decide(due({ event: 'NotReachable' }));
    expect(decided.map((d) => d.action)).toEqual([{ action: 'Continue' }, { action: 'EndCall' }]);
  });

  test.each([
    ['an unknown action', { body: actionAnswer('handleBusy', '<actionToPerform>Jump</actionToPerform>') }],
    ['Route without an address', { body: actionAnswer('handleBusy', '<actionToPerform>Route</actionToPerform>') }],
    ['Route to an invalid address', { body: actionAnswer('handleBusy', '<actionToPerform>Route</actionToPerform><routingAddress>http://x</routingAddress>') }],
    ['a SOAP fault', { status: 500, body: builder.toSoapFault(new (require('../../js/parlayx/faults').ParlayxFault)('SVC0001', ['no'])) }],
    ['HTTP 404', { status: 404, body: 'no' }],
    ['another operation answer', { body: actionAnswer('handleNoAnswer', '<actionToPerform>Continue</actionToPerform>') }],
    ['a body that is not SOAP', { body: 'hello' }],
  ])('%s: the default action', async (name, reply) => {
    answer = () => reply;
    const result = await client.decide(due());
    expect(result).toMatchObject({ fromApplication: false, action: { action: 'EndCall' } });
    expect(decided).toEqual([{ callRef: 11, decisionId: 3, action: { action: 'EndCall' } }]);
    await client.written();
    expect(records[0]).toMatchObject({ eventType: 'handleBusy', statusCode: expect.any(Number), attributes: { CODE: '1', ACTION: 'Default:EndCall' } });
    expect(records[0].statusCode).not.toBe(0);
  });

  test('an application slower than the deadline: the default action before the SIP side times out', async () => {
    answer = (op) => ({ delayMs: 600, body: actionAnswer(op, '<actionToPerform>Continue</actionToPerform>') });
    const started = Date.now();
    const result = await client.decide(due({ timeoutMs: 400 }));
    const elapsed = Date.now() - started;
    expect(result).toMatchObject({ fromApplication: false, action: { action: 'EndCall' } });
    expect(result.reason).toMatch(/no answer within 320 ms/);
    expect(elapsed).toBeGreaterThanOrEqual(300);
    expect(elapsed).toBeLessThan(400);
  });

  test('a decision the core no longer waits for is recorded as late', async () => {
    coreAccepts = false;
    answer = (op) => ({ body: actionAnswer(op, '<actionToPerform>Continue</actionToPerform>') });
    const result = await client.decide(due());
    expect(result).toMatchObject({ fromApplication: true, accepted: false });
    await client.written();
    expect(records[0].attributes).toMatchObject({ CODE: '1', ACTION: 'Late:Continue' });
  });

  test('the SSRF guard: a refused destination is never contacted and gets the default', async () => {
    const refusing = new DecisionClient({
      core: { decideCall: (...args) => { decided.push(args); return true; } }, calls: {}, usage: { record: async () => {} },
      destinations: new DestinationPolicy({ allowCidrs: [], allowHosts: [], allowOwnListeners: false }),
    });
    answer = () => ({ body: '' });
    const result = await refusing.decide(due());
    await refusing.close();
    expect(seen).toEqual([]);
    expect(result).toMatchObject({ fromApplication: false, action: { action: 'Continue' } });
    expect(result.reason).toMatch(/endpoint refused/);
  });
});

describe('http1Client bodies for handlers that want them', () => {
  const { KeepAlivePool } = require('../../js/http1Client');
  let server;
  let mode;
  beforeAll(async () => {
    server = await listen((req, res) => {
      req.resume();
      req.on('end', () => {
        if (mode === 'chunked') {
          res.writeHead(200, { 'content-type': 'text/xml' });
          res.write('<a>');
          setTimeout(() => res.end('b</a>'), 5);
        } else if (mode === 'length') {
          res.writeHead(200, { 'content-length': '8' });
          res.end('<a>b</a>');
        } else if (mode === 'close') {
          res.socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n<until-close/>');
        } else {
          res.writeHead(200, { 'content-length': String(70 * 1024) });
          res.end('x'.repeat(70 * 1024));
        }
      });
    });
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  function get(wantsBody) {
    const pool = new KeepAlivePool(new URL(`http://127.0.0.1:${server.address().port}/`));
    return new Promise((resolve) => {
      pool.send({
        wantsBody,
        onHttpResponse: (status, body) => { pool.close(); resolve({ status, body: body && body.toString() }); },
        onHttpError: (error) => { pool.close(); resolve({ error: error.code }); },
      }, `GET / HTTP/1.1\r\nHost: x\r\n\r\n`);
    });
  }

  test.each([['chunked', '<a>b</a>'], ['length', '<a>b</a>'], ['close', '<until-close/>']])('%s body', async (m, expected) => {
    mode = m;
    expect(await get(true)).toEqual({ status: 200, body: expected });
    expect(await get(false)).toEqual({ status: 200, body: undefined });
  });

  test('a body over 64 KiB is an error', async () => {
    mode = 'large';
    expect(await get(true)).toEqual({ error: 'HPE_INVALID' });
    expect(await get(false)).toEqual({ status: 200, body: undefined });
  });
});
