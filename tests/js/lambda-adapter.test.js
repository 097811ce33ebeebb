'use strict';
// The AWS Lambda adapter (js/adapters/apiGateway.js) with real parts: API Gateway proxy events
// (REST API v1 and HTTP API v2 payloads) run through the gateway's real handlers, whose presence
// server is a SIPp UAS answering every fetch with a real SUBSCRIBE/NOTIFY exchange. Every answer
// is compared with what the same request gets over HTTP from the same gateway (js/server.js).
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { startSippUas } = require('../support/sipp');
const {
  startGateway, gatewayYaml, postSoap, envelope, tempDir, testPasswordHash, basicAuth,
} = require('../support/gateway');
const { createLambdaHandler } = require('../../index');
const { createProxyAdapter } = require('../../js/adapters/apiGateway');
const { bodyTooLargeFault, internalErrorFault } = require('../../js/soap/builder');

const PATH = '/parlayx/TerminalStatusService/services/TerminalStatus';
const API_HOST = 'abc123.execute-api.eu-west-1.amazonaws.com';
const BUSY_PERSON = '<dm:person id="p1"><rpid:activities><rpid:busy/></rpid:activities></dm:person>';
const PASSWORD = 'lambda-test-password';
const MAX_BODY_BYTES = 8192; // tests/support/gateway.js httpYaml default
const XML = 'text/xml; charset=utf-8';
const GET_STATUS = envelope('<loc:getStatus><loc:address>sip:alice@example.test</loc:address></loc:getStatus>');
const MALFORMED = '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><oops>';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let peer;
let fixture;
let handler;
const credentials = () => basicAuth('acme', PASSWORD);

/** A REST API (v1) proxy event as API Gateway sends it: mixed-case headers, both header maps. */
function v1Event({ method = 'POST', path: p = PATH, headers = {}, query = null, body = null, isBase64Encoded = false }) {
  const all = { Host: API_HOST, 'X-Forwarded-Proto': 'https', ...headers };
  return {
    resource: '/{proxy+}',
    path: p,
    httpMethod: method,
    headers: all,
    multiValueHeaders: Object.fromEntries(Object.entries(all).map(([k, v]) => [k, [v]])),
    queryStringParameters: query,
    multiValueQueryStringParameters: query && Object.fromEntries(Object.entries(query).map(([k, v]) => [k, [v]])),
    pathParameters: { proxy: p.slice(1) },
    stageVariables: null,
    requestContext: { stage: 'prod', httpMethod: method, path: `/prod${p}`, identity: { sourceIp: '192.0.2.10' } },
    body,
    isBase64Encoded,
  };
}

/** An HTTP API (v2) proxy event on the named stage "prod": rawPath carries the stage. */
function v2Event({ method = 'POST', path: p = PATH, headers = {}, rawQueryString = '', body, isBase64Encoded = false, cookies }) {
  const event = {
    version: '2.0',
    routeKey: '$default',
    rawPath: `/prod${p}`,
    rawQueryString,
    headers: { host: API_HOST, 'x-forwarded-proto': 'https', ...headers },
    requestContext: {
      stage: 'prod',
      http: { method, path: `/prod${p}`, protocol: 'HTTP/1.1', sourceIp: '192.0.2.20', userAgent: 'jest' },
    },
    isBase64Encoded,
  };
  if (body !== undefined) event.body = body;
  if (cookies) event.cookies = cookies;
  return event;
}

/** GET over node:http (fetch() does not send a Host header of its own). */
function httpGet(url, headers) {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

const lower = (headers) => Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));

beforeAll(async () => {
  peer = await startSippUas({ scenario: 'subscribe-200-notify', keys: { basic: 'open', person: BUSY_PERSON } });
  fixture = await startGateway({
    presencePort: peer.port,
    authYaml: 'authentication:\n  required: true\n',
    extraYaml: `requesters:\n  acme:\n    passwordHash: "${testPasswordHash(PASSWORD)}"\n`,
  });
  handler = createLambdaHandler(fixture.gateway);
}, 30000);

afterAll(async () => {
  if (fixture) await fixture.gateway.close();
  if (peer) await peer.stop();
});

describe('getStatus through the Lambda adapter', () => {
  test('REST API (v1) event: 200, the SOAP answer of the SIP fetch, the same body as over HTTP', async () => {
    const response = await handler(v1Event({
      headers: { 'Content-Type': XML, SOAPAction: '""', Authorization: credentials().authorization },
      body: GET_STATUS,
    }), {});
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe(XML);
    expect(response.headers['x-parlayx-global-id']).toMatch(UUID);
    expect(response.isBase64Encoded).toBe(false);
    expect(response.multiValueHeaders).toBeUndefined();
    expect(response.body).toMatch(/<ns\d*:getStatusResponse[^>]*><ns\d*:result>Busy<\/ns\d*:result><\/ns\d*:getStatusResponse>/);
    const overHttp = await postSoap(fixture.endpoint, GET_STATUS, credentials());
    expect(overHttp.status).toBe(200);
    expect(response.body).toBe(overHttp.text);
  });

  test('HTTP API (v2) event on a named stage, base64 body: the same answer', async () => {
    const response = await handler(v2Event({
      headers: { 'content-type': XML, soapaction: '""', authorization: credentials().authorization },
      cookies: ['session=abc', 'theme=dark'],
      body: Buffer.from(GET_STATUS, 'utf8').toString('base64'),
      isBase64Encoded: true,
    }));
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe(XML);
    expect(response.isBase64Encoded).toBe(false);
    const overHttp = await postSoap(fixture.endpoint, GET_STATUS, credentials());
    expect(response.body).toBe(overHttp.text);
    expect(response.body).toContain('>Busy</');
  });

  test('HTTP API (v2) event with a plain text body', async () => {
    const response = await handler(v2Event({
      headers: { 'content-type': XML, authorization: credentials().authorization }, body: GET_STATUS,
    }));
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('>Busy</');
  });

  test('no credentials: 401 with the Basic challenge and the WS-Security fault, as over HTTP', async () => {
    const response = await handler(v1Event({ headers: { 'Content-Type': XML }, body: GET_STATUS }));
    const overHttp = await postSoap(fixture.endpoint, GET_STATUS);
    expect(overHttp.status).toBe(401);
    expect(response.statusCode).toBe(401);
    expect(response.headers['content-type']).toBe(XML);
    expect(response.headers['www-authenticate']).toBe(overHttp.headers.get('www-authenticate'));
    expect(response.body).toBe(overHttp.text);
    expect(response.body).toContain('wsse:FailedAuthentication');
  });
});

describe('WSDL through the Lambda adapter', () => {
  test('GET ?wsdl (v1): the contract, addressed on the Host the client used', async () => {
    const response = await handler(v1Event({ method: 'GET', query: { wsdl: '' } }));
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe(XML);
    expect(response.isBase64Encoded).toBe(false);
    expect(response.body).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>/);
    expect(response.body).toContain('<wsdl:definitions');
    expect(response.body).toContain('<wsdl:service name="TerminalStatusService">');
    expect(response.body).toContain(`<soap:address location="http://${API_HOST}${PATH}"/>`);
    expect(response.body).toContain(`http://${API_HOST}/parlayx/wsdl/`);
    const overHttp = await httpGet(`${fixture.endpoint}?wsdl`, { host: API_HOST });
    expect(overHttp.status).toBe(200);
    expect(response.body).toBe(overHttp.text);
  });

  test('GET ?wsdl (v2 rawQueryString) serves the same document', async () => {
    const v1 = await handler(v1Event({ method: 'GET', query: { wsdl: '' } }));
    const v2 = await handler(v2Event({ method: 'GET', rawQueryString: 'wsdl' }));
    expect(v2.statusCode).toBe(200);
    expect(v2.headers['content-type']).toBe(XML);
    expect(v2.body).toBe(v1.body);
  });

  test('HEAD ?wsdl: the status and headers without a body', async () => {
    const response = await handler(v1Event({ method: 'HEAD', query: { wsdl: '' } }));
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe(XML);
    expect(response.body).toBe('');
  });
});

describe('faults through the Lambda adapter', () => {
  test('a malformed SOAP body: 500 and the same Client fault as over HTTP', async () => {
    const response = await handler(v1Event({
      headers: { 'Content-Type': XML, Authorization: credentials().authorization }, body: MALFORMED,
    }));
    const overHttp = await postSoap(fixture.endpoint, MALFORMED, credentials());
    expect(overHttp.status).toBe(500);
    expect(response.statusCode).toBe(500);
    expect(response.headers['content-type']).toBe(XML);
    expect(response.body).toMatch(/<faultcode>[^<]*:Client<\/faultcode>/);
    expect(response.body).toBe(overHttp.text);
  });

  test('an oversized body: 413 and the same fault as js/server.js, v1 text and v2 base64', async () => {
    const oversized = envelope(`<loc:getStatus><loc:address>sip:${'x'.repeat(9000)}@example.test</loc:address></loc:getStatus>`);
    const overHttp = await postSoap(fixture.endpoint, oversized, credentials());
    expect(overHttp.status).toBe(413);
    const expected = bodyTooLargeFault(MAX_BODY_BYTES);
    expect(overHttp.text).toBe(expected);

    const v1 = await handler(v1Event({
      headers: { 'Content-Type': XML, Authorization: credentials().authorization }, body: oversized,
    }));
    expect(v1.statusCode).toBe(413);
    expect(v1.headers).toEqual({ 'content-type': XML });
    expect(v1.body).toBe(expected);
    expect(v1.body).toContain(`request body larger than ${MAX_BODY_BYTES} bytes`);

    // The cap counts the decoded bytes: 8193 bytes are refused, 8192 are not (that is a parse fault).
    const v2 = await handler(v2Event({
      headers: { 'content-type': XML }, body: Buffer.alloc(MAX_BODY_BYTES + 1, 0x20).toString('base64'), isBase64Encoded: true,
    }));
    expect(v2.statusCode).toBe(413);
    expect(v2.body).toBe(expected);
    const atCap = await handler(v2Event({
      headers: { 'content-type': XML }, body: Buffer.alloc(MAX_BODY_BYTES, 0x20).toString('base64'), isBase64Encoded: true,
    }));
    expect(atCap.statusCode).toBe(500);
    expect(atCap.body).toMatch(/:Client<\/faultcode>/);
  });

  test('an unknown path: the router\'s 404, as over HTTP', async () => {
    const response = await handler(v1Event({ method: 'POST', path: '/parlayx/nothing', headers: { 'Content-Type': XML }, body: '<x/>' }));
    const overHttp = await postSoap(`${fixture.url}/nothing`, '<x/>');
    expect(response.statusCode).toBe(404);
    expect(overHttp.status).toBe(404);
    expect(response.headers['content-type']).toBe(XML);
    expect(response.body).toBe(overHttp.text);
  });

  test('GET on the SOAP endpoint: 405 with Allow: POST', async () => {
    const response = await handler(v2Event({ method: 'GET' }));
    expect(response.statusCode).toBe(405);
    expect(response.headers.allow).toBe('POST');
    expect(response.body).toMatch(/:Client<\/faultcode>/);
  });
});

describe('createLambdaHandler from options: one gateway per container', () => {
  test('the gateway is made at the first invocation only, once for concurrent ones, and kept', async () => {
    const stateDir = tempDir('px-lambda-');
    const logs = [];
    const lazy = createLambdaHandler({
      configText: gatewayYaml({ presencePort: peer.port, stateDir }),
      configName: 'lambda.yaml',
      log: (level, message, extra) => logs.push({ level, message, extra }),
    });
    // Nothing started yet: no usage store opened.
    expect(fs.existsSync(path.join(stateDir, 'usage.db'))).toBe(false);
    const event = () => v1Event({ headers: { 'Content-Type': XML }, body: GET_STATUS });
    const [a, b] = await Promise.all([lazy(event(), {}), lazy(event(), {})]);
    try {
      expect([a.statusCode, b.statusCode]).toEqual([200, 200]);
      expect(a.body).toContain('>Busy</');
      expect(fs.existsSync(path.join(stateDir, 'usage.db'))).toBe(true);
      const gateway = await lazy.gateway();
      const again = await lazy(event(), {});
      expect(again.statusCode).toBe(200);
      expect(await lazy.gateway()).toBe(gateway);
      // Not listening: the Lambda runtime is the only entry point.
      expect(gateway.server).toBeNull();
    } finally {
      await (await lazy.gateway()).close();
    }
  });

  test('a gateway that cannot start rejects the invocation, and the next one tries again', async () => {
    const lazy = createLambdaHandler({ configText: 'http: {port: "8080"}\n', configName: 'bad.yaml' });
    const first = await lazy(v1Event({ method: 'GET', query: { wsdl: '' } })).then(() => null, (error) => error);
    // A ConfigError of the native core (not of Jest's realm: no toBeInstanceOf).
    expect(first).not.toBeNull();
    expect(first.message).toMatch(/^bad\.yaml:1: http\.port: /);
    // Not the cached failure: a new attempt, with its own error.
    const second = await lazy.gateway().then(() => null, (error) => error);
    expect(second).not.toBeNull();
    expect(second.message).toBe(first.message);
    expect(second).not.toBe(first);
  });
});

describe('createProxyAdapter: the response mapping', () => {
  test('a repeated header is multiValueHeaders (v1), cookies and a joined header (v2); binary goes base64', async () => {
    const app = async () => ({
      statusCode: 201,
      headers: { 'Content-Type': 'application/octet-stream', 'Set-Cookie': ['a=1', 'b=2'], vary: ['accept', 'origin'] },
      body: Buffer.from([0, 1, 2, 255]),
    });
    const adapter = createProxyAdapter(app, { maxBodyBytes: 1024 });
    const v1 = await adapter(v1Event({ method: 'GET', path: '/x' }));
    expect(v1).toEqual({
      statusCode: 201,
      headers: { 'content-type': 'application/octet-stream' },
      multiValueHeaders: { 'set-cookie': ['a=1', 'b=2'], vary: ['accept', 'origin'] },
      body: 'AAEC/w==',
      isBase64Encoded: true,
    });
    const v2 = await adapter(v2Event({ method: 'GET', path: '/x' }));
    expect(v2).toEqual({
      statusCode: 201,
      headers: { 'content-type': 'application/octet-stream', vary: 'accept, origin' },
      cookies: ['a=1', 'b=2'],
      body: 'AAEC/w==',
      isBase64Encoded: true,
    });
  });

  test('the app event: lower-case headers, the stage stripped, the query, the source address', async () => {
    const seen = [];
    const adapter = createProxyAdapter(async (event) => {
      seen.push(event);
      return { statusCode: 204, headers: { 'content-type': 'application/json' }, body: Buffer.from('{}') };
    }, { maxBodyBytes: 1024 });
    const r1 = await adapter(v1Event({ path: PATH, headers: { 'X-Thing': 'one' }, query: { a: '1' }, body: 'aGk=', isBase64Encoded: true }));
    const r2 = await adapter(v2Event({ headers: { 'x-thing': 'two' }, rawQueryString: 'a=1&a=2&wsdl', body: 'hi', cookies: ['c=1', 'd=2'] }));
    expect(r1).toEqual({ statusCode: 204, headers: { 'content-type': 'application/json' }, body: '{}', isBase64Encoded: false });
    expect(r2.body).toBe('{}');
    expect(seen[0]).toMatchObject({
      method: 'POST', path: PATH, queryStringParameters: { a: '1' },
      headers: lower({ Host: API_HOST, 'X-Forwarded-Proto': 'https', 'X-Thing': 'one' }),
      requestContext: { identity: { sourceIp: '192.0.2.10' } },
    });
    expect(seen[0].body.toString()).toBe('hi');
    expect(seen[1]).toMatchObject({
      method: 'POST', path: PATH, queryStringParameters: { a: '2', wsdl: '' },
      headers: { host: API_HOST, 'x-thing': 'two', cookie: 'c=1; d=2' },
      requestContext: { identity: { sourceIp: '192.0.2.20' } },
    });
    expect(seen[1].body.toString()).toBe('hi');
  });

  test('an app that throws: 500 with the internal-error fault, logged', async () => {
    const logged = [];
    const adapter = createProxyAdapter(async () => { throw new Error('boom'); }, {
      maxBodyBytes: 1024, log: (level, message) => logged.push([level, message]),
    });
    const response = await adapter(v2Event({ body: '<x/>' }));
    expect(response).toEqual({ statusCode: 500, headers: { 'content-type': XML }, body: internalErrorFault(), isBase64Encoded: false });
    expect(logged).toEqual([['error', 'handler failed']]);
  });
});
