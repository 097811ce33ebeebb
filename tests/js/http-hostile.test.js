'use strict';
// Hostile HTTP clients against a real gateway on loopback (issue 12): slowloris clients are cut
// when the configuration says (measured on real sockets), connection floods are capped in total
// and per source address while other sources keep being served, and a SOAP Body with more than
// one operation is refused before anything runs.
const { startGateway, rawConnect, trickle, request, sleep } = require('../support/hostile');
const { createHttpServer, DEFAULT_LIMITS } = require('../../js/server');
const native = require('../../js/native');

const WSDL_PATH = '/parlayx/TerminalStatusService/services/TerminalStatus?wsdl';
// How late a cut may come: node's check interval (50 ms for these limits) plus scheduling on a
// loaded 2-core machine. Before the fix the cut came up to 30 s late.
const LATE_MS = 450;
// Timers never fire early; allow for the client's own clock granularity.
const EARLY_MS = 30;

function expectCutNear(elapsed, configuredMs) {
  expect(elapsed).toBeGreaterThanOrEqual(configuredMs - EARLY_MS);
  expect(elapsed).toBeLessThanOrEqual(configuredMs + LATE_MS);
}

describe('timeouts match the configuration', () => {
  let fixture;
  beforeAll(async () => {
    fixture = await startGateway({
      http: '  requestTimeoutMs: 1500\n  headersTimeoutMs: 800\n  idleTimeoutMs: 500\n  keepAliveTimeoutMs: 700\n',
    });
  });
  afterAll(async () => {
    if (fixture) await fixture.gateway.close();
  });

  test('a connection that says nothing is closed after idleTimeoutMs, without an answer', async () => {
    const c = await rawConnect(fixture.port);
    const { at, data } = await c.closed;
    expectCutNear(at - c.openedAt, 500);
    expect(data).toBe('');
    expect(fixture.gateway.server.stats().idleTimeouts).toBeGreaterThanOrEqual(1);
  });

  test('headers trickled (never idle) get 408 after headersTimeoutMs', async () => {
    const c = await rawConnect(fixture.port);
    c.socket.write('POST /parlayx/TerminalStatusService/services/TerminalStatus HTTP/1.1\r\nHost: x\r\n');
    trickle(c.socket, Array.from({ length: 100 }, (_, i) => `X-Slow-${i}: y\r\n`), 100);
    const { at, data } = await c.closed;
    expectCutNear(at - c.openedAt, 800);
    expect(data).toMatch(/^HTTP\/1\.1 408 /);
  });

  test('a body trickled (never idle) gets 408 after requestTimeoutMs', async () => {
    const before = fixture.gateway.server.stats().requestTimeouts;
    const c = await rawConnect(fixture.port);
    c.socket.write('POST /parlayx/TerminalStatusService/services/TerminalStatus HTTP/1.1\r\nHost: x\r\n' +
      'Content-Type: text/xml\r\nContent-Length: 1000\r\n\r\n');
    trickle(c.socket, Array.from({ length: 1000 }, () => '<'), 100);
    const { at, data } = await c.closed;
    expectCutNear(at - c.openedAt, 1500);
    expect(data).toMatch(/^HTTP\/1\.1 408 /);
    expect(fixture.gateway.server.stats().requestTimeouts).toBe(before + 1);
  });

  test('a client that stops in the middle of its headers or body is cut after idleTimeoutMs', async () => {
    const headers = await rawConnect(fixture.port);
    headers.socket.write('POST /x HTTP/1.1\r\nHost: x\r\n');
    const body = await rawConnect(fixture.port);
    body.socket.write('POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n<a>');
    const [h, b] = await Promise.all([headers.closed, body.closed]);
    expectCutNear(h.at - headers.openedAt, 500);
    expectCutNear(b.at - body.openedAt, 500);
  });

  test('an idle keep-alive connection is closed keepAliveTimeoutMs after the response', async () => {
    const c = await rawConnect(fixture.port);
    let answeredAt = 0;
    c.socket.on('data', () => { if (!answeredAt) answeredAt = performance.now(); });
    c.socket.write(`GET ${WSDL_PATH} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const { at, data } = await c.closed;
    expect(data).toMatch(/^HTTP\/1\.1 200 /);
    expectCutNear(at - answeredAt, 700);
  });

  test('a slow client within every limit is served, also on its second keep-alive request', async () => {
    const c = await rawConnect(fixture.port);
    const request = `GET ${WSDL_PATH} HTTP/1.1\r\nHost: x\r\n\r\n`;
    // Pauses of 300 ms (< idleTimeoutMs), headers complete after 600 ms (< headersTimeoutMs).
    trickle(c.socket, [request.slice(0, 10), request.slice(10, 30), request.slice(30)], 300);
    await sleep(1100);
    expect(c.data()).toMatch(/^HTTP\/1\.1 200 /);
    expect(c.isOpen()).toBe(true);
    const first = c.data().length;
    c.socket.write(request);
    await sleep(300);
    expect(c.data().slice(first)).toMatch(/^HTTP\/1\.1 200 /);
    c.socket.destroy();
  });

  test('malformed requests get 400 and are counted', async () => {
    const c = await rawConnect(fixture.port);
    c.socket.write('NOT HTTP AT ALL\r\n\r\n');
    const { data } = await c.closed;
    expect(data).toMatch(/^HTTP\/1\.1 400 /);
    expect(fixture.gateway.server.stats().clientErrors).toBeGreaterThanOrEqual(1);
  });
});

test('keepAliveTimeoutMs 0 closes the connection after each response (node would keep it for ever)', async () => {
  const fixture = await startGateway({ http: '  keepAliveTimeoutMs: 0\n' });
  try {
    const c = await rawConnect(fixture.port);
    c.socket.write(`GET ${WSDL_PATH} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const { at, data } = await c.closed;
    expect(data).toMatch(/^HTTP\/1\.1 200 /);
    expect(data).toMatch(/\r\nconnection: close\r\n/i);
    expect(at - c.openedAt).toBeLessThan(1000);
  } finally {
    await fixture.gateway.close();
  }
});

describe('connection caps', () => {
  let fixture;
  const held = [];
  beforeEach(async () => {
    // headersTimeoutMs well above idleTimeoutMs: the silent flood is cut by the idle timer alone.
    fixture = await startGateway({
      http: '  maxConnections: 12\n  maxConnectionsPerSource: 5\n  idleTimeoutMs: 1500\n' +
        '  headersTimeoutMs: 3000\n  requestTimeoutMs: 3000\n',
    });
  });
  afterEach(async () => {
    for (const c of held.splice(0)) c.socket.destroy();
    if (fixture) await fixture.gateway.close();
  });

  async function open(count, localAddress) {
    const list = [];
    for (let i = 0; i < count; i++) list.push(await rawConnect(fixture.port, { localAddress }));
    held.push(...list);
    return list;
  }

  test('one source flooding gets its excess closed at once; another source is served meanwhile', async () => {
    const kept = await open(5, '127.0.0.1');
    const excess = await open(4, '127.0.0.1');
    const closedAt = await Promise.all(excess.map((c) => c.closed.then(({ at, data }) => ({ ms: at - c.openedAt, data }))));
    for (const { ms, data } of closedAt) {
      expect(ms).toBeLessThan(300); // at once, not by a timeout
      expect(data).toBe('');
    }
    await sleep(100);
    expect(kept.every((c) => c.isOpen())).toBe(true);
    const other = await request(fixture.port, { method: 'GET', path: WSDL_PATH, localAddress: '127.0.0.2' });
    expect(other.status).toBe(200);
    expect(other.ms).toBeLessThan(1000);
    const stats = fixture.gateway.server.stats();
    expect(stats.droppedPerSource).toBe(4);
    expect(stats.droppedTotal).toBe(0);
  });

  test('past maxConnections everyone is refused at once; once the idle flood is cut, requests work again', async () => {
    const flood = [
      ...await open(5, '127.0.0.1'), ...await open(5, '127.0.0.3'), ...await open(2, '127.0.0.4'),
    ];
    await sleep(100);
    expect(flood.every((c) => c.isOpen())).toBe(true);
    expect(fixture.gateway.server.stats().connections).toBe(12);

    // (a) the thirteenth connection, from a fresh source, is closed at once
    const excess = await open(1, '127.0.0.5');
    const { at, data } = await excess[0].closed;
    expect(at - excess[0].openedAt).toBeLessThan(300);
    expect(data).toBe('');
    // (b) so is a real request while the flood holds every slot
    await expect(request(fixture.port, { method: 'GET', path: WSDL_PATH, localAddress: '127.0.0.6' })).rejects.toThrow();
    expect(fixture.gateway.server.stats().droppedTotal).toBeGreaterThanOrEqual(2);

    // (c) the silent connections are cut after idleTimeoutMs, and then a request is served
    const cut = await Promise.all(flood.map((c) => c.closed.then(({ at: closed }) => closed - c.openedAt)));
    for (const ms of cut) expectCutNear(ms, 1500);
    await sleep(50);
    const after = await request(fixture.port, { method: 'GET', path: WSDL_PATH, localAddress: '127.0.0.6' });
    expect(after.status).toBe(200);
    expect(fixture.gateway.server.stats().idleTimeouts).toBeGreaterThanOrEqual(12);
  });
});

describe('strict SOAP over HTTP', () => {
  let fixture;
  beforeAll(async () => {
    fixture = await startGateway();
  });
  afterAll(async () => {
    if (fixture) await fixture.gateway.close();
  });

  const LOCAL = 'http://www.csapi.org/schema/parlayx/terminal_status/v2_3/local';
  const op = (address) => `<loc:getStatus><loc:address>${address}</loc:address></loc:getStatus>`;
  const envelope = (body, header = '') =>
    `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:loc="${LOCAL}">` +
    `${header ? `<soapenv:Header>${header}</soapenv:Header>` : ''}<soapenv:Body>${body}</soapenv:Body></soapenv:Envelope>`;
  const records = async () => (await fixture.gateway.usage.query({})).length;

  test('a Body with two operations is a Client fault and neither runs', async () => {
    const response = await request(fixture.port, { body: envelope(op('sip:a@example.test') + op('sip:b@example.test')) });
    expect(response.status).toBe(500);
    expect(response.text).toContain('<faultcode>soapenv:Client</faultcode>');
    expect(response.text).toContain('exactly one operation');
    await sleep(300);
    expect(await records()).toBe(0);
    // The same operation alone does run (a presence fetch that fails, with its usage record).
    const single = await request(fixture.port, { body: envelope(op('sip:a@example.test')) });
    expect(single.status).toBe(500);
    expect(single.text).toContain('ServiceException');
    expect(await records()).toBeGreaterThanOrEqual(1);
  });

  test('text in Body, an element after Body, a second Body or Header: Client faults', async () => {
    const cases = [
      [envelope(`text${op('sip:a@example.test')}`), 'Text content is not allowed in soap:Body'],
      [envelope(op('sip:a@example.test')).replace('</soapenv:Body>', '</soapenv:Body><x:trailer xmlns:x="urn:x"/>'),
        'after soap:Body'],
      [envelope(op('sip:a@example.test')).replace('</soapenv:Body>', `</soapenv:Body><soapenv:Body>${op('sip:b@example.test')}</soapenv:Body>`),
        'More than one soap:Body'],
      [envelope(op('sip:a@example.test'), '<x:a xmlns:x="urn:x"/>').replace('<soapenv:Body>', '<soapenv:Header/><soapenv:Body>'),
        'soap:Header must be the first child'],
    ];
    for (const [body, message] of cases) {
      const response = await request(fixture.port, { body });
      expect(response.status).toBe(500);
      expect(response.text).toContain('<faultcode>soapenv:Client</faultcode>');
      expect(response.text).toContain(message);
    }
  });

  test('a mandatory header entry the gateway does not understand is a MustUnderstand fault', async () => {
    const header = '<x:Transaction xmlns:x="urn:example:tx" soapenv:mustUnderstand="1">5</x:Transaction>';
    const response = await request(fixture.port, { body: envelope(op('sip:a@example.test'), header) });
    expect(response.status).toBe(500);
    expect(response.text).toContain('<faultcode>soapenv:MustUnderstand</faultcode>');
    expect(response.text).toContain('{urn:example:tx}Transaction');
    // Not mandatory: ignored, the operation runs.
    const optional = await request(fixture.port, {
      body: envelope(op('sip:a@example.test'), header.replace('"1"', '"0"')),
    });
    expect(optional.text).not.toContain('MustUnderstand');
    expect(optional.text).toContain('ServiceException');
  });
});

test('a slow answer is not a slow client: no timeout runs while the app works on a request', async () => {
  const server = createHttpServer({
    app: () => new Promise((resolve) => setTimeout(() => resolve({ statusCode: 200, headers: {}, body: 'late' }), 1200)),
    http: { maxBodyBytes: 1024, requestTimeoutMs: 500, headersTimeoutMs: 300, idleTimeoutMs: 200 },
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const answer = await request(server.address().port, { path: '/', body: '<x/>' });
    expect(answer).toMatchObject({ status: 200, text: 'late' });
    expect(answer.ms).toBeGreaterThanOrEqual(1200 - EARLY_MS);
    expect(server.stats()).toMatchObject({ idleTimeouts: 0, requestTimeouts: 0 });
  } finally {
    await new Promise((resolve) => { server.close(resolve); server.closeAllConnections(); });
  }
});

test('a client that reads nothing of a large answer is cut after idleTimeoutMs (slow read)', async () => {
  const body = 'x'.repeat(32 * 1024 * 1024); // far more than the loopback socket buffers hold
  const server = createHttpServer({
    app: async () => ({ statusCode: 200, headers: {}, body }), http: { maxBodyBytes: 1024, idleTimeoutMs: 500 },
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const c = await rawConnect(server.address().port);
    c.socket.once('data', () => c.socket.pause()); // reads the first chunk, then nothing
    c.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const started = performance.now();
    while (server.stats().connections > 0 && performance.now() - started < 5000) await sleep(20);
    expect(server.stats()).toMatchObject({ connections: 0, stalledReads: 1 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(500 - EARLY_MS);
    // + building and writing 32 MiB until the socket buffers fill, which on a loaded 2-core
    // machine took up to 1.3 s; without the cut the connection stays open past the 5 s loop.
    expect(performance.now() - started).toBeLessThanOrEqual(500 + LATE_MS + 1500);
    c.socket.destroy();
  } finally {
    await new Promise((resolve) => { server.close(resolve); server.closeAllConnections(); });
  }
});

describe('createHttpServer settings', () => {
  test('the defaults for library callers are the configuration defaults', () => {
    const { http } = native.loadConfig({ text: '', name: 'empty.yaml' });
    for (const [key, value] of Object.entries(DEFAULT_LIMITS)) expect([key, http[key]]).toEqual([key, value]);
  });

  test('impossible settings are a programming error at creation, not a surprise under load', () => {
    const app = async () => ({ statusCode: 200, headers: {}, body: '' });
    expect(() => createHttpServer({ app, http: { maxBodyBytes: 1024, requestTimeoutMs: 1000, headersTimeoutMs: 2000 } }))
      .toThrow('headersTimeoutMs must not exceed');
    expect(() => createHttpServer({ app, http: { maxBodyBytes: 1024, maxConnections: 0 } })).toThrow('caps must be > 0');
    expect(() => createHttpServer({ app, http: { maxBodyBytes: 1024, idleTimeoutMs: 1.5 } })).toThrow('integer');
    // Left out: derived from the limits they must not exceed.
    const server = createHttpServer({ app, http: { maxBodyBytes: 1024, requestTimeoutMs: 2000, maxConnections: 7 } });
    expect(server.maxConnections).toBe(7);
    expect(server.headersTimeout).toBe(2000);
    expect(server.requestTimeout).toBe(2000);
  });
});
