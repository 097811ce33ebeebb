'use strict';
// CAMARA access tokens: every refusal is a CAMARA error body (401 UNAUTHENTICATED, 403
// PERMISSION_DENIED) with the x-correlator echoed, touches no presence server and writes no usage
// record. Keys are made here with jose; the JWKS is a file for one gateway and, for another, a
// URL served by a real local HTTP server.
const http = require('node:http');
const jose = require('jose');
const { startKamailio, freePort } = require('../../scripts/kamailio/kamailio');
const sip = require('../support/sip');
const { startGateway, tempDir, testPasswordHash } = require('../support/gateway');
const {
  createIssuer, camaraYaml, postJson, originOf, RETRIEVE_PATH,
} = require('../support/camara');

let kamailio;
let presencePort;
let issuer;
let fixture;
let url;
let jwksServer;
let jwksRequests = 0;

const REQUESTERS_YAML = `requesters:
  acme:
    passwordHash: "${testPasswordHash('pw')}"
`;
const BODY = { device: { phoneNumber: '+15550001' } };

beforeAll(async () => {
  presencePort = await freePort();
  kamailio = await startKamailio({ sipPort: presencePort, workDir: tempDir('px-kamailio-') });
  const server = { host: '127.0.0.1', port: presencePort };
  expect((await sip.publish({ server, presentity: 'sip:+15550001@example.test', basic: 'open' })).status).toBe(200);
  issuer = await createIssuer(tempDir('px-camara-'));
  fixture = await startGateway({
    presencePort,
    extraYaml: `${REQUESTERS_YAML}${camaraYaml({ jwksFile: issuer.jwksFile, clients: { 'app-acme': 'acme' } })}`,
  });
  url = `${originOf(fixture.url)}${RETRIEVE_PATH}`;
}, 30000);

afterAll(async () => {
  if (fixture) await fixture.gateway.close();
  if (jwksServer) await new Promise((resolve) => jwksServer.close(resolve));
  if (kamailio) await kamailio.stop();
});

/** A retrieve with the given Authorization header; also the records and fetches it caused. */
async function retrieveWith(authorization) {
  const fetchesBefore = fixture.gateway.core.stats().started;
  const headers = { 'x-correlator': 'auth-test-1' };
  if (authorization !== undefined) headers.authorization = authorization;
  const reply = await postJson(url, BODY, headers);
  return { ...reply, fetches: fixture.gateway.core.stats().started - fetchesBefore };
}

const bearer = async (claims) => `Bearer ${await issuer.token(claims)}`;

describe('a valid token', () => {
  test('is accepted (the baseline every refusal below differs from in one thing)', async () => {
    const reply = await retrieveWith(await bearer());
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ reachable: true });
  });

  test('scopes as an scp array are accepted too', async () => {
    const reply = await retrieveWith(await bearer({ scope: undefined, scp: ['device-reachability-status:read'] }));
    expect(reply.status).toBe(200);
  });
});

describe('401 UNAUTHENTICATED', () => {
  const cases = [
    ['no Authorization header', async () => undefined],
    ['Basic instead of Bearer', async () => 'Basic YWNtZTpwdw=='],
    ['a bearer value that is no JWT', async () => 'Bearer not-a-jwt'],
    ['an expired token', () => bearer({ exp: Math.floor(Date.now() / 1000) - 3600 })],
    ['a token of another audience', () => bearer({ aud: 'someone-else' })],
    ['a token of another issuer', () => bearer({ iss: 'https://evil.example.test' })],
    ['a token without iss', () => bearer({ iss: undefined })],
    ['a token without aud', () => bearer({ aud: undefined })],
    ['a token without exp (access tokens must expire)', () => bearer({ exp: undefined })],
    ['a token signed by another key under the same kid', async () => {
      const { privateKey } = await jose.generateKeyPair('ES256');
      return bearer({ key: privateKey });
    }],
    ['a token whose kid is not in the JWKS', () => bearer({ kid: 'unknown-kid' })],
    ['a token whose payload was changed after signing', async () => {
      const [header, , signature] = (await issuer.token()).split('.');
      const forged = Buffer.from(JSON.stringify({ scope: 'device-reachability-status:read', client_id: 'app-acme' })).toString('base64url');
      return `Bearer ${header}.${forged}.${signature}`;
    }],
  ];
  test.each(cases)('%s', async (_, authorization) => {
    const reply = await retrieveWith(await authorization());
    expect(reply.status).toBe(401);
    expect(reply.body).toEqual({ status: 401, code: 'UNAUTHENTICATED', message: expect.any(String) });
    expect(reply.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(reply.headers.get('x-correlator')).toBe('auth-test-1');
    expect(reply.fetches).toBe(0);
  });

  test('an unsigned token (alg none) is refused', async () => {
    const unsigned = new jose.UnsecuredJWT({ scope: 'device-reachability-status:read', client_id: 'app-acme' })
      .setIssuer('https://issuer.example.test').setAudience('parlayx-gateway-test').setExpirationTime('5m').encode();
    const reply = await retrieveWith(`Bearer ${unsigned}`);
    expect(reply.status).toBe(401);
    expect(reply.body.code).toBe('UNAUTHENTICATED');
  });
});

describe('403 PERMISSION_DENIED', () => {
  test.each([
    ['a token without the read scope', () => bearer({ scope: 'device-reachability-status-subscriptions:read' })],
    ['a token with no scope at all', () => bearer({ scope: undefined })],
    ['a client no requester is configured for', () => bearer({ client_id: 'app-unknown', sub: 'app-unknown' })],
  ])('%s', async (_, authorization) => {
    const reply = await retrieveWith(await authorization());
    expect(reply.status).toBe(403);
    expect(reply.body).toEqual({ status: 403, code: 'PERMISSION_DENIED', message: expect.any(String) });
    expect(reply.headers.get('x-correlator')).toBe('auth-test-1');
    expect(reply.fetches).toBe(0);
  });

  test('refusals are counted like refused Parlay X logins', () => {
    const counted = fixture.gateway.policyCounters({ requester: '' })
      .filter((row) => row.operation === 'getReachabilityStatus' && row.outcome === 'UNAUTHENTICATED');
    expect(counted.reduce((sum, row) => sum + row.count, 0)).toBeGreaterThanOrEqual(10);
  });
});

describe('a JWKS URL served by a real HTTP server', () => {
  let viaUrl;
  beforeAll(async () => {
    jwksServer = http.createServer((request, response) => {
      jwksRequests += 1;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(issuer.jwks));
    });
    await new Promise((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    viaUrl = await startGateway({
      presencePort,
      extraYaml: `${REQUESTERS_YAML}${camaraYaml({
        jwksUrl: `http://127.0.0.1:${jwksServer.address().port}/.well-known/jwks.json`, clients: { 'app-acme': 'acme' },
      })}`,
    });
  });
  afterAll(async () => { if (viaUrl) await viaUrl.gateway.close(); });

  test('tokens are verified with the keys fetched from it (once, then cached)', async () => {
    const target = `${originOf(viaUrl.url)}${RETRIEVE_PATH}`;
    const first = await postJson(target, BODY, { authorization: await bearer() });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ reachable: true });
    const second = await postJson(target, BODY, { authorization: await bearer() });
    expect(second.status).toBe(200);
    expect(jwksRequests).toBe(1);
    const { privateKey } = await jose.generateKeyPair('ES256');
    const forged = await postJson(target, BODY, { authorization: await bearer({ key: privateKey }) });
    expect(forged.status).toBe(401);
    expect(forged.body.code).toBe('UNAUTHENTICATED');
  });
});

describe('verified tokens are kept, within their lifetime', () => {
  const { createTokenVerifier } = require('../../js/camara/tokenVerifier');
  const { ISSUER, AUDIENCE, READ_SCOPE } = require('../support/camara');

  function verifier() {
    return createTokenVerifier({
      issuer: ISSUER, audience: AUDIENCE, jwksFile: issuer.jwksFile, clockToleranceSec: 0, clients: { 'app-acme': 'acme' },
    });
  }

  test('a reused token is verified once; its scopes and client are still checked on every use', async () => {
    const v = verifier();
    const token = await issuer.token();
    await expect(v.verify(`Bearer ${token}`, [READ_SCOPE])).resolves.toMatchObject({ requester: 'acme' });
    await expect(v.verify(`Bearer ${token}`, [READ_SCOPE])).resolves.toMatchObject({ requester: 'acme' });
    expect(v.stats()).toEqual({ cachedTokens: 1, hits: 1, misses: 1 });
    // A kept token lacking a scope of this operation is refused all the same.
    await expect(v.verify(`Bearer ${token}`, ['device-reachability-status:other'])).rejects.toMatchObject({ status: 403 });
    // A token differing in one signature character is another key of the cache, and not valid.
    const tampered = `${token.slice(0, -2)}${token.at(-2) === 'A' ? 'B' : 'A'}${token.at(-1)}`;
    await expect(v.verify(`Bearer ${tampered}`, [READ_SCOPE])).rejects.toMatchObject({ status: 401 });
    expect(v.stats().cachedTokens).toBe(1);
  });

  test('a kept token stops working when it expires', async () => {
    const v = verifier();
    const token = await issuer.token({ exp: Math.floor(Date.now() / 1000) + 2 });
    await expect(v.verify(`Bearer ${token}`, [READ_SCOPE])).resolves.toMatchObject({ requester: 'acme' });
    await new Promise((resolve) => setTimeout(resolve, 2100));
    await expect(v.verify(`Bearer ${token}`, [READ_SCOPE])).rejects.toMatchObject({ status: 401, reason: 'expired' });
    expect(v.stats()).toMatchObject({ hits: 0, misses: 2 });
  });
});
