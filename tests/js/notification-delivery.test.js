'use strict';
// NotificationDelivery against a real node:http application endpoint and a real usage store:
// the SOAP requests of the three kinds, order per notification under retries, retry and give-up
// rules, timeouts, connection limits, shutdown, and the usage records of every attempt.
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { randomUUID } = require('node:crypto');
const native = require('../../js/native');
const { UsageLog } = require('../../js/usage');
const { NotificationDelivery } = require('../../js/delivery');
const { parseEnvelope } = require('../../js/soap/envelope');
const { NOTIFICATION_NS } = require('../../js/soap/builder');
const { freePort } = require('../../scripts/kamailio/kamailio');
const { tempDir } = require('../support/gateway');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const OK_BODY = '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body/></soapenv:Envelope>';

let usage;
const cleanups = [];

beforeAll(() => {
  const database = path.join(tempDir('px-delivery-'), 'usage.db');
  usage = new UsageLog(new native.UsageDatabase({ text: `usage:\n  database: ${database}\n`, name: 'delivery-test.yaml' }));
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()();
});

afterAll(async () => {
  await usage.close();
});

/**
 * An application's TerminalStatusNotification endpoint. respond(request, index) returns the HTTP
 * status to answer, 'hang' (never answer) or a Promise of either; requests are kept, parsed.
 */
async function startApp(respond = () => 200, { port = 0 } = {}) {
  const requests = [];
  let inFlight = 0;
  const app = { requests, maxInFlight: 0, maxInFlightPerCorrelator: 0 };
  const perCorrelator = new Map();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const wrapper = parseEnvelope(raw).body;
      const correlator = child(wrapper, 'correlator').text;
      const entry = { at: Date.now(), method: req.method, url: req.url, headers: req.headers, raw, wrapper, correlator };
      requests.push(entry);
      inFlight++;
      perCorrelator.set(correlator, (perCorrelator.get(correlator) || 0) + 1);
      app.maxInFlight = Math.max(app.maxInFlight, inFlight);
      app.maxInFlightPerCorrelator = Math.max(app.maxInFlightPerCorrelator, perCorrelator.get(correlator));
      const answer = await respond(entry, requests.length - 1);
      if (answer === 'hang') return;
      inFlight--;
      perCorrelator.set(correlator, perCorrelator.get(correlator) - 1);
      res.writeHead(answer, { 'content-type': 'text/xml; charset=utf-8' });
      res.end(answer < 300 ? OK_BODY : '<error/>');
    });
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  app.url = `http://127.0.0.1:${server.address().port}/app/notify?tenant=7`;
  app.close = () => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  };
  cleanups.push(app.close);
  return app;
}

/**
 * An endpoint that answers with raw bytes: script(index) returns the pieces of the answer to the
 * index-th request (written 5 ms apart, so they arrive as separate packets) and whether to close
 * the connection afterwards (or { destroy: true } to drop it without answering).
 */
async function startRawApp(script) {
  const app = { requests: [], connections: 0 };
  const server = net.createServer((socket) => {
    app.connections++;
    let buffered = '';
    socket.on('data', async (chunk) => {
      buffered += chunk.toString('latin1');
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/content-length: *(\d+)/i.exec(buffered.slice(0, end))[1]);
        if (buffered.length < end + 4 + length) return;
        app.requests.push(buffered.slice(0, end + 4 + length));
        buffered = buffered.slice(end + 4 + length);
        const answer = script(app.requests.length - 1);
        if (answer.destroy) {
          socket.destroy();
          return;
        }
        for (const piece of answer.pieces) {
          socket.write(piece);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        if (answer.close) socket.end();
      }
    });
    socket.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  app.url = `http://127.0.0.1:${server.address().port}/raw`;
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return app;
}

function child(element, name) {
  return element.children.find((c) => c.name === name);
}

function delivery(options = {}) {
  const logs = [];
  const instance = new NotificationDelivery({
    config: {
      timeoutMs: 2000, maxAttempts: 3, retryBackoffMs: 50, retryBackoffMaxMs: 400, maxSocketsPerEndpoint: 4,
      ...options.config,
    },
    usage: options.usage || usage,
    log: (level, message, extra) => logs.push({ level, message, extra }),
    closeGraceMs: options.closeGraceMs,
    renderers: options.renderers,
    services: options.services,
  });
  instance.logs = logs;
  cleanups.push(() => instance.close());
  return instance;
}

function statusNotification(endpoint, correlator, statuses, globalId = randomUUID()) {
  return { kind: 'statusNotification', requester: '', correlator, endpoint, globalId, sequence: 0, statuses };
}

/** A kind's Attempted/Result records of a GLOBALID, the attempts paired by APP_CORRELATION_ID. */
async function attemptsOf(globalId, kind = 'statusNotification') {
  const records = (await usage.query({ globalId })).filter((r) => r.eventType.startsWith(`${kind}_`));
  const attempted = records.filter((r) => r.eventType === `${kind}_DeliveryAttempted`);
  const results = records.filter((r) => r.eventType === `${kind}_DeliveryResult`);
  expect(records).toHaveLength(attempted.length + results.length);
  expect(results).toHaveLength(attempted.length);
  return attempted.map((a) => {
    expect(a.attributes.APP_CORRELATION_ID).toMatch(UUID);
    const matching = results.filter((r) => r.attributes.APP_CORRELATION_ID === a.attributes.APP_CORRELATION_ID);
    expect(matching).toHaveLength(1);
    return { attempted: a, result: matching[0] };
  });
}

async function until(condition, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('the SOAP requests', () => {
  test('statusNotification: a SOAP 1.1 POST with SOAPAction "" and one StatusInformation per terminal', async () => {
    const app = await startApp();
    const d = delivery();
    const globalId = randomUUID();
    const correlator = 'c<1>&"2"';
    d.enqueue([statusNotification(app.url, correlator, [
      { address: 'sip:alice@example.test', status: 'Busy' },
      { address: 'tel:+15550001', status: 'Unreachable' },
    ], globalId)]);
    await d.settled();

    expect(app.requests).toHaveLength(1);
    const [request] = app.requests;
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/app/notify?tenant=7');
    expect(request.headers['content-type']).toBe('text/xml; charset=utf-8');
    expect(request.headers.soapaction).toBe('""');
    expect(request.headers['user-agent']).toBe('parlayx-gateway');
    const { wrapper } = request;
    expect(wrapper).toMatchObject({ ns: NOTIFICATION_NS, name: 'statusNotification' });
    expect(wrapper.children.map((c) => [c.ns, c.name])).toEqual([
      [NOTIFICATION_NS, 'correlator'], [NOTIFICATION_NS, 'terminalStatus'], [NOTIFICATION_NS, 'terminalStatus'],
    ]);
    expect(child(wrapper, 'correlator').text).toBe(correlator);
    const entries = wrapper.children.slice(1).map((entry) => entry.children.map((c) => [c.ns, c.name, c.text]));
    expect(entries).toEqual([
      [['', 'address', 'sip:alice@example.test'], ['', 'currentStatus', 'Busy']],
      [['', 'address', 'tel:+15550001'], ['', 'currentStatus', 'Unreachable']],
    ]);

    const attempts = await attemptsOf(globalId);
    expect(attempts).toHaveLength(1);
    const [{ attempted, result }] = attempts;
    expect(attempted).toMatchObject({ statusCode: 0, globalId });
    expect(attempted.attributes).toEqual({
      CORRELATOR: correlator,
      TARGETS: 'sip:alice@example.test,tel:+15550001',
      DELIVERY_STATUS: 'Busy,Unreachable',
      APP_CORRELATION_ID: attempted.attributes.APP_CORRELATION_ID,
    });
    expect(result).toMatchObject({ statusCode: 0, status: 'VALID', globalId });
    expect(result.attributes).toEqual({
      FAILURE_REASON: '', FAILURE_DETAIL: '', APP_CORRELATION_ID: attempted.attributes.APP_CORRELATION_ID,
    });
    expect(d.stats()).toMatchObject({ queued: 0, inFlight: 0, delivered: 1, failed: 0, retries: 0 });
  });

  test('statusError for one terminal and for the whole notification; statusEnd', async () => {
    const app = await startApp();
    const d = delivery();
    const globalId = randomUUID();
    const base = { requester: '', correlator: 'err-1', endpoint: app.url, globalId };
    d.enqueue([
      { ...base, kind: 'statusError', sequence: 1, address: 'sip:bob@example.test',
        error: { messageId: 'SVC0001', text: 'A service error occurred. Error code is %1', variables: ['presence server answered 403'] } },
      { ...base, kind: 'statusError', sequence: 2, address: '',
        error: { messageId: 'POL0001', text: 'A policy error occurred. Error code is %1', variables: ['terminated by the operator'] } },
      { ...base, kind: 'statusEnd', sequence: 3 },
    ]);
    await d.settled();

    expect(app.requests.map((r) => r.wrapper.name)).toEqual(['statusError', 'statusError', 'statusEnd']);
    const [one, whole, end] = app.requests.map((r) => r.wrapper);
    expect(one.ns).toBe(NOTIFICATION_NS);
    expect(one.children.map((c) => [c.ns, c.name])).toEqual([
      [NOTIFICATION_NS, 'correlator'], [NOTIFICATION_NS, 'address'], [NOTIFICATION_NS, 'reason'],
    ]);
    expect(child(one, 'address').text).toBe('sip:bob@example.test');
    expect(child(one, 'reason').children.map((c) => [c.ns, c.name, c.text])).toEqual([
      ['', 'messageId', 'SVC0001'],
      ['', 'text', 'A service error occurred. Error code is %1'],
      ['', 'variables', 'presence server answered 403'],
    ]);
    expect(whole.children.map((c) => c.name)).toEqual(['correlator', 'reason']);
    expect(child(child(whole, 'reason'), 'messageId').text).toBe('POL0001');
    expect(end).toMatchObject({ ns: NOTIFICATION_NS, name: 'statusEnd' });
    expect(end.children.map((c) => [c.name, c.text])).toEqual([['correlator', 'err-1']]);

    const errors = await attemptsOf(globalId, 'statusError');
    expect(errors.map((a) => a.attempted.attributes)).toEqual([
      { CORRELATOR: 'err-1', TARGET: 'sip:bob@example.test', MESSAGE_ID: 'SVC0001',
        REASON: 'A service error occurred. Error code is presence server answered 403',
        APP_CORRELATION_ID: errors[0].attempted.attributes.APP_CORRELATION_ID },
      { CORRELATOR: 'err-1', TARGET: '', MESSAGE_ID: 'POL0001',
        REASON: 'A policy error occurred. Error code is terminated by the operator',
        APP_CORRELATION_ID: errors[1].attempted.attributes.APP_CORRELATION_ID },
    ]);
    expect(errors.every((a) => a.result.statusCode === 0 && a.result.attributes.FAILURE_REASON === '')).toBe(true);
    const ends = await attemptsOf(globalId, 'statusEnd');
    expect(ends).toHaveLength(1);
    expect(Object.keys(ends[0].attempted.attributes)).toEqual(['CORRELATOR', 'APP_CORRELATION_ID']);
    expect(ends[0].result.statusCode).toBe(0);
  });
});

describe('deliveries of another API (delivery.api)', () => {
  test('its renderer writes the request; its records carry the API\'s SERVICE (services), a Parlay X delivery\'s none', async () => {
    const answers = ['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'];
    const app = await startRawApp((index) => ({ pieces: [answers[Math.min(index, 1)]] }));
    const d = delivery({
      renderers: {
        'event-api': (x) => ({ body: JSON.stringify({ kind: x.kind }), headers: { 'Content-Type': 'application/json' } }),
        'other-api': () => ({ body: '{}', headers: {} }),
      },
      services: { 'event-api': 'EVENT_SERVICE' },
    });
    const globalId = randomUUID();
    const base = { requester: 'r', endpoint: app.url, globalId, extension: '{}' };
    d.enqueue([
      { ...base, kind: 'statusNotification', correlator: 'ev-1', sequence: 1, api: 'event-api',
        statuses: [{ address: 'tel:+15550001', status: 'Reachable' }] },
    ]);
    await d.settled();
    d.enqueue([{ ...base, kind: 'statusEnd', correlator: 'ev-1', sequence: 2, api: 'event-api', endReason: 'deleted' }]);
    await d.settled();
    d.enqueue([{ ...base, kind: 'statusEnd', correlator: 'other-1', sequence: 1, api: 'other-api', endReason: 'deleted' }]);
    await d.settled();
    expect(app.requests[0]).toMatch(/\r\nContent-Type: application\/json\r\n/);
    expect(app.requests[0]).not.toMatch(/SOAPAction/);

    const [notified] = await attemptsOf(globalId);
    expect(notified.attempted.attributes).toEqual({
      CORRELATOR: 'ev-1', TARGETS: 'tel:+15550001', DELIVERY_STATUS: 'Reachable',
      APP_CORRELATION_ID: notified.attempted.attributes.APP_CORRELATION_ID, SERVICE: 'EVENT_SERVICE',
    });
    expect(notified.result).toMatchObject({ statusCode: 0 });
    expect(notified.result.attributes).toEqual({
      FAILURE_REASON: '', FAILURE_DETAIL: '', APP_CORRELATION_ID: notified.attempted.attributes.APP_CORRELATION_ID, SERVICE: 'EVENT_SERVICE',
    });
    // A failed attempt's result names the service too; an API without a service gets none.
    const ends = await attemptsOf(globalId, 'statusEnd');
    expect(ends).toHaveLength(2);
    const ended = ends.find((a) => a.attempted.attributes.CORRELATOR === 'ev-1');
    expect(ended.attempted.attributes.SERVICE).toBe('EVENT_SERVICE');
    expect(ended.result).toMatchObject({ statusCode: 11, attributes: { FAILURE_REASON: 'HTTP 400', SERVICE: 'EVENT_SERVICE' } });
    const other = ends.find((a) => a.attempted.attributes.CORRELATOR === 'other-1');
    expect(Object.keys(other.attempted.attributes)).toEqual(['CORRELATOR', 'APP_CORRELATION_ID']);
    expect(Object.keys(other.result.attributes)).toEqual(['FAILURE_REASON', 'FAILURE_DETAIL', 'APP_CORRELATION_ID']);
  });
});

describe('retries', () => {
  test('503 and 404 are retried with backoff until delivered; every attempt is recorded and paired', async () => {
    const app = await startApp((request, index) => [503, 404, 200][index]);
    const d = delivery({ config: { maxAttempts: 5, retryBackoffMs: 50 } });
    const globalId = randomUUID();
    d.enqueue([statusNotification(app.url, 'retry-1', [{ address: 'sip:a@example.test', status: 'Reachable' }], globalId)]);
    await d.settled();

    expect(app.requests).toHaveLength(3);
    expect(app.requests[1].at - app.requests[0].at).toBeGreaterThanOrEqual(45);
    expect(app.requests[2].at - app.requests[1].at).toBeGreaterThanOrEqual(95);
    const attempts = await attemptsOf(globalId);
    expect(attempts).toHaveLength(3);
    expect(attempts.every((a) => a.attempted.globalId === globalId && a.result.globalId === globalId)).toBe(true);
    expect(new Set(attempts.map((a) => a.attempted.attributes.APP_CORRELATION_ID)).size).toBe(3);
    const results = attempts.map((a) => [a.result.statusCode, a.result.attributes.FAILURE_REASON]);
    expect(results).toEqual([[11, 'HTTP 503'], [11, 'HTTP 404'], [0, '']]);
    expect(attempts[0].result.attributes.FAILURE_DETAIL).toBe('HTTP 503 Service Unavailable; attempt 1 of 5, retry in 50 ms');
    expect(attempts[1].result.attributes.FAILURE_DETAIL).toBe('HTTP 404 Not Found; attempt 2 of 5, retry in 100 ms');
    expect(d.stats()).toMatchObject({ delivered: 1, failed: 0, retries: 2, queued: 0, inFlight: 0 });
  });

  test('a refused connection is retried, and delivered once the endpoint listens', async () => {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}/notify`;
    const d = delivery({ config: { maxAttempts: 5, retryBackoffMs: 300 } });
    const globalId = randomUUID();
    d.enqueue([statusNotification(endpoint, 'refused-1', [{ address: 'sip:a@example.test', status: 'Busy' }], globalId)]);
    await until(() => d.stats().retries >= 1);
    const app = await startApp(() => 200, { port });
    await d.settled();

    expect(app.requests).toHaveLength(1);
    const attempts = await attemptsOf(globalId);
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    const first = attempts[0].result;
    expect(first.statusCode).toBe(11);
    expect(first.attributes.FAILURE_REASON).toBe('ECONNREFUSED');
    expect(first.attributes.FAILURE_DETAIL).toMatch(/^connect ECONNREFUSED 127\.0\.0\.1:\d+; attempt 1 of 5, retry in 300 ms$/);
    const last = attempts[attempts.length - 1].result;
    expect(last).toMatchObject({ statusCode: 0, globalId });
    expect(d.stats()).toMatchObject({ delivered: 1, failed: 0 });
  });

  test('a 400 answer is final: no retry', async () => {
    const app = await startApp(() => 400);
    const d = delivery({ config: { maxAttempts: 5 } });
    const globalId = randomUUID();
    d.enqueue([statusNotification(app.url, 'bad-1', [{ address: 'sip:a@example.test', status: 'Busy' }], globalId)]);
    await d.settled();
    await new Promise((resolve) => setTimeout(resolve, 150)); // a retry would come after 50 ms

    expect(app.requests).toHaveLength(1);
    const attempts = await attemptsOf(globalId);
    expect(attempts).toHaveLength(1);
    expect(attempts[0].result.statusCode).toBe(11);
    expect(attempts[0].result.attributes).toMatchObject({
      FAILURE_REASON: 'HTTP 400', FAILURE_DETAIL: 'HTTP 400 Bad Request; attempt 1 of 5, not retried',
    });
    expect(d.stats()).toMatchObject({ delivered: 0, failed: 1, retries: 0 });
    expect(d.logs.some((l) => l.level === 'warn' && l.extra.correlator === 'bad-1')).toBe(true);
  });

  test('maxAttempts is honoured; the backoff doubles up to retryBackoffMaxMs', async () => {
    const app = await startApp(() => 503);
    const d = delivery({ config: { maxAttempts: 4, retryBackoffMs: 100, retryBackoffMaxMs: 150 } });
    const globalId = randomUUID();
    d.enqueue([statusNotification(app.url, 'max-1', [{ address: 'sip:a@example.test', status: 'Busy' }], globalId)]);
    await d.settled();
    await new Promise((resolve) => setTimeout(resolve, 300));

    expect(app.requests).toHaveLength(4);
    const gaps = app.requests.slice(1).map((r, i) => r.at - app.requests[i].at);
    expect(gaps[0]).toBeGreaterThanOrEqual(95);
    expect(gaps[1]).toBeGreaterThanOrEqual(145); // doubled (would be 100 otherwise)
    expect(gaps[2]).toBeLessThan(350); // capped at 150 (would be 400 otherwise)
    const attempts = await attemptsOf(globalId);
    expect(attempts).toHaveLength(4);
    expect(attempts.map((a) => a.result.attributes.FAILURE_DETAIL.replace(/^HTTP 503 Service Unavailable; /, ''))).toEqual([
      'attempt 1 of 4, retry in 100 ms', 'attempt 2 of 4, retry in 150 ms', 'attempt 3 of 4, retry in 150 ms', 'attempt 4 of 4, giving up',
    ]);
    expect(d.stats()).toMatchObject({ delivered: 0, failed: 1, retries: 3 });
  });

  test('an attempt without an answer within timeoutMs fails with TIMEOUT and is retried', async () => {
    const app = await startApp(() => 'hang');
    const d = delivery({ config: { timeoutMs: 300, maxAttempts: 2, retryBackoffMs: 50 } });
    const globalId = randomUUID();
    const started = Date.now();
    d.enqueue([statusNotification(app.url, 'slow-1', [{ address: 'sip:a@example.test', status: 'Busy' }], globalId)]);
    await d.settled();
    const elapsed = Date.now() - started;

    expect(app.requests).toHaveLength(2);
    expect(elapsed).toBeGreaterThanOrEqual(2 * 300 + 50 - 5);
    expect(elapsed).toBeLessThan(2000);
    const attempts = await attemptsOf(globalId);
    expect(attempts.map((a) => [a.result.statusCode, a.result.attributes.FAILURE_REASON])).toEqual([[11, 'TIMEOUT'], [11, 'TIMEOUT']]);
    expect(attempts[1].result.attributes.FAILURE_DETAIL).toBe('no answer within 300 ms; attempt 2 of 2, giving up');
  });
});

describe('HTTP answers', () => {
  const ok = (pieces, close = false) => ({ pieces, close });

  test('chunked bodies split across packets, interim 1xx answers and 204 are read on one kept-alive connection', async () => {
    const app = await startRawApp((index) => [
      ok(['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel', 'lo\r\n0\r\nX-Trailer: 1\r', '\n\r\n']),
      ok(['HTTP/1.1 204 No Content\r\nDate: Tue, 24 Nov 2026 18:00:00 GMT\r\n\r\n']),
      ok(['HTTP/1.1 200 OK\r\nContent-Length: 3\r\n', '\r\nab', 'c']),
      ok(['HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nConnection: keep-alive\r\n\r\n']),
    ][index]);
    const d = delivery();
    d.enqueue([1, 2, 3, 4].map((i) => statusNotification(app.url, 'raw-1', [{ address: `sip:u${i}@example.test`, status: 'Busy' }])));
    await d.settled();
    expect(app.requests).toHaveLength(4);
    expect(app.requests[0]).toMatch(/^POST \/raw HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\n/);
    expect(app.connections).toBe(1);
    expect(d.stats()).toMatchObject({ delivered: 4, failed: 0, retries: 0 });
  });

  test('an answer ended by closing the connection, and Connection: close, are delivered; the next request reconnects', async () => {
    const app = await startRawApp((index) => [
      ok(['HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n<ok/>'], true),
      ok(['HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'], true),
      ok(['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n']),
    ][index]);
    const d = delivery();
    d.enqueue([1, 2, 3].map((i) => statusNotification(app.url, 'raw-2', [{ address: `sip:u${i}@example.test`, status: 'Busy' }])));
    await d.settled();
    expect(app.requests).toHaveLength(3);
    expect(app.connections).toBe(3);
    expect(d.stats()).toMatchObject({ delivered: 3, failed: 0, retries: 0 });
  });

  test('a malformed answer is an error (HPE_INVALID) and is retried', async () => {
    const app = await startRawApp((index) => [
      ok(['HTTP/1.1 OK\r\n\r\n']),
      ok(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n']),
      ok(['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n']),
    ][index]);
    const d = delivery({ config: { retryBackoffMs: 10 } });
    const globalId = randomUUID();
    d.enqueue([statusNotification(app.url, 'raw-3', [{ address: 'sip:u@example.test', status: 'Busy' }], globalId)]);
    await d.settled();
    const attempts = await attemptsOf(globalId);
    expect(attempts.map((a) => a.result.attributes.FAILURE_REASON)).toEqual(['HPE_INVALID', 'HPE_INVALID', '']);
    expect(attempts[0].result.attributes.FAILURE_DETAIL).toMatch(/^invalid HTTP response: bad status line/);
    expect(attempts[1].result.attributes.FAILURE_DETAIL).toMatch(/^invalid HTTP response: bad chunk size/);
  });

  test('a kept-alive connection the server drops as it is reused is retried at once on a new one', async () => {
    const app = await startRawApp((index) => (index === 1 ? { destroy: true } : ok(['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'])));
    const d = delivery({ config: { retryBackoffMs: 60000 } });
    const globalId = randomUUID();
    d.enqueue([1, 2].map((i) => statusNotification(app.url, 'raw-4', [{ address: `sip:u${i}@example.test`, status: 'Busy' }], globalId)));
    await d.settled();
    expect(app.requests).toHaveLength(3);
    expect(app.connections).toBe(2);
    const attempts = await attemptsOf(globalId);
    expect(attempts.map((a) => a.result.attributes.FAILURE_REASON)).toEqual(['', 'ECONNRESET', '']);
    expect(attempts[1].result.attributes.FAILURE_DETAIL).toMatch(/; attempt 1 of 3, retry in 0 ms$/);
  });
});

describe('order and parallelism', () => {
  test('one notification\'s deliveries go one at a time, in order, behind a retry; others are not held back', async () => {
    let firstN1 = true;
    const app = await startApp(async (request) => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      const address = child(child(request.wrapper, 'terminalStatus'), 'address').text;
      if (address === 'sip:n1@example.test' && firstN1) {
        firstN1 = false;
        return 503;
      }
      return 200;
    });
    const d = delivery({ config: { retryBackoffMs: 200 } });
    const n = (i) => statusNotification(app.url, 'c1', [{ address: `sip:n${i}@example.test`, status: 'Busy' }]);
    const m = (i) => statusNotification(app.url, 'c2', [{ address: `sip:m${i}@example.test`, status: 'Reachable' }]);
    d.enqueue([n(1), n(2), m(1), n(3), m(2)]);
    expect(d.stats()).toMatchObject({ queued: 3, inFlight: 2 });
    await d.settled();

    const seen = app.requests.map((r) => `${r.correlator}:${child(child(r.wrapper, 'terminalStatus'), 'address').text.slice(4, 6)}`);
    expect(seen.filter((s) => s.startsWith('c1'))).toEqual(['c1:n1', 'c1:n1', 'c1:n2', 'c1:n3']);
    expect(seen.filter((s) => s.startsWith('c2'))).toEqual(['c2:m1', 'c2:m2']);
    // c2 went on while c1 waited for its retry.
    expect(seen.indexOf('c2:m2')).toBeLessThan(seen.lastIndexOf('c1:n1'));
    expect(app.maxInFlightPerCorrelator).toBe(1);
    expect(app.maxInFlight).toBe(2);
    expect(d.stats()).toMatchObject({ delivered: 5, failed: 0, retries: 1 });
  });

  test('at most maxSocketsPerEndpoint requests are in flight per endpoint; records of a busy run are all written', async () => {
    const app = await startApp(async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return 200;
    });
    const d = delivery({ config: { maxSocketsPerEndpoint: 3 } });
    const globalIds = Array.from({ length: 20 }, () => randomUUID());
    const batch = [];
    for (let round = 0; round < 5; round++) {
      globalIds.forEach((globalId, i) => {
        batch.push(statusNotification(app.url, `par-${i}`, [{ address: `sip:u${round}@example.test`, status: 'Busy' }], globalId));
      });
    }
    d.enqueue(batch);
    await d.settled();

    expect(app.requests).toHaveLength(100);
    expect(app.maxInFlight).toBe(3);
    expect(app.maxInFlightPerCorrelator).toBe(1);
    for (let i = 0; i < 20; i++) {
      const rounds = app.requests.filter((r) => r.correlator === `par-${i}`)
        .map((r) => child(child(r.wrapper, 'terminalStatus'), 'address').text);
      expect(rounds).toEqual([0, 1, 2, 3, 4].map((round) => `sip:u${round}@example.test`));
    }
    const records = await usage.query({ globalId: globalIds[7] });
    expect(records).toHaveLength(10);
    expect(d.stats()).toMatchObject({ delivered: 100, failed: 0, recordErrors: 0 });
  });
});

describe('shutdown and failures of the usage log', () => {
  test('close() lets attempts finish for the grace period, then aborts them and records them as failed', async () => {
    const app = await startApp(() => 'hang');
    const d = delivery({ closeGraceMs: 200, config: { timeoutMs: 10000 } });
    const globalId = randomUUID();
    d.enqueue([
      statusNotification(app.url, 'close-1', [{ address: 'sip:a@example.test', status: 'Busy' }], globalId),
      statusNotification(app.url, 'close-1', [{ address: 'sip:a@example.test', status: 'Reachable' }], globalId),
      statusNotification(app.url, 'close-2', [{ address: 'sip:b@example.test', status: 'Busy' }], globalId),
    ]);
    await until(() => app.requests.length === 2);
    const started = Date.now();
    await d.close();
    const elapsed = Date.now() - started;

    expect(elapsed).toBeGreaterThanOrEqual(195);
    expect(elapsed).toBeLessThan(2000);
    expect(d.stats()).toMatchObject({ queued: 0, inFlight: 0, delivered: 0, failed: 2, dropped: 1 });
    const attempts = await attemptsOf(globalId);
    expect(attempts).toHaveLength(2);
    for (const { result } of attempts) {
      expect(result.statusCode).toBe(8); // FAILED_SERVICE_NOT_RUNNING
      expect(result.attributes).toMatchObject({ FAILURE_REASON: 'ABORTED', FAILURE_DETAIL: 'gateway shutting down; attempt 1 of 3, not retried' });
    }
    d.enqueue([statusNotification(app.url, 'close-3', [{ address: 'sip:c@example.test', status: 'Busy' }], globalId)]);
    expect(d.stats().dropped).toBe(2);
    expect(d.logs.some((l) => l.level === 'warn' && /dropped/.test(l.message))).toBe(true);
  });

  test('records the usage log refuses are logged and counted, delivery goes on', async () => {
    const app = await startApp();
    const refusing = {
      record: () => Promise.reject(Object.assign(new Error('usage records not accepted'), { code: 'ERR_PX_USAGE_QUEUE_FULL' })),
    };
    const d = delivery({ usage: refusing });
    d.enqueue([statusNotification(app.url, 'full-1', [{ address: 'sip:a@example.test', status: 'Busy' }])]);
    await d.settled();

    expect(app.requests).toHaveLength(1);
    expect(d.stats()).toMatchObject({ delivered: 1, recordErrors: 2 });
    const logged = d.logs.filter((l) => l.level === 'error' && l.message === 'delivery usage records not written');
    expect(logged.reduce((sum, l) => sum + l.extra.count, 0)).toBe(2);
    expect(logged[0].extra.code).toBe('ERR_PX_USAGE_QUEUE_FULL');
  });

  test('an endpoint that is not an http(s) URL fails at once and is recorded', async () => {
    const d = delivery();
    const globalId = randomUUID();
    d.enqueue([{ kind: 'statusEnd', requester: '', correlator: 'bad-endpoint', endpoint: 'mailto:app@example.test', globalId, sequence: 0 }]);
    await d.settled();
    const attempts = await attemptsOf(globalId, 'statusEnd');
    expect(attempts).toHaveLength(1);
    expect(attempts[0].result).toMatchObject({ statusCode: 11, attributes: { FAILURE_REASON: 'INVALID_ENDPOINT' } });
    expect(d.stats()).toMatchObject({ failed: 1, queued: 0 });
  });
});

describe('the limit of connections to all endpoints together (notifications.delivery.maxConnections)', () => {
  test('many endpoint origins never hold more than maxConnections sockets; idle ones make room', async () => {
    // Six applications on six ports: six origins of keep-alive connections.
    const servers = [];
    let open = 0;
    let peak = 0;
    for (let i = 0; i < 6; i++) {
      const server = http.createServer((req, res) => {
        req.resume();
        req.on('end', () => setTimeout(() => res.end(OK_BODY), 20));
      });
      server.on('connection', (socket) => {
        open++;
        peak = Math.max(peak, open);
        socket.on('close', () => { open--; });
      });
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => {
        server.closeAllConnections();
        return new Promise((resolve) => server.close(resolve));
      });
      servers.push(`http://127.0.0.1:${server.address().port}/app`);
    }
    const d = delivery({ config: { maxConnections: 2, maxSocketsPerEndpoint: 4 } });
    const batch = [];
    for (let round = 0; round < 3; round++) {
      servers.forEach((url, i) => batch.push(statusNotification(url, `c-${i}-${round}`, [{ address: 'sip:a@x', status: 'Busy' }])));
    }
    d.enqueue(batch);
    await d.settled();
    expect(d.stats()).toMatchObject({ delivered: 18, failed: 0, retries: 0 });
    // Sockets the gateway held at once (its file descriptors); the servers may see one more for
    // a moment, as the close of an evicted connection reaches them after the next connect.
    expect(d.stats().connectionsPeak).toBe(2);
    expect(peak).toBeLessThanOrEqual(3);
    expect(d.stats().connections).toBeLessThanOrEqual(2);
    // Six origins through two sockets: idle connections were closed to open others.
    expect(d.stats().connectionsEvicted).toBeGreaterThanOrEqual(4);
  });
});
