'use strict';
// Failed-login throttling and the bounded scrypt pool (issue 12): budgets per client address and
// per requester name checked before scrypt, exponential lock-outs, lock-out abuse (a requester's
// owner keeps working while someone guesses its name elsewhere), the queue bound; then a real
// flood of wrong passwords over HTTP from 127.0.0.1 while a correct client on 127.0.0.2 is timed.
const crypto = require('node:crypto');
const { promisify } = require('node:util');
const { createAuthenticator, DEFAULT_AUTHENTICATION } = require('../../js/auth/authenticator');
const { basicAuthorization } = require('../../js/auth/basic');
const { hashPassword } = require('../../js/auth/passwordHash');
const { createHttpServer } = require('../../js/server');
const { createApp } = require('../../js/app');
const native = require('../../js/native');
const { startGateway, request, getStatusEnvelope } = require('../support/hostile');

const scrypt = promisify(crypto.scrypt);
const T0 = Date.parse('2026-01-01T00:00:00Z');

/** A request event as js/server.js makes it. */
function ev(name, password, sourceIp) {
  return {
    headers: { authorization: basicAuthorization(name, password) },
    requestContext: sourceIp === undefined ? undefined : { identity: { sourceIp } },
  };
}

/** The reason of a refusal, or 'ok:<requester>'. */
async function outcome(auth, event) {
  try {
    const identity = await auth.authenticate(event, null);
    return `ok:${identity.requester}`;
  } catch (error) {
    if (error.code !== 'ERR_PX_AUTH') throw error;
    return error.reason;
  }
}

let acmeHash;
beforeAll(async () => {
  acmeHash = await hashPassword('acme password', { ln: 4 });
});

/** An authenticator on a fake clock with a counting scrypt. */
function setup(throttle, { verifiedCacheSec = 300, throttleMaxEntries } = {}) {
  const clock = { now: T0 };
  const deriveKey = jest.fn((...args) => scrypt(...args));
  const auth = createAuthenticator(
    { authentication: { verifiedCacheSec, throttle }, requesters: { acme: { passwordHash: acmeHash } } },
    { now: () => clock.now, deriveKey, throttleMaxEntries },
  );
  return { auth, clock, deriveKey };
}

test('the defaults for library callers are the configuration defaults', () => {
  const { authentication } = native.loadConfig({ text: '', name: 'empty.yaml' });
  expect({ ...DEFAULT_AUTHENTICATION, throttle: { ...DEFAULT_AUTHENTICATION.throttle } }).toEqual(authentication);
});

describe('per-client budget', () => {
  test('N failures lock the address out before scrypt, for lockoutSec doubled each time up to maxLockoutSec', async () => {
    const { auth, clock, deriveKey } = setup({
      maxFailuresPerClient: 3, maxFailuresPerRequester: 1000, lockoutSec: 10, maxLockoutSec: 40, windowSec: 60,
    });
    const expectedLocks = [10, 20, 40, 40];
    for (const seconds of expectedLocks) {
      for (let i = 0; i < 3; i++) expect(await outcome(auth, ev(`guess${i}`, 'x', '192.0.2.1'))).toBe('unknownRequester');
      const runs = deriveKey.mock.calls.length;
      const refused = await auth.authenticate(ev('guess9', 'x', '192.0.2.1'), null).catch((e) => e);
      expect(refused.reason).toBe('throttledClient');
      expect(refused.retryAfterSec).toBe(seconds);
      expect(deriveKey.mock.calls.length).toBe(runs); // refused without scrypt
      clock.now += seconds * 1000 - 1;
      expect(await outcome(auth, ev('acme', 'acme password', '192.0.2.1'))).toBe('throttledClient');
      clock.now += 1;
    }
    expect(await outcome(auth, ev('acme', 'acme password', '192.0.2.1'))).toBe('ok:acme');
    const stats = auth.stats();
    expect(stats.failures).toBe(12);
    expect(stats.throttledClient).toBe(8);
    expect(stats.scryptRuns).toBe(13);
  });

  test('a locked-out address is refused even credentials in the verified cache; other addresses are not affected', async () => {
    const { auth, deriveKey } = setup({ maxFailuresPerClient: 2, maxFailuresPerRequester: 1000 });
    expect(await outcome(auth, ev('acme', 'acme password', '192.0.2.1'))).toBe('ok:acme'); // now cached
    expect(await outcome(auth, ev('acme', 'wrong', '192.0.2.1'))).toBe('badPassword');
    expect(await outcome(auth, ev('acme', 'wrong2', '192.0.2.1'))).toBe('badPassword');
    // Else the cache would tell a locked-out guesser, for free, which guess is right.
    expect(await outcome(auth, ev('acme', 'acme password', '192.0.2.1'))).toBe('throttledClient');
    const runs = deriveKey.mock.calls.length;
    expect(await outcome(auth, ev('acme', 'acme password', '192.0.2.2'))).toBe('ok:acme');
    expect(deriveKey.mock.calls.length).toBe(runs); // a cache hit
  });

  test('failures in different windows do not add up; requests without an address have no client budget', async () => {
    const { auth, clock } = setup({ maxFailuresPerClient: 3, maxFailuresPerRequester: 1000, windowSec: 60 });
    for (let i = 0; i < 2; i++) await outcome(auth, ev('x', 'y', '192.0.2.1'));
    clock.now += 60000;
    for (let i = 0; i < 2; i++) expect(await outcome(auth, ev('x', 'y', '192.0.2.1'))).toBe('unknownRequester');
    expect(await outcome(auth, ev('acme', 'acme password', '192.0.2.1'))).toBe('ok:acme');
    for (let i = 0; i < 5; i++) expect(await outcome(auth, ev(`n${i}`, 'y'))).toBe('unknownRequester');
  });

  test('what costs no password check does not count: missing and malformed credentials', async () => {
    const { auth } = setup({ maxFailuresPerClient: 2, maxFailuresPerRequester: 1000 });
    const base = { requestContext: { identity: { sourceIp: '192.0.2.1' } } };
    for (let i = 0; i < 10; i++) {
      expect(await outcome(auth, { ...base, headers: {} })).toBe('missing');
      expect(await outcome(auth, { ...base, headers: { authorization: 'Basic !!!' } })).toBe('malformed');
    }
    expect(await outcome(auth, ev('acme', 'wrong', '192.0.2.1'))).toBe('badPassword');
  });

  test('a burst of concurrent wrong passwords runs scrypt at most maxFailuresPerClient times', async () => {
    const { auth, deriveKey } = setup({ maxFailuresPerClient: 5, maxFailuresPerRequester: 1000, verifyQueueLength: 100 });
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => outcome(auth, ev('acme', `guess ${i}`, '192.0.2.7'))));
    expect(results.filter((r) => r === 'badPassword')).toHaveLength(5);
    expect(results.filter((r) => r === 'throttledClient')).toHaveLength(35);
    expect(deriveKey).toHaveBeenCalledTimes(5);
    expect(auth.stats()).toMatchObject({ scryptRuns: 5, failures: 5, throttledClient: 35, throttled: 35, lockedClients: 1 });
  });

  test('memory is bounded: at most throttleMaxEntries addresses are tracked', async () => {
    const { auth } = setup({ maxFailuresPerClient: 2, maxFailuresPerRequester: 1000000 }, { throttleMaxEntries: 50 });
    for (let i = 0; i < 300; i++) await outcome(auth, ev('acme', 'wrong', `10.0.${i >> 8}.${i & 255}`));
    expect(auth.stats().trackedClients).toBeLessThanOrEqual(50);
  });
});

describe('per-requester budget and lock-out abuse', () => {
  const throttle = { maxFailuresPerClient: 1000, maxFailuresPerRequester: 3, lockoutSec: 60 };

  test('names of any length are budgeted (long ones by their hash) and bounded in number', async () => {
    const { auth } = setup({ ...throttle, maxFailuresPerClient: 1000000 }, { throttleMaxEntries: 50 });
    const long = 'n'.repeat(8000);
    for (let i = 0; i < 3; i++) expect(await outcome(auth, ev(long, 'x', `198.51.100.${i}`))).toBe('unknownRequester');
    expect(await outcome(auth, ev(long, 'x', '198.51.100.9'))).toBe('throttledRequester');
    expect(await outcome(auth, ev(`${long}m`, 'x', '198.51.100.9'))).toBe('unknownRequester');
    for (let i = 0; i < 200; i++) await outcome(auth, ev(`${long}${i}`, 'x', '198.51.100.9'));
    expect(auth.stats().trackedRequesters).toBeLessThanOrEqual(50);
  });

  test('guesses from many addresses lock the name; a fresh address is refused before scrypt, known or unknown name alike', async () => {
    const { auth, deriveKey } = setup(throttle);
    for (const name of ['acme', 'nobody']) {
      for (let i = 0; i < 3; i++) await outcome(auth, ev(name, 'wrong', `198.51.100.${i}`));
      const runs = deriveKey.mock.calls.length;
      const refused = await auth.authenticate(ev(name, 'wrong', '198.51.100.99'), null).catch((e) => e);
      expect(refused.reason).toBe('throttledRequester');
      expect(refused.retryAfterSec).toBe(60);
      expect(deriveKey.mock.calls.length).toBe(runs);
    }
    expect(auth.stats()).toMatchObject({ lockedRequesters: 2, throttledRequester: 2 });
  });

  test('the owner keeps working: from an address it authenticated from, and with cached credentials', async () => {
    const { auth } = setup(throttle);
    expect(await outcome(auth, ev('acme', 'acme password', '203.0.113.5'))).toBe('ok:acme');
    for (let i = 0; i < 5; i++) await outcome(auth, ev('acme', `guess ${i}`, `198.51.100.${i}`));
    expect(auth.stats().lockedRequesters).toBe(1);
    // Cached: any address.
    expect(await outcome(auth, ev('acme', 'acme password', '203.0.113.77'))).toBe('ok:acme');
    // The guesser with a new guess is still refused.
    expect(await outcome(auth, ev('acme', 'guess 9', '198.51.100.1'))).toBe('throttledRequester');
    expect(auth.stats().lockoutBypassed).toBe(1);
  });

  test('without the cache, the trusted address passes and costs one scrypt; a new address waits for the lock-out', async () => {
    const { auth, clock, deriveKey } = setup(throttle, { verifiedCacheSec: 0 });
    expect(await outcome(auth, ev('acme', 'acme password', '203.0.113.5'))).toBe('ok:acme');
    for (let i = 0; i < 3; i++) await outcome(auth, ev('acme', `guess ${i}`, `198.51.100.${i}`));
    const runs = deriveKey.mock.calls.length;
    expect(await outcome(auth, ev('acme', 'acme password', '203.0.113.5'))).toBe('ok:acme');
    expect(deriveKey.mock.calls.length).toBe(runs + 1);
    // A trusted address guessing wrong still spends the requester's budget and gets 401, not more.
    expect(await outcome(auth, ev('acme', 'wrong', '203.0.113.5'))).toBe('badPassword');
    // The documented trade-off: an address never seen must wait (Retry-After) like the guesser.
    expect(await outcome(auth, ev('acme', 'acme password', '203.0.113.6'))).toBe('throttledRequester');
    clock.now += 60000;
    expect(await outcome(auth, ev('acme', 'acme password', '203.0.113.6'))).toBe('ok:acme');
  });

  test('UsernameToken guesses (PasswordText and PasswordDigest) spend the same budgets as Basic', async () => {
    const { parseEnvelope, SOAP11_NS } = require('../../js/soap/envelope');
    const { WSSE_NS, PASSWORD_TEXT, PASSWORD_DIGEST, SECURITY_KEY } = require('../../js/auth/usernameToken');
    const token = (username, password, type) => parseEnvelope(
      `<s:Envelope xmlns:s="${SOAP11_NS}"><s:Header><w:Security xmlns:w="${WSSE_NS}"><w:UsernameToken>` +
        `<w:Username>${username}</w:Username><w:Password Type="${type}">${password}</w:Password>` +
        '</w:UsernameToken></w:Security></s:Header><s:Body><op/></s:Body></s:Envelope>',
      undefined, new Set([SECURITY_KEY]),
    ).header;
    const { auth, deriveKey } = setup(throttle);
    const at = (ip) => ({ headers: {}, requestContext: { identity: { sourceIp: ip } } });
    const refusal = (event, header) => auth.authenticate(event, header).then(() => 'ok', (e) => e.reason);
    expect(await refusal(at('198.51.100.1'), token('acme', 'wrong', PASSWORD_TEXT))).toBe('badPassword');
    // A digest without nonce and created is malformed (no budget spent); acme has no digest secret.
    expect(await refusal(at('198.51.100.2'), token('acme', 'AAAA', PASSWORD_DIGEST))).not.toBe('throttledRequester');
    expect(await refusal(at('198.51.100.3'), token('acme', 'wrong2', PASSWORD_TEXT))).toBe('badPassword');
    expect(await outcome(auth, ev('acme', 'wrong3', '198.51.100.4'))).toBe('badPassword');
    const runs = deriveKey.mock.calls.length;
    expect(await refusal(at('198.51.100.5'), token('acme', 'acme password', PASSWORD_TEXT))).toBe('throttledRequester');
    expect(deriveKey.mock.calls.length).toBe(runs);
  });

  test('trustedSourceSec 0 turns the trusted-address exception off', async () => {
    const { auth } = setup({ ...throttle, trustedSourceSec: 0 }, { verifiedCacheSec: 0 });
    expect(await outcome(auth, ev('acme', 'acme password', '203.0.113.5'))).toBe('ok:acme');
    for (let i = 0; i < 3; i++) await outcome(auth, ev('acme', `guess ${i}`, `198.51.100.${i}`));
    expect(await outcome(auth, ev('acme', 'acme password', '203.0.113.5'))).toBe('throttledRequester');
  });
});

describe('bounded scrypt pool', () => {
  test('verifyConcurrency at once, verifyQueueLength waiting, the rest refused at once (overloaded)', async () => {
    let running = 0;
    let maxRunning = 0;
    const releases = [];
    const deriveKey = jest.fn(async (...args) => {
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((resolve) => releases.push(resolve));
      running -= 1;
      return scrypt(...args);
    });
    const auth = createAuthenticator(
      { authentication: { throttle: { verifyConcurrency: 2, verifyQueueLength: 3 } }, requesters: { acme: { passwordHash: acmeHash } } },
      { deriveKey },
    );
    const pending = Array.from({ length: 8 }, (_, i) => outcome(auth, ev(`user${i}`, 'x', `192.0.2.${i}`)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(auth.stats()).toMatchObject({ verifyRunning: 2, verifyQueued: 3, queueFull: 3 });
    while (releases.length > 0 || running > 0 || deriveKey.mock.calls.length < 5) {
      releases.splice(0).forEach((release) => release());
      await new Promise((resolve) => setImmediate(resolve));
    }
    const results = await Promise.all(pending);
    expect(results.filter((r) => r === 'overloaded')).toHaveLength(3);
    expect(results.filter((r) => r === 'unknownRequester')).toHaveLength(5);
    expect(maxRunning).toBe(2);
    expect(deriveKey).toHaveBeenCalledTimes(5);
    // 'overloaded' is the gateway's problem, not a guess: it does not count against budgets.
    expect(auth.stats().failures).toBe(5);
  });
});

describe('the SOAP answer to a refusal before the password check', () => {
  const { createSoapHandler } = require('../../handlers/soapEndpoint');
  const { TERMINAL_STATUS } = require('../../js/soap/requests');

  test('queue full: 503, Retry-After, soapenv:Server fault; the operation is not called', async () => {
    const releases = [];
    const deriveKey = (...args) => new Promise((resolve) => releases.push(resolve)).then(() => scrypt(...args));
    const authenticator = createAuthenticator(
      { authentication: { throttle: { verifyConcurrency: 1, verifyQueueLength: 0 } }, requesters: { acme: { passwordHash: acmeHash } } },
      { deriveKey },
    );
    const operation = jest.fn(async () => 'Reachable');
    const handler = createSoapHandler({
      soapInterface: TERMINAL_STATUS, operations: { getStatus: operation }, service: {}, maxBodyBytes: 65536, authenticator,
    });
    const event = (name, ip) => ({ method: 'POST', ...ev(name, 'acme password', ip), body: getStatusEnvelope() });
    const first = handler(event('acme', '192.0.2.1'));
    // Other credentials (the same pair would share the first one's verification).
    const second = await handler(event('beta', '192.0.2.2'));
    expect(second.statusCode).toBe(503);
    expect(second.headers['retry-after']).toBe('1');
    expect(second.body).toContain('<faultcode>soapenv:Server</faultcode>');
    expect(second.body).toContain('Authentication is busy');
    while (releases.length === 0) await new Promise((resolve) => setImmediate(resolve));
    releases.forEach((release) => release());
    expect((await first).statusCode).toBe(200);
    expect(operation).toHaveBeenCalledTimes(1);
  });
});

describe('over HTTP: a flood of wrong passwords from 127.0.0.1', () => {
  let server;
  let auth;
  let port;
  let cost;
  beforeAll(async () => {
    // The configuration goes through the native loader, as in the gateway.
    const [acme, beta] = await Promise.all([hashPassword('acme password'), hashPassword('beta password')]);
    const config = native.loadConfig({
      name: 'throttle.yaml',
      text: `http: {host: 127.0.0.1, port: 0, maxConnectionsPerSource: 128}
authentication:
  verifiedCacheSec: 0
  throttle: {maxFailuresPerClient: 8, maxFailuresPerRequester: 1000, lockoutSec: 60, verifyConcurrency: 2, verifyQueueLength: 16}
requesters:
  acme: {passwordHash: "${acme}"}
  beta: {passwordHash: "${beta}"}
`,
    });
    expect(acme).toMatch(/^\$scrypt\$ln=14,/); // the production cost: each scrypt is real work
    const deriveKey = jest.fn((...args) => scrypt(...args));
    auth = createAuthenticator({ authentication: config.authentication, requesters: config.requesters }, { deriveKey });
    const terminalStatus = { getStatus: async () => 'Reachable' };
    const app = createApp({ config, terminalStatus, notifications: {}, authenticator: auth });
    server = createHttpServer({ app, http: config.http });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = server.address().port;
    const started = performance.now();
    await scrypt('x', crypto.randomBytes(16), 32, { N: 2 ** 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
    cost = performance.now() - started;
  });
  afterAll(async () => {
    if (server) await new Promise((resolve) => { server.close(resolve); server.closeAllConnections(); });
  });

  test('bounded scrypt runs for the flood, bounded latency for a correct client on 127.0.0.2', async () => {
    // Distinct guesses: identical ones would share one scrypt (authenticator.js inFlight).
    const attacker = (n) => ({ authorization: basicAuthorization('acme', `guess ${n}`) });
    const legit = { authorization: basicAuthorization('beta', 'beta password') };
    const flood = [];
    for (let wave = 0; wave < 4; wave++) {
      for (let i = 0; i < 50; i++) {
        flood.push(request(port, { headers: attacker(flood.length), body: getStatusEnvelope(), localAddress: '127.0.0.1' }));
      }
    }
    const latencies = [];
    for (let i = 0; i < 8; i++) {
      const answer = await request(port, { headers: legit, body: getStatusEnvelope(), localAddress: '127.0.0.2' });
      expect(answer.status).toBe(200);
      expect(answer.text).toContain('Reachable');
      latencies.push(answer.ms);
    }
    const answers = await Promise.all(flood);
    const byStatus = {};
    for (const a of answers) byStatus[a.status] = (byStatus[a.status] || 0) + 1;
    expect(byStatus[401]).toBe(8);
    expect(byStatus[429]).toBe(192);
    const throttled = answers.find((a) => a.status === 429);
    expect(Number(throttled.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(throttled.text).toContain('<faultcode>soapenv:Client</faultcode>');
    expect(throttled.text).toContain('Too many failed authentication attempts');

    const stats = auth.stats();
    expect(stats.scryptRuns).toBe(8 + 8); // the flood's budget plus the correct client's 8
    expect(stats.failures).toBe(8);
    expect(stats.verified).toBe(8);
    expect(stats.throttledClient).toBe(192);
    // Unthrottled (budgets and pool made huge) the correct client got no answer within 10 s: it
    // queued behind 200 derivations on the 4 libuv threads. Bounded, it waits for at most the
    // flood's 8 on 2 slots plus its own, and for the event loop answering the flood's 429s (the
    // flood's client runs in this same process).
    const bound = Math.max(3000, 25 * cost);
    expect(Math.max(...latencies)).toBeLessThan(bound);
  }, 60000);
});

describe('over HTTP through the gateway: lock-out abuse', () => {
  let fixture;
  beforeAll(async () => {
    const acme = await hashPassword('acme password', { ln: 10 });
    fixture = await startGateway({
      authentication: `authentication:
  verifiedCacheSec: 0
  throttle: {maxFailuresPerClient: 100, maxFailuresPerRequester: 4, lockoutSec: 30}
requesters:
  acme: {passwordHash: "${acme}"}
`,
    });
  });
  afterAll(async () => {
    if (fixture) await fixture.gateway.close();
  });

  test('guessing acme from 127.0.0.3 locks the name for new addresses, not for the address acme uses', async () => {
    const good = { authorization: basicAuthorization('acme', 'acme password') };
    const invalid = getStatusEnvelope('not-an-address'); // answered with a fault after authentication
    const first = await request(fixture.port, { headers: good, body: invalid, localAddress: '127.0.0.2' });
    expect(first.status).toBe(500);
    expect(first.text).toContain('SVC0002');

    const guesses = [];
    for (let i = 0; i < 10; i++) {
      guesses.push(await request(fixture.port, {
        headers: { authorization: basicAuthorization('acme', `guess ${i}`) }, body: invalid, localAddress: '127.0.0.3',
      }));
    }
    expect(guesses.map((g) => g.status)).toEqual([401, 401, 401, 401, 429, 429, 429, 429, 429, 429]);
    expect(guesses[4].headers['retry-after']).toMatch(/^[1-9]\d*$/);
    expect(guesses[0].headers['www-authenticate']).toMatch(/^Basic /);
    expect(guesses[4].headers['www-authenticate']).toBeUndefined();

    const owner = await request(fixture.port, { headers: good, body: invalid, localAddress: '127.0.0.2' });
    expect(owner.status).toBe(500);
    expect(owner.text).toContain('SVC0002');
    const stranger = await request(fixture.port, { headers: good, body: invalid, localAddress: '127.0.0.4' });
    expect(stranger.status).toBe(429);
    expect(stranger.text).toContain('soapenv:Client');
    // The operator is told once, with the name, never a password.
    const lockLogs = fixture.logs.filter((l) => /requester locked out/.test(l.message));
    expect(lockLogs).toHaveLength(1);
    expect(lockLogs[0]).toMatchObject({ level: 'warn', extra: { requester: 'acme', seconds: 30 } });
    expect(JSON.stringify(fixture.logs)).not.toContain('guess ');
  });
});
