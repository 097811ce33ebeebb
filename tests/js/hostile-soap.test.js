'use strict';
// Hostile SOAP over real HTTP against a real gateway (Kamailio presence server, SQLite usage
// store, requester authentication on): XML attacks, encodings, sizes, framing, methods and
// header injection. For each case: the exact answer (HTTP status, SOAP faultcode and
// faultstring, Parlay X messageId where there is one), the usage records it wrote (one when the
// request authenticated and reached an operation, none otherwise), and a valid getStatus right
// after it still answers Reachable, with its own record.
const fs = require('node:fs');
const { startKamailio } = require('../../scripts/kamailio/kamailio');
const sip = require('../support/sip');
const { startHostileGateway, NM_NS } = require('../support/hostileGateway');
const { postSoap, envelope, tempDir, basicAuth } = require('../support/gateway');
const { rawRequest } = require('../support/rawHttp');
const { parseEnvelope } = require('../../js/soap/envelope');

jest.setTimeout(30000);

const MAX_BODY = 1048576; // http.maxBodyBytes of the gateway under test
const ALICE = 'sip:alice@example.test';
const AUTH = basicAuth('acme', 'acme-password');
const LOCAL_NS = 'http://www.csapi.org/schema/parlayx/terminal_status/v2_3/local';

let kamailio;
let fixture;

const getStatus = (address) => envelope(`<loc:getStatus><loc:address>${address}</loc:address></loc:getStatus>`);
const group = (addresses) => envelope(`<loc:getStatusForGroup>${addresses.map((a) => `<loc:addresses>${a}</loc:addresses>`).join('')}</loc:getStatusForGroup>`);
/** A getStatus of alice padded with a comment inside the Body to exactly `size` bytes. */
function padded(size) {
  const base = getStatus(ALICE);
  return base.replace('<soapenv:Body>', `<soapenv:Body><!--${'x'.repeat(size - Buffer.byteLength(base) - 7)}-->`);
}

/** Every usage record of the gateway, oldest first (durable mode: an answered request's are in). */
const allRecords = () => fixture.gateway.usage.query({});

/** The SOAP Fault of an answer body as { faultcode, faultstring, messageId }, parsed strictly. */
function faultOf(text) {
  const { body } = parseEnvelope(Buffer.from(text));
  expect(body.name).toBe('Fault');
  const child = (el, name) => el.children.find((c) => c.name === name);
  const detail = child(body, 'detail');
  const exception = detail && detail.children[0];
  return {
    faultcode: child(body, 'faultcode').text,
    faultstring: child(body, 'faultstring').text,
    messageId: exception ? child(exception, 'messageId').text : undefined,
  };
}

/** A valid getStatus still answers, at once, with exactly one VALID record of its own. */
async function expectStillServing() {
  const started = Date.now();
  const reply = await postSoap(fixture.endpoint, getStatus(ALICE), AUTH);
  expect(reply.status).toBe(200);
  expect(reply.text).toContain('<ns:result>Reachable</ns:result>');
  expect(Date.now() - started).toBeLessThan(1000); // presence.fetchTimeoutMs
  const records = await fixture.gateway.usage.query({ globalId: reply.headers.get('x-parlayx-global-id') });
  expect(records).toHaveLength(1);
  expect(records[0]).toMatchObject({ eventType: 'getStatus', statusCode: 0 });
  expect(fixture.logs.filter((l) => l.level === 'error')).toEqual([]);
}

/** No stack trace, path or internal error text ever goes to the client. */
function expectNoLeak(text) {
  expect(text).not.toMatch(/ at .*\.js:\d+|node:internal|\/work\/|internal error|TypeError|RangeError|URIError/);
}

beforeAll(async () => {
  kamailio = await startKamailio({ workDir: tempDir('px-kam-hostile-') });
  const published = await sip.publish({ server: { host: '127.0.0.1', port: kamailio.sipPort }, presentity: ALICE, basic: 'open' });
  expect(published.status).toBe(200);
  fixture = await startHostileGateway({ presencePort: kamailio.sipPort, maxBodyBytes: MAX_BODY });
}, 30000);

afterAll(async () => {
  if (fixture) {
    await fixture.gateway.close();
    fs.rmSync(fixture.stateDir, { recursive: true, force: true });
  }
  if (kamailio) await kamailio.stop();
});

afterEach(async () => {
  await expectStillServing();
});

const DOCTYPE = 'DOCTYPE is not allowed in a SOAP message';
const ENVELOPE_OPEN = '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
  + `xmlns:loc="${LOCAL_NS}"><soapenv:Body>`;
const ENVELOPE_CLOSE = '</soapenv:Body></soapenv:Envelope>';
const noDecl = (xml) => xml.replace(/^<\?xml[^>]*\?>\s*/, '');
const laughs = ['<!ENTITY lol "lol">']
  .concat(Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`)).join('');

// Requests refused before authentication and before any operation: Client faults, no record.
const parseFaults = [
  ['XXE: external entity to a local file',
    `<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>${noDecl(getStatus('&xxe;'))}`, DOCTYPE],
  ['XXE: external entity to a URL on loopback',
    `<!DOCTYPE foo [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/x">]>${noDecl(getStatus('&xxe;'))}`, DOCTYPE],
  ['billion laughs', `<?xml version="1.0"?><!DOCTYPE lolz [${laughs}]>${noDecl(getStatus('&lol9;'))}`, DOCTYPE],
  ['parameter entities and an external DTD',
    `<!DOCTYPE foo [<!ENTITY % dtd SYSTEM "http://127.0.0.1:9/evil.dtd"> %dtd; <!ENTITY % p "x">]>${noDecl(getStatus(ALICE))}`, DOCTYPE],
  ['a bare DOCTYPE', `<!DOCTYPE soapenv:Envelope>${noDecl(getStatus(ALICE))}`, DOCTYPE],
  ['a DOCTYPE inside the body', envelope(`<loc:getStatus><!DOCTYPE x><loc:address>${ALICE}</loc:address></loc:getStatus>`), DOCTYPE],
  ['an undeclared entity', getStatus('&xxe;'),
    'Malformed XML: invalid or undefined entity reference (only the five predefined entities and character references are allowed)'],
  ['a processing instruction in the prolog', `<?xml version="1.0"?><?xml-stylesheet href="http://127.0.0.1:9/x"?>${noDecl(getStatus(ALICE))}`,
    'Malformed XML: processing instructions are not allowed'],
  ['a processing instruction in the body', envelope(`<loc:getStatus><?php system('id'); ?><loc:address>${ALICE}</loc:address></loc:getStatus>`),
    'Malformed XML: processing instructions are not allowed'],
  ['100,000 nested elements (within the body cap)', `${ENVELOPE_OPEN}${'<a>'.repeat(100000)}${'</a>'.repeat(100000)}${ENVELOPE_CLOSE}`,
    'Message too deeply nested (more than 32 levels)'],
  ['20,000 sibling elements', envelope(`<loc:getStatus>${'<x/>'.repeat(20000)}</loc:getStatus>`),
    'Message has too many elements (more than 10000)'],
  ['a repeated attribute', envelope(`<loc:getStatus a="1" a="2"><loc:address>${ALICE}</loc:address></loc:getStatus>`),
    'Malformed XML: duplicate attribute a'],
  ['an address longer than the text limit', getStatus(`sip:${'a'.repeat(70000)}@example.test`),
    'Text too large in element address (more than 65536 bytes)'],
  ['invalid UTF-8', Buffer.concat([Buffer.from(getStatus('sip:')), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(getStatus('x'))]),
    'unsupported encoding: input is not valid UTF-8'],
  ['an overlong UTF-8 encoding of "<"', Buffer.concat([Buffer.from(getStatus('sip:a')), Buffer.from([0xc0, 0xbc])]),
    'unsupported encoding: input is not valid UTF-8'],
  ['UTF-16LE with a BOM', Buffer.from(`\ufeff${getStatus(ALICE)}`, 'utf16le'), 'unsupported encoding: only UTF-8 is accepted'],
  ['UTF-16BE with a BOM', Buffer.from(`\ufeff${getStatus(ALICE)}`, 'utf16le').swap16(), 'unsupported encoding: only UTF-8 is accepted'],
  ['UTF-16 declared on UTF-8 bytes', getStatus(ALICE).replace('UTF-8', 'UTF-16'), 'unsupported encoding: UTF-16'],
  ['ISO-8859-1 declared', getStatus(ALICE).replace('UTF-8', 'ISO-8859-1'), 'unsupported encoding: ISO-8859-1'],
  ['a leading NUL byte', Buffer.concat([Buffer.from([0]), Buffer.from(getStatus(ALICE))]), 'unsupported encoding: only UTF-8 is accepted'],
  ['a NUL byte inside an address', getStatus('sip:alice\u0000@example.test'), 'Malformed XML: character not allowed in XML 1.0'],
  ['a NUL character reference', getStatus('sip:alice&#0;@example.test'),
    'Malformed XML: invalid or undefined entity reference (only the five predefined entities and character references are allowed)'],
  ['an unknown operation', envelope('<loc:frobnicate/>'), `unknown operation {${LOCAL_NS}}frobnicate`],
  ['getStatus in a foreign namespace', envelope(`<loc:getStatus><loc:address>${ALICE}</loc:address></loc:getStatus>`, { localNs: 'urn:evil' }),
    'unknown operation {urn:evil}getStatus'],
  ['getStatus in the notification manager namespace', envelope(`<loc:getStatus><loc:address>${ALICE}</loc:address></loc:getStatus>`, { localNs: NM_NS }),
    `unknown operation {${NM_NS}}getStatus`],
  ['an unqualified getStatus', `${ENVELOPE_OPEN}<getStatus><address>${ALICE}</address></getStatus>${ENVELOPE_CLOSE}`,
    'unknown operation {}getStatus'],
  ['markup in a namespace name is escaped in the faultstring', envelope('<loc:x/>', { localNs: 'urn:&lt;/faultstring&gt;]]&gt;' }),
    'unknown operation {urn:</faultstring>]]>}x'],
  ['an empty HTTP body', '', 'Empty request: no XML element found'],
  ['not XML at all', 'garbage', 'Malformed XML: Non-whitespace before first tag.'],
  ['an empty soap:Body', envelope(''), 'Empty soap:Body: no operation element'],
  ['no soap:Body', '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"/>', 'Missing soap:Body'],
  ['two soap:Body elements', `${ENVELOPE_OPEN}<loc:getStatus/></soapenv:Body><soapenv:Body><loc:getStatus/>${ENVELOPE_CLOSE}`,
    'More than one soap:Body'],
  ['two operations in one Body',
    envelope(`<loc:getStatus><loc:address>${ALICE}</loc:address></loc:getStatus><loc:getStatus><loc:address>sip:bob@example.test</loc:address></loc:getStatus>`),
    `soap:Body must contain exactly one operation element; found {${LOCAL_NS}}getStatus and then {${LOCAL_NS}}getStatus`],
  ['an operation and trailing garbage element in one Body',
    envelope(`<loc:getStatus><loc:address>${ALICE}</loc:address></loc:getStatus><evil/>`),
    `soap:Body must contain exactly one operation element; found {${LOCAL_NS}}getStatus and then evil`],
];

describe('requests refused as SOAP Client faults before any operation: no usage record', () => {
  // Both endpoints share the SOAP skeleton (handlers/soapEndpoint.js): every case runs on each.
  test.each(parseFaults.flatMap(([name, body, faultstring]) => [
    ['TerminalStatus', name, body, faultstring], ['NotificationManager', name, body, faultstring],
  ]))('%s: %s', async (endpointName, _name, body, faultstring) => {
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_BODY);
    const before = (await allRecords()).length;
    const started = Date.now();
    const reply = await postSoap(endpointName === 'TerminalStatus' ? fixture.endpoint : fixture.managerEndpoint, body, AUTH);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(reply.status).toBe(500);
    expect(reply.headers.get('x-parlayx-global-id')).toBeNull();
    expect(faultOf(reply.text)).toEqual({ faultcode: 'soapenv:Client', faultstring, messageId: undefined });
    expectNoLeak(reply.text);
    expect((await allRecords()).length).toBe(before);
  });

  test('the same on the notification manager endpoint: two operations are refused, none runs', async () => {
    const before = (await allRecords()).length;
    const reply = await postSoap(fixture.managerEndpoint, envelope(
      '<loc:endNotification><loc:correlator>a</loc:correlator></loc:endNotification>'
      + '<loc:endNotification><loc:correlator>b</loc:correlator></loc:endNotification>', { localNs: NM_NS },
    ), AUTH);
    expect(reply.status).toBe(500);
    expect(faultOf(reply.text)).toMatchObject({
      faultcode: 'soapenv:Client',
      faultstring: `soap:Body must contain exactly one operation element; found {${NM_NS}}endNotification and then {${NM_NS}}endNotification`,
    });
    expect((await allRecords()).length).toBe(before);
  });

  test('a SOAP 1.2 envelope: VersionMismatch', async () => {
    const before = (await allRecords()).length;
    const reply = await postSoap(fixture.endpoint,
      `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:loc="${LOCAL_NS}"><env:Body>`
      + `<loc:getStatus><loc:address>${ALICE}</loc:address></loc:getStatus></env:Body></env:Envelope>`,
      { ...AUTH, 'content-type': 'application/soap+xml; charset=utf-8' });
    expect(reply.status).toBe(500);
    expect(faultOf(reply.text)).toEqual({
      faultcode: 'soapenv:VersionMismatch',
      faultstring: 'SOAP 1.2 is not supported; use a SOAP 1.1 envelope (http://schemas.xmlsoap.org/soap/envelope/)',
      messageId: undefined,
    });
    expect((await allRecords()).length).toBe(before);
  });

  test('a mustUnderstand header nobody understands: MustUnderstand', async () => {
    const reply = await postSoap(fixture.endpoint, ENVELOPE_OPEN.replace('<soapenv:Body>', '')
      + '<soapenv:Header><h:x xmlns:h="urn:h" soapenv:mustUnderstand="1"/></soapenv:Header>'
      + `<soapenv:Body><loc:getStatus><loc:address>${ALICE}</loc:address></loc:getStatus>${ENVELOPE_CLOSE}`, AUTH);
    expect(reply.status).toBe(500);
    expect(faultOf(reply.text)).toMatchObject({ faultcode: 'soapenv:MustUnderstand', faultstring: 'Mandatory header {urn:h}x was not understood' });
  });
});

describe('requests that reach the operation: the exact Parlay X answer and its record', () => {
  /** POSTs, then returns the reply and the records of its GLOBALID. */
  async function recorded(body, headers = AUTH) {
    const reply = await postSoap(fixture.endpoint, body, headers);
    const globalId = reply.headers.get('x-parlayx-global-id');
    expect(globalId).toMatch(/^[0-9a-f-]{36}$/);
    expectNoLeak(reply.text);
    return { reply, records: await fixture.gateway.usage.query({ globalId }) };
  }

  test('CDATA around an address is text: Reachable, one VALID record naming the target', async () => {
    const { reply, records } = await recorded(getStatus(`<![CDATA[${ALICE}]]>`));
    expect(reply.status).toBe(200);
    expect(reply.text).toContain('<ns:result>Reachable</ns:result>');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ eventType: 'getStatus', statusCode: 0, attributes: { TARGET: ALICE, REQUESTER: 'acme' } });
  });

  test('markup hidden in CDATA is one invalid address: SVC0002, record INVALID (13)', async () => {
    const { reply, records } = await recorded(getStatus(`<![CDATA[${ALICE}</loc:address><loc:address>sip:bob@example.test]]>`));
    expect(reply.status).toBe(500);
    expect(faultOf(reply.text)).toEqual({ faultcode: 'soapenv:Server', faultstring: 'Invalid input value for message part address', messageId: 'SVC0002' });
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ eventType: 'getStatus', statusCode: 13, attributes: { FAILURE_REASON: 'SVC0002' } });
  });

  test('a 60,000-character address: SVC0002, record INVALID with the target kept whole (segmented)', async () => {
    const address = `sip:${'a'.repeat(60000)}@example.test`;
    const { reply, records } = await recorded(getStatus(address));
    expect(reply.status).toBe(500);
    expect(faultOf(reply.text).messageId).toBe('SVC0002');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ statusCode: 13 });
    expect(records[0].attributes.TARGET).toBe(address);
  });

  test('5,000 attributes and 2,000 namespace declarations on the operation are ignored: Reachable', async () => {
    const attrs = Array.from({ length: 5000 }, (_, i) => ` a${i}="${i}"`).join('');
    const nss = Array.from({ length: 2000 }, (_, i) => ` xmlns:p${i}="urn:x:${i}"`).join('');
    const { reply, records } = await recorded(envelope(`<loc:getStatus${attrs}${nss}><loc:address>${ALICE}</loc:address></loc:getStatus>`));
    expect(reply.status).toBe(200);
    expect(reply.text).toContain('<ns:result>Reachable</ns:result>');
    expect(records).toHaveLength(1);
  });

  test('CR/LF and markup in echoed addresses stay inside escaped XML text, never in HTTP headers', async () => {
    const { reply, records } = await recorded(group([
      'sip:a&#13;&#10;Set-Cookie: evil=1@example.test',
      '&lt;/address&gt;&lt;evil/&gt;]]&gt;',
      ALICE,
    ]));
    expect(reply.status).toBe(200);
    expect(reply.headers.get('set-cookie')).toBeNull();
    const { body } = parseEnvelope(Buffer.from(reply.text)); // still well-formed
    const results = body.children.filter((c) => c.name === 'result');
    expect(results.map((r) => r.children[0].text)).toEqual(['sip:a\r\nSet-Cookie: evil=1@example.test', '</address><evil/>]]>', ALICE]);
    expect(results.map((r) => r.children[1].text)).toEqual(['Error', 'Error', 'Retrieved']);
    // One record of the request (its TARGET lists all three) and one per refused entry.
    expect(records.map((r) => [r.eventType, r.statusCode, r.attributes.TARGET])).toEqual([
      ['getStatusForGroup', 0, `sip:a\r\nSet-Cookie: evil=1@example.test,</address><evil/>]]>,${ALICE}`],
      ['getStatusForGroup', 13, 'sip:a\r\nSet-Cookie: evil=1@example.test'],
      ['getStatusForGroup', 13, '</address><evil/>]]>'],
    ]);
  });

  test('a body exactly at http.maxBodyBytes is served', async () => {
    const body = padded(MAX_BODY);
    expect(Buffer.byteLength(body)).toBe(MAX_BODY);
    const { reply, records } = await recorded(body);
    expect(reply.status).toBe(200);
    expect(records).toHaveLength(1);
  });

  test('the UTF-8 BOM is allowed', async () => {
    const { reply } = await recorded(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(getStatus(ALICE))]));
    expect(reply.status).toBe(200);
  });

  test.each([
    ['application/json'],
    ['multipart/form-data; boundary=x'],
    ['text/xml; charset=utf-16'],
    [''],
  ])('Content-Type %j: the body decides (SOAP 1.1 answered as such)', async (contentType) => {
    // The gateway does not dispatch on Content-Type; the body is checked as UTF-8 SOAP 1.1 whatever
    // the header claims (documented leniency: no content is interpreted by the header).
    const { reply } = await recorded(getStatus(ALICE), { ...AUTH, 'content-type': contentType });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toBe('text/xml; charset=utf-8');
  });

  test('bad credentials on a valid request: 401, FailedAuthentication, no record', async () => {
    const before = (await allRecords()).length;
    const reply = await postSoap(fixture.endpoint, getStatus(ALICE), basicAuth('acme', 'wrong'));
    expect(reply.status).toBe(401);
    expect(reply.headers.get('x-parlayx-global-id')).toBeNull();
    expect(reply.headers.get('www-authenticate')).toMatch(/^Basic realm="/);
    expect(faultOf(reply.text)).toMatchObject({ faultcode: 'wsse:FailedAuthentication' });
    expect((await allRecords()).length).toBe(before);
  });

  test('no credentials on a hostile body: the Client fault, no record', async () => {
    const before = (await allRecords()).length;
    const reply = await postSoap(fixture.endpoint, `<!DOCTYPE x [<!ENTITY a "b">]>${noDecl(getStatus('&a;'))}`);
    expect(reply.status).toBe(500);
    expect(faultOf(reply.text).faultstring).toBe(DOCTYPE);
    expect((await allRecords()).length).toBe(before);
  });
});

describe('hostile startNotification parts: SVC0002 naming the part, one INVALID record, nothing started', () => {
  const start = (correlator, { endpoint = 'http://127.0.0.1:9/app', extra = '', frequency = true } = {}) => envelope(`<loc:startNotification>
<loc:reference><endpoint>${endpoint}</endpoint><interfaceName>TerminalStatusNotification</interfaceName><correlator>${correlator}</correlator></loc:reference>
<loc:addresses>${ALICE}</loc:addresses><loc:checkImmediate>false</loc:checkImmediate>
${frequency ? '<loc:frequency><metric>Second</metric><units>1</units></loc:frequency>' : ''}${extra}</loc:startNotification>`, { localNs: NM_NS });

  test.each([
    ['an endpoint with CR/LF (request splitting)', start('h-1', { endpoint: 'http://127.0.0.1:9/x&#13;&#10;X-Evil: 1' }), 'endpoint'],
    ['a file: endpoint', start('h-2', { endpoint: 'file:///etc/passwd' }), 'endpoint'],
    ['a javascript: endpoint', start('h-3', { endpoint: 'javascript:alert(1)' }), 'endpoint'],
    ['a frequency of 10^20 hours', start('h-4', { frequency: false, extra: '<loc:frequency><metric>Hour</metric><units>99999999999999999999</units></loc:frequency>' }), 'frequency'],
    ['a negative frequency', start('h-5', { frequency: false, extra: '<loc:frequency><metric>Second</metric><units>-1</units></loc:frequency>' }), 'frequency'],
    ['a duration of 1e308 days', start('h-6', { extra: '<loc:duration><metric>Day</metric><units>1e308</units></loc:duration>' }), 'duration'],
    ['a negative count', start('h-7', { extra: '<loc:count>-1</loc:count>' }), 'count'],
    ['a count above 2^53', start('h-8', { extra: '<loc:count>9007199254740993</loc:count>' }), 'count'],
    ['an unknown criterion', start('h-9', { extra: '<loc:criteria>Dead</loc:criteria>' }), 'criteria'],
    ['no checkImmediate', start('h-10').replace('<loc:checkImmediate>false</loc:checkImmediate>', ''), 'checkImmediate'],
  ])('%s', async (_name, body, part) => {
    const reply = await postSoap(fixture.managerEndpoint, body, AUTH);
    expectNoLeak(reply.text);
    expect(reply.status).toBe(500);
    expect(faultOf(reply.text)).toEqual({ faultcode: 'soapenv:Server', faultstring: `Invalid input value for message part ${part}`, messageId: 'SVC0002' });
    const records = await fixture.gateway.usage.query({ globalId: reply.headers.get('x-parlayx-global-id') });
    expect(records.map((r) => [r.eventType, r.statusCode])).toEqual([['startNotification', 13]]);
    expect(fixture.gateway.notifications.list()).toEqual([]);
  });
});

describe('HTTP framing and methods', () => {
  const port = () => Number(new URL(fixture.url).port);
  const path = () => new URL(fixture.endpoint).pathname;

  test('a body one byte over http.maxBodyBytes: 413 Client fault, no record', async () => {
    const before = (await allRecords()).length;
    const reply = await postSoap(fixture.endpoint, padded(MAX_BODY + 1), AUTH);
    expect(reply.status).toBe(413);
    expect(faultOf(reply.text)).toEqual({ faultcode: 'soapenv:Client', faultstring: `request body larger than ${MAX_BODY} bytes`, messageId: undefined });
    expect((await allRecords()).length).toBe(before);
  });

  test('Expect: 100-continue with a Content-Length over the cap: 413 at once, no 100 Continue', async () => {
    const reply = await rawRequest({
      port: port(),
      request: `POST ${path()} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${AUTH.authorization}\r\n`
        + `Content-Type: text/xml\r\nExpect: 100-continue\r\nContent-Length: ${MAX_BODY + 1}\r\n\r\n`,
    });
    expect(reply.raw.startsWith('HTTP/1.1 413 ')).toBe(true);
    expect(reply.raw).not.toContain('100 Continue');
  });

  test('Expect: 100-continue within the cap: 100 Continue, then the answer', async () => {
    const body = envelope(`<loc:getStatus><loc:address>${ALICE}</loc:address></loc:getStatus>`);
    const head = `POST ${path()} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${AUTH.authorization}\r\n`
      + `Content-Type: text/xml; charset=utf-8\r\nSOAPAction: ""\r\nExpect: 100-continue\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    const reply = await rawRequest({ port: port(), request: head + body });
    expect(reply.raw.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 ')).toBe(true);
    expect(reply.timedOut).toBe(false);
  });

  test('a chunked body over the cap (no Content-Length): 413 as it streams, no record', async () => {
    const before = (await allRecords()).length;
    const chunk = ' '.repeat(65536);
    const chunks = Array.from({ length: 17 }, () => `${(65536).toString(16)}\r\n${chunk}\r\n`).join('');
    const reply = await rawRequest({
      port: port(),
      request: `POST ${path()} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${AUTH.authorization}\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}0\r\n\r\n`,
    });
    expect(reply.status).toBe(413);
    expect(faultOf(reply.body).faultstring).toBe(`request body larger than ${MAX_BODY} bytes`);
    expect((await allRecords()).length).toBe(before);
  });

  test('chunked encoding with a lying Content-Length: 400, connection closed, no record', async () => {
    const before = (await allRecords()).length;
    const body = getStatus(ALICE);
    const reply = await rawRequest({
      port: port(),
      request: `POST ${path()} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${AUTH.authorization}\r\nContent-Length: 5\r\n`
        + `Transfer-Encoding: chunked\r\n\r\n${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    });
    expect(reply).toMatchObject({ status: 400, closed: true, timedOut: false });
    expect((await allRecords()).length).toBe(before);
  });

  test('a Content-Length shorter than the body: the rest is not a second request (400, closed)', async () => {
    const before = (await allRecords()).length;
    const body = getStatus(ALICE);
    const reply = await rawRequest({
      port: port(),
      request: `POST ${path()} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${AUTH.authorization}\r\nContent-Length: 40\r\n\r\n${body}`,
    });
    expect(reply.closed).toBe(true);
    expect(reply.raw).toContain('HTTP/1.1 400 Bad Request');
    expect(reply.raw).not.toContain('Reachable');
    expect((await allRecords()).length).toBe(before);
  });

  test('a Content-Length longer than the body: the request waits, and others are served meanwhile', async () => {
    const before = (await allRecords()).length;
    const body = getStatus(ALICE);
    const hanging = rawRequest({
      port: port(),
      request: `POST ${path()} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${AUTH.authorization}\r\nContent-Length: ${Buffer.byteLength(body) + 100}\r\n\r\n${body}`,
      timeoutMs: 1500,
    });
    await expectStillServing();
    const reply = await hanging;
    expect(reply).toMatchObject({ status: null, timedOut: true }); // nothing answered a partial body
    expect((await allRecords()).length).toBe(before + 1); // only expectStillServing's
  });

  test.each(['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'])('%s on the endpoint: 405 Allow POST, no record', async (method) => {
    const before = (await allRecords()).length;
    const response = await fetch(fixture.endpoint, { method, headers: AUTH, body: method === 'GET' ? undefined : getStatus(ALICE) });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect(faultOf(await response.text())).toEqual({ faultcode: 'soapenv:Client', faultstring: 'SOAP requests must use POST', messageId: undefined });
    expect((await allRecords()).length).toBe(before);
  });

  test('HEAD on the endpoint: 405 without a body', async () => {
    const response = await fetch(fixture.endpoint, { method: 'HEAD' });
    expect(response.status).toBe(405);
    expect(await response.text()).toBe('');
  });

  test('CR, LF or a bare CR in a request header: 400 from the HTTP parser, connection closed', async () => {
    for (const injected of ['X-A: a\rSet-Cookie: b', 'X-A: a\nSet-Cookie: b', 'X-A: a\r Set-Cookie: b']) {
      const reply = await rawRequest({
        port: port(),
        request: `POST ${path()} HTTP/1.1\r\nHost: 127.0.0.1\r\n${injected}\r\nContent-Length: 0\r\n\r\n`,
      });
      expect(reply).toMatchObject({ status: 400, closed: true });
      expect(reply.raw).not.toMatch(/set-cookie/i);
    }
  });

  test('a client-sent x-parlayx-global-id is never echoed: the gateway makes its own', async () => {
    const reply = await rawRequest({
      port: port(),
      request: `POST ${path()} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${AUTH.authorization}\r\n`
        + `X-Parlayx-Global-Id: evil\r\nContent-Length: ${Buffer.byteLength(getStatus(ALICE))}\r\n\r\n${getStatus(ALICE)}`,
    });
    expect(reply.status).toBe(200);
    expect(reply.headers['x-parlayx-global-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test('a Host header with markup is not reflected into the WSDL', async () => {
    const reply = await rawRequest({
      port: port(),
      request: `GET ${path()}?wsdl HTTP/1.1\r\nHost: evil.test"><x a="\r\nConnection: close\r\n\r\n`,
    });
    expect(reply.status).toBe(200);
    expect(reply.body).not.toContain('evil.test');
    expect(reply.body).toMatch(/location="http:\/\/127\.0\.0\.1:\d+\/parlayx\/TerminalStatusService\/services\/TerminalStatus"/);
  });

  test('a WSDL request without a Host (HTTP/1.0) advertises the port actually bound, not the configured 0', async () => {
    const reply = await rawRequest({ port: port(), request: `GET ${path()}?wsdl HTTP/1.0\r\n\r\n` });
    expect(reply.status).toBe(200);
    expect(reply.body).toContain(`location="http://127.0.0.1:${port()}/parlayx/TerminalStatusService/services/TerminalStatus"`);
  });

  test('three pipelined requests on one connection: three answers, in order', async () => {
    const one = (address) => {
      const body = getStatus(address);
      return `POST ${path()} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${AUTH.authorization}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    };
    const reply = await rawRequest({ port: port(), request: one(ALICE) + one('bad') + one('mailto:x@example.test'), responses: 3 });
    expect(reply.raw.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 500', 'HTTP/1.1 500']);
    expect(reply.raw.indexOf('Reachable')).toBeLessThan(reply.raw.indexOf('SVC0002'));
  });

  test('a header block over 16 KiB: 431, connection closed', async () => {
    const reply = await rawRequest({
      port: port(),
      request: `POST ${path()} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'x'.repeat(20000)}\r\nContent-Length: 0\r\n\r\n`,
    });
    expect(reply).toMatchObject({ status: 431, closed: true });
  });
});
