'use strict';
// Requester authentication (js/auth): scrypt hashes, HTTP Basic, WS-Security UsernameToken
// (PasswordText, PasswordDigest, freshness, replay), the verified-credential cache, and the SOAP
// handler's 401 answer. Unit tests: the handler runs with a fake service.

const crypto = require('node:crypto');
const { promisify } = require('node:util');
const soap = require('soap');
const { parseEnvelope, SOAP11_NS } = require('../../js/soap/envelope');
const { escapeText } = require('../../js/soap/xml');
const {
  hashPassword, verifyPassword, parsePasswordHash, formatPasswordHash, DEFAULT_PARAMS,
} = require('../../js/auth/passwordHash');
const { VerifiedCredentialCache } = require('../../js/auth/credentialCache');
const { NonceCache } = require('../../js/auth/nonceCache');
const { parseBasicCredentials, basicAuthorization } = require('../../js/auth/basic');
const {
  WSSE_NS, WSU_NS, PASSWORD_TEXT, PASSWORD_DIGEST, BASE64_BINARY, parseDateTime,
} = require('../../js/auth/usernameToken');
const { createAuthenticator, AuthenticationError } = require('../../js/auth/authenticator');
const { FAILED_AUTHENTICATION_FAULTSTRING } = require('../../js/soap/builder');
const { TERMINAL_STATUS } = require('../../js/soap/requests');
const { createSoapHandler } = require('../../handlers/soapEndpoint');

const scrypt = promisify(crypto.scrypt);
const T0 = Date.parse('2024-05-01T12:00:00Z');
const LOCAL = 'http://www.csapi.org/schema/parlayx/terminal_status/v2_3/local';

/** xsd:dateTime of a ms timestamp, without fraction (as most clients write it). */
function isoSeconds(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function digestOf(nonce, created, secret) {
  return crypto.createHash('sha1').update(Buffer.concat([nonce, Buffer.from(created + secret, 'utf8')])).digest('base64');
}

/**
 * wsse:Security header entry with a UsernameToken.
 * digestSecret set: PasswordDigest of that secret (nonce and created default to fresh values).
 */
function securityXml({
  username, password, digestSecret, nonce, created, typeAttr = true, mustUnderstand = false, actor,
} = {}) {
  const digest = digestSecret !== undefined;
  if (digest) {
    nonce = nonce === undefined ? crypto.randomBytes(16) : nonce;
    created = created === undefined ? isoSeconds(T0) : created;
  }
  const type = digest ? PASSWORD_DIGEST : PASSWORD_TEXT;
  const value = digest ? digestOf(nonce, created, digestSecret) : password;
  let attrs = `xmlns:wsse="${WSSE_NS}" xmlns:wsu="${WSU_NS}"`;
  if (mustUnderstand) attrs += ' soap:mustUnderstand="1"';
  if (actor) attrs += ` soap:actor="${actor}"`;
  return `<wsse:Security ${attrs}><wsse:UsernameToken>` +
    `<wsse:Username>${escapeText(username)}</wsse:Username>` +
    `<wsse:Password${typeAttr ? ` Type="${type}"` : ''}>${escapeText(value)}</wsse:Password>` +
    (nonce ? `<wsse:Nonce EncodingType="${BASE64_BINARY}">${nonce.toString('base64')}</wsse:Nonce>` : '') +
    (created ? `<wsu:Created>${created}</wsu:Created>` : '') +
    '</wsse:UsernameToken></wsse:Security>';
}

function requestXml(headerContent = '') {
  const header = headerContent ? `<soap:Header>${headerContent}</soap:Header>` : '';
  return `<soap:Envelope xmlns:soap="${SOAP11_NS}">${header}<soap:Body>` +
    `<ts:getStatus xmlns:ts="${LOCAL}"><ts:address>tel:+15551234567</ts:address></ts:getStatus>` +
    '</soap:Body></soap:Envelope>';
}

/** The parsed soap:Header of a request carrying these header entries. */
function soapHeaderOf(headerContent, understood) {
  return parseEnvelope(requestXml(headerContent), undefined, understood).header;
}

/** A deriveKey that counts scrypt runs. */
function countingScrypt() {
  const deriveKey = jest.fn((...args) => scrypt(...args));
  return deriveKey;
}

async function rejection(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

async function expectRefused(promise, reason, requester) {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(AuthenticationError);
  expect(error.code).toBe('ERR_PX_AUTH');
  expect(error.reason).toBe(reason);
  if (requester !== undefined) expect(error.requester).toBe(requester);
  return error;
}

let aliceHash;
let bobHash;
beforeAll(async () => {
  aliceHash = await hashPassword('alice-pw', { ln: 4 });
  bobHash = await hashPassword('bob pässword', { ln: 4 });
});

function makeAuth({ authentication = {}, clock = { now: T0 }, deriveKey, ...options } = {}) {
  return createAuthenticator(
    {
      authentication: { realm: 'px-test', ...authentication },
      requesters: {
        alice: { passwordHash: aliceHash, digestSecret: 'alice-digest' },
        bob: { passwordHash: bobHash, digestSecret: '' },
      },
    },
    { now: () => clock.now, deriveKey, ...options },
  );
}

describe('password hashes', () => {
  test('hash and verify round trip; a wrong password does not verify', async () => {
    const phc = await hashPassword('s3cret:with colon', { ln: 4 });
    expect(phc).toMatch(/^\$scrypt\$ln=4,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    await expect(verifyPassword('s3cret:with colon', phc)).resolves.toBe(true);
    await expect(verifyPassword('s3cret:with colon ', phc)).resolves.toBe(false);
    await expect(verifyPassword('', phc)).resolves.toBe(false);
    // Same password, fresh salt: a different string that also verifies.
    const again = await hashPassword('s3cret:with colon', { ln: 4 });
    expect(again).not.toBe(phc);
    await expect(verifyPassword('s3cret:with colon', again)).resolves.toBe(true);
  });

  test('the stored hash is scrypt(password, salt) with the parameters it names', async () => {
    const phc = await hashPassword('pw', { ln: 5, r: 4, p: 2, hashBytes: 40 });
    const h = parsePasswordHash(phc);
    expect([h.ln, h.r, h.p, h.salt.length, h.hash.length]).toEqual([5, 4, 2, 16, 40]);
    const expected = await scrypt('pw', h.salt, 40, { N: 32, r: 4, p: 2 });
    expect(h.hash.equals(expected)).toBe(true);
    expect(formatPasswordHash(h)).toBe(phc);
  });

  test('default cost (ln=14, r=8, p=1, 16-byte salt, 32-byte hash)', async () => {
    const phc = await hashPassword('default cost');
    const h = parsePasswordHash(phc);
    expect([h.ln, h.r, h.p, h.salt.length, h.hash.length]).toEqual([
      DEFAULT_PARAMS.ln, DEFAULT_PARAMS.r, DEFAULT_PARAMS.p, 16, 32,
    ]);
    expect(DEFAULT_PARAMS).toMatchObject({ ln: 14, r: 8, p: 1 });
    await expect(verifyPassword('default cost', phc)).resolves.toBe(true);
    await expect(verifyPassword('default cosT', phc)).resolves.toBe(false);
  });

  test('malformed hashes are refused with what is wrong', () => {
    const salt = crypto.randomBytes(16).toString('base64').replace(/=+$/, '');
    const hash = crypto.randomBytes(32).toString('base64').replace(/=+$/, '');
    expect(() => parsePasswordHash(`$scrypt$ln=4,r=8,p=1$${salt}$${hash}`)).not.toThrow();
    expect(() => parsePasswordHash(`$argon2id$ln=4,r=8,p=1$${salt}$${hash}`)).toThrow(/must look like/);
    expect(() => parsePasswordHash(`$scrypt$ln=4,r=8,p=1$${salt}==$${hash}`)).toThrow(/must look like/);
    expect(() => parsePasswordHash(`$scrypt$ln=21,r=8,p=1$${salt}$${hash}`)).toThrow(/ln must be/);
    expect(() => parsePasswordHash(`$scrypt$ln=4,r=33,p=1$${salt}$${hash}`)).toThrow(/r must be/);
    expect(() => parsePasswordHash(`$scrypt$ln=04,r=8,p=1$${salt}$${hash}`)).toThrow(/must look like/);
    expect(() => parsePasswordHash(`$scrypt$ln=20,r=16,p=1$${salt}$${hash}`)).toThrow(/1 GiB/);
    const b64 = (n) => crypto.randomBytes(n).toString('base64').replace(/=+$/, '');
    expect(() => parsePasswordHash(`$scrypt$ln=4,r=8,p=1$${b64(15)}$${hash}`)).toThrow(/salt must be at least 16/);
    expect(() => parsePasswordHash(`$scrypt$ln=4,r=8,p=1$${salt}$${b64(31)}`)).toThrow(/hash must be at least 32/);
    // The last character carries bits beyond the 16th byte: a second spelling of the same salt.
    expect(() => parsePasswordHash(`$scrypt$ln=4,r=8,p=1$${'A'.repeat(21)}B$${hash}`)).toThrow(/not canonical/);
  });
});

describe('HTTP Basic credentials', () => {
  test('decodes name and password (UTF-8, password may contain colons)', () => {
    expect(parseBasicCredentials({ authorization: basicAuthorization('alice', 'a:b:ç') })).toEqual({ name: 'alice', password: 'a:b:ç' });
    expect(parseBasicCredentials({ authorization: `bAsIc ${Buffer.from('x:').toString('base64')}` })).toEqual({ name: 'x', password: '' });
    expect(parseBasicCredentials({})).toBeNull();
    expect(parseBasicCredentials(undefined)).toBeNull();
  });

  test.each([
    ['no colon', `Basic ${Buffer.from('alice').toString('base64')}`, 'malformed'],
    ['empty name', `Basic ${Buffer.from(':pw').toString('base64')}`, 'malformed'],
    ['not base64', 'Basic !!!notbase64', 'malformed'],
    ['no credentials', 'Basic', 'malformed'],
    ['not UTF-8', `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString('base64')}`, 'malformed'],
    ['control character', `Basic ${Buffer.from('al\u0001ice:pw').toString('base64')}`, 'malformed'],
    ['other scheme', 'Bearer abc.def', 'unsupportedScheme'],
  ])('%s is refused', async (_label, authorization, reason) => {
    await expectRefused(makeAuth().authenticate({ headers: { authorization } }, null), reason);
  });

  test('right password: the requester, method basic', async () => {
    const auth = makeAuth();
    await expect(auth.authenticate({ headers: { authorization: basicAuthorization('alice', 'alice-pw') } }, null))
      .resolves.toEqual({ requester: 'alice', method: 'basic' });
    await expect(auth.authenticate({ headers: { authorization: basicAuthorization('bob', 'bob pässword') } }, null))
      .resolves.toEqual({ requester: 'bob', method: 'basic' });
  });

  test('wrong password and unknown requester are refused, both after one scrypt of the same cost', async () => {
    const deriveKey = countingScrypt();
    const auth = makeAuth({ deriveKey });
    await expectRefused(auth.authenticate({ headers: { authorization: basicAuthorization('alice', 'wrong') } }, null), 'badPassword', 'alice');
    await expectRefused(auth.authenticate({ headers: { authorization: basicAuthorization('mallory', 'x') } }, null), 'unknownRequester', 'mallory');
    expect(deriveKey).toHaveBeenCalledTimes(2);
    const [[, , keylenWrong, paramsWrong], [, , keylenUnknown, paramsUnknown]] = deriveKey.mock.calls;
    expect(paramsUnknown).toEqual(paramsWrong);
    expect(keylenUnknown).toBe(keylenWrong);
    expect(paramsWrong.N).toBe(16);
  });

  test('a requester named like an Object.prototype property is just an unknown name', async () => {
    await expectRefused(makeAuth().authenticate({ headers: { authorization: basicAuthorization('__proto__', 'x') } }, null), 'unknownRequester');
    await expectRefused(makeAuth().authenticate({ headers: { authorization: basicAuthorization('constructor', 'x') } }, null), 'unknownRequester');
  });
});

describe('WS-Security UsernameToken', () => {
  const understood = makeAuthUnderstood();
  function makeAuthUnderstood() {
    return new Set([`{${WSSE_NS}}Security`]);
  }
  const header = (options) => soapHeaderOf(securityXml(options), understood);

  test('PasswordText, with the Type attribute or without it', async () => {
    const auth = makeAuth();
    await expect(auth.authenticate({ headers: {} }, header({ username: 'alice', password: 'alice-pw' })))
      .resolves.toEqual({ requester: 'alice', method: 'passwordText' });
    await expect(auth.authenticate({}, header({ username: 'bob', password: 'bob pässword', typeAttr: false })))
      .resolves.toEqual({ requester: 'bob', method: 'passwordText' });
    await expectRefused(auth.authenticate({}, header({ username: 'alice', password: 'nope' })), 'badPassword', 'alice');
  });

  test('PasswordText with a fresh Created and a nonce', async () => {
    const auth = makeAuth();
    const token = { username: 'alice', password: 'alice-pw', nonce: crypto.randomBytes(16), created: isoSeconds(T0 - 60000) };
    await expect(auth.authenticate({}, header(token))).resolves.toEqual({ requester: 'alice', method: 'passwordText' });
    // The nonce is replay-checked for PasswordText too.
    await expectRefused(auth.authenticate({}, header(token)), 'replayedNonce', 'alice');
  });

  test('PasswordDigest with the requester digestSecret', async () => {
    const auth = makeAuth();
    await expect(auth.authenticate({}, header({ username: 'alice', digestSecret: 'alice-digest' })))
      .resolves.toEqual({ requester: 'alice', method: 'passwordDigest' });
  });

  test('PasswordDigest as written by the soap npm client (WSSecurity), with mustUnderstand', async () => {
    const auth = makeAuth({ clock: { get now() { return Date.now(); } } });
    const security = new soap.WSSecurity('alice', 'alice-digest', { passwordType: 'PasswordDigest', mustUnderstand: true });
    const xml = security.toXML();
    expect(xml).toContain('mustUnderstand="1"');
    const soapHeader = soapHeaderOf(xml, auth.understoodHeaders);
    await expect(auth.authenticate({}, soapHeader)).resolves.toEqual({ requester: 'alice', method: 'passwordDigest' });
    await expectRefused(auth.authenticate({}, soapHeader), 'replayedNonce', 'alice');
    const wrong = new soap.WSSecurity('alice', 'not-the-secret', { passwordType: 'PasswordDigest' });
    await expectRefused(auth.authenticate({}, soapHeaderOf(wrong.toXML())), 'badPassword', 'alice');
    const text = new soap.WSSecurity('bob', 'bob pässword', { hasNonce: true });
    await expect(auth.authenticate({}, soapHeaderOf(text.toXML()))).resolves.toEqual({ requester: 'bob', method: 'passwordText' });
  });

  test('wrong digest, unknown requester and a requester without digestSecret are refused', async () => {
    const auth = makeAuth();
    await expectRefused(auth.authenticate({}, header({ username: 'alice', digestSecret: 'alice-pw' })), 'badPassword', 'alice');
    await expectRefused(auth.authenticate({}, header({ username: 'mallory', digestSecret: '' })), 'unknownRequester', 'mallory');
    await expectRefused(auth.authenticate({}, header({ username: 'bob', digestSecret: '' })), 'digestNotAllowed', 'bob');
    await expectRefused(auth.authenticate({}, header({ username: 'bob', digestSecret: 'bob pässword' })), 'digestNotAllowed', 'bob');
  });

  test('PasswordDigest requires Nonce and Created', async () => {
    const auth = makeAuth();
    const created = isoSeconds(T0);
    const nonce = crypto.randomBytes(16);
    const noNonce = securityXml({ username: 'alice', digestSecret: 'alice-digest', nonce, created })
      .replace(/<wsse:Nonce[^]*?<\/wsse:Nonce>/, '');
    expect(noNonce).not.toContain('Nonce');
    await expectRefused(auth.authenticate({}, soapHeaderOf(noNonce)), 'malformed', 'alice');
    const noCreated = securityXml({ username: 'alice', digestSecret: 'alice-digest', nonce, created })
      .replace(/<wsu:Created>[^<]*<\/wsu:Created>/, '');
    expect(noCreated).not.toContain('Created');
    await expectRefused(auth.authenticate({}, soapHeaderOf(noCreated)), 'malformed', 'alice');
  });

  test.each([
    ['unknown password type', (x) => x.replace(PASSWORD_TEXT, `${PASSWORD_TEXT}x`)],
    ['two passwords', (x) => x.replace('</wsse:UsernameToken>', '<wsse:Password>x</wsse:Password></wsse:UsernameToken>')],
    ['no username', (x) => x.replace(/<wsse:Username>[^<]*<\/wsse:Username>/, '')],
    ['nonce not base64', (x) => x.replace('</wsse:UsernameToken>', '<wsse:Nonce>@@@@</wsse:Nonce></wsse:UsernameToken>')],
    ['hex nonce encoding', (x) => x.replace('</wsse:UsernameToken>', '<wsse:Nonce EncodingType="urn:hex">AAAA</wsse:Nonce></wsse:UsernameToken>')],
    ['Created without time zone', (x) => x.replace('</wsse:UsernameToken>', '<wsu:Created>2024-05-01T12:00:00</wsu:Created></wsse:UsernameToken>')],
    ['Created 30 February', (x) => x.replace('</wsse:UsernameToken>', '<wsu:Created>2024-02-30T12:00:00Z</wsu:Created></wsse:UsernameToken>')],
    ['two Security headers', (x) => x + x],
  ])('malformed token: %s', async (_label, edit) => {
    const xml = edit(securityXml({ username: 'alice', password: 'alice-pw' }));
    await expectRefused(makeAuth().authenticate({}, soapHeaderOf(xml)), 'malformed');
  });

  test('a Security header for another actor is not ours', async () => {
    const xml = securityXml({ username: 'alice', password: 'alice-pw', actor: 'http://example.test/other' });
    await expectRefused(makeAuth().authenticate({}, soapHeaderOf(xml)), 'missing', '');
    const next = securityXml({ username: 'alice', password: 'alice-pw', actor: 'http://schemas.xmlsoap.org/soap/actor/next' });
    await expect(makeAuth().authenticate({}, soapHeaderOf(next))).resolves.toEqual({ requester: 'alice', method: 'passwordText' });
  });

  test('Created must be within ±tokenMaxAgeSec of now', async () => {
    const clock = { now: T0 };
    const auth = makeAuth({ clock, authentication: { tokenMaxAgeSec: 300 } });
    const at = (ms) => header({ username: 'alice', digestSecret: 'alice-digest', created: isoSeconds(ms) });
    await expect(auth.authenticate({}, at(T0 - 300000))).resolves.toMatchObject({ requester: 'alice' });
    await expect(auth.authenticate({}, at(T0 + 300000))).resolves.toMatchObject({ requester: 'alice' });
    await expectRefused(auth.authenticate({}, at(T0 - 301000)), 'expiredToken', 'alice');
    await expectRefused(auth.authenticate({}, at(T0 + 301000)), 'createdInFuture', 'alice');
    // Same rule for PasswordText when it carries Created.
    const text = header({ username: 'alice', password: 'alice-pw', created: isoSeconds(T0 - 600000) });
    await expectRefused(auth.authenticate({}, text), 'expiredToken', 'alice');
    // An offset is converted to UTC.
    expect(parseDateTime('2024-05-01T14:00:00.250+02:00')).toBe(T0 + 250);
  });

  test('a replayed nonce is refused within the window, and by the freshness check after it', async () => {
    const clock = { now: T0 };
    const auth = makeAuth({ clock, authentication: { tokenMaxAgeSec: 300 } });
    const soapHeader = header({ username: 'alice', digestSecret: 'alice-digest', created: isoSeconds(T0) });
    await expect(auth.authenticate({}, soapHeader)).resolves.toEqual({ requester: 'alice', method: 'passwordDigest' });
    await expectRefused(auth.authenticate({}, soapHeader), 'replayedNonce', 'alice');
    clock.now = T0 + 299000;
    await expectRefused(auth.authenticate({}, soapHeader), 'replayedNonce', 'alice');
    clock.now = T0 + 301000;
    await expectRefused(auth.authenticate({}, soapHeader), 'expiredToken', 'alice');
  });

  test('the same nonce from another requester is a different token', async () => {
    const auth = makeAuth();
    const nonce = crypto.randomBytes(16);
    await expect(auth.authenticate({}, header({ username: 'alice', digestSecret: 'alice-digest', nonce }))).resolves.toMatchObject({ requester: 'alice' });
    await expect(auth.authenticate({}, header({ username: 'bob', password: 'bob pässword', nonce }))).resolves.toMatchObject({ requester: 'bob' });
  });

  test('the nonce of a failed attempt is not burned', async () => {
    const auth = makeAuth();
    const nonce = crypto.randomBytes(16);
    const created = isoSeconds(T0);
    await expectRefused(auth.authenticate({}, header({ username: 'alice', digestSecret: 'guess', nonce, created })), 'badPassword');
    await expectRefused(auth.authenticate({}, header({ username: 'alice', password: 'guess', nonce, created })), 'badPassword');
    await expect(auth.authenticate({}, header({ username: 'alice', digestSecret: 'alice-digest', nonce, created })))
      .resolves.toEqual({ requester: 'alice', method: 'passwordDigest' });
  });

  test('two concurrent copies of a PasswordText token: one passes, the other is a replay', async () => {
    const auth = makeAuth({ authentication: { verifiedCacheSec: 0 } });
    const soapHeader = header({ username: 'alice', password: 'alice-pw', nonce: crypto.randomBytes(16), created: isoSeconds(T0) });
    const results = await Promise.allSettled([auth.authenticate({}, soapHeader), auth.authenticate({}, soapHeader)]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(results.find((r) => r.status === 'rejected').reason.reason).toBe('replayedNonce');
  });
});

describe('Basic and UsernameToken together; no credentials', () => {
  const understood = new Set([`{${WSSE_NS}}Security`]);
  const header = (options) => soapHeaderOf(securityXml(options), understood);

  test('both naming the same requester and both right: accepted as the token method', async () => {
    const auth = makeAuth();
    const event = { headers: { authorization: basicAuthorization('alice', 'alice-pw') } };
    await expect(auth.authenticate(event, header({ username: 'alice', digestSecret: 'alice-digest' })))
      .resolves.toEqual({ requester: 'alice', method: 'passwordDigest' });
  });

  test('disagreeing requesters are refused', async () => {
    const auth = makeAuth();
    const event = { headers: { authorization: basicAuthorization('bob', 'bob pässword') } };
    await expectRefused(auth.authenticate(event, header({ username: 'alice', digestSecret: 'alice-digest' })), 'requesterMismatch', 'bob');
  });

  test('one wrong credential refuses the request and leaves the nonce unused', async () => {
    const auth = makeAuth();
    const nonce = crypto.randomBytes(16);
    const token = header({ username: 'alice', digestSecret: 'alice-digest', nonce });
    await expectRefused(auth.authenticate({ headers: { authorization: basicAuthorization('alice', 'wrong') } }, token), 'badPassword', 'alice');
    await expectRefused(
      auth.authenticate({ headers: { authorization: basicAuthorization('alice', 'alice-pw') } }, header({ username: 'alice', digestSecret: 'x' })),
      'badPassword', 'alice',
    );
    await expect(auth.authenticate({ headers: { authorization: basicAuthorization('alice', 'alice-pw') } }, token))
      .resolves.toEqual({ requester: 'alice', method: 'passwordDigest' });
  });

  test('no credentials: refused when required (the default), anonymous otherwise', async () => {
    await expectRefused(makeAuth().authenticate({ headers: {} }, null), 'missing', '');
    await expectRefused(makeAuth().authenticate({ headers: {} }, soapHeaderOf('<x:Other xmlns:x="urn:x"/>')), 'missing', '');
    const open = makeAuth({ authentication: { required: false } });
    await expect(open.authenticate({ headers: {} }, null)).resolves.toEqual({ requester: '', method: 'anonymous' });
    // Credentials that are sent are still checked.
    await expectRefused(open.authenticate({ headers: { authorization: basicAuthorization('alice', 'no') } }, null), 'badPassword');
  });
});

describe('verified-credential cache', () => {
  const basic = (name, password) => ({ headers: { authorization: basicAuthorization(name, password) } });

  test('a verified password is not run through scrypt again until verifiedCacheSec has passed', async () => {
    const clock = { now: T0 };
    const deriveKey = countingScrypt();
    const auth = makeAuth({ clock, deriveKey, authentication: { verifiedCacheSec: 60 } });
    await auth.authenticate(basic('alice', 'alice-pw'), null);
    expect(deriveKey).toHaveBeenCalledTimes(1);
    await auth.authenticate(basic('alice', 'alice-pw'), null);
    clock.now = T0 + 59000;
    await auth.authenticate(basic('alice', 'alice-pw'), null);
    expect(deriveKey).toHaveBeenCalledTimes(1);
    // Another password for the same name is not a cache hit.
    await expectRefused(auth.authenticate(basic('alice', 'alice-pw2'), null), 'badPassword');
    expect(deriveKey).toHaveBeenCalledTimes(2);
    clock.now = T0 + 61000;
    await auth.authenticate(basic('alice', 'alice-pw'), null);
    expect(deriveKey).toHaveBeenCalledTimes(3);
  });

  test('failures are not cached; verifiedCacheSec 0 disables the cache', async () => {
    const deriveKey = countingScrypt();
    const auth = makeAuth({ deriveKey, authentication: { verifiedCacheSec: 0 } });
    await auth.authenticate(basic('alice', 'alice-pw'), null);
    await auth.authenticate(basic('alice', 'alice-pw'), null);
    await expectRefused(auth.authenticate(basic('alice', 'x'), null), 'badPassword');
    await expectRefused(auth.authenticate(basic('alice', 'x'), null), 'badPassword');
    expect(deriveKey).toHaveBeenCalledTimes(4);
  });

  test('concurrent requests with the same credentials share one scrypt', async () => {
    const deriveKey = countingScrypt();
    const auth = makeAuth({ deriveKey });
    const results = await Promise.all([1, 2, 3].map(() => auth.authenticate(basic('alice', 'alice-pw'), null)));
    expect(results.every((r) => r.requester === 'alice')).toBe(true);
    expect(deriveKey).toHaveBeenCalledTimes(1);
  });

  test('PasswordText shares the cache with Basic', async () => {
    const deriveKey = countingScrypt();
    const auth = makeAuth({ deriveKey });
    await auth.authenticate(basic('alice', 'alice-pw'), null);
    const soapHeader = soapHeaderOf(securityXml({ username: 'alice', password: 'alice-pw' }));
    await expect(auth.authenticate({}, soapHeader)).resolves.toEqual({ requester: 'alice', method: 'passwordText' });
    expect(deriveKey).toHaveBeenCalledTimes(1);
  });

  test('bounded: the oldest entry goes first', () => {
    const clock = { now: T0 };
    const cache = new VerifiedCredentialCache({ ttlMs: 1000, maxEntries: 2, now: () => clock.now });
    const [a, b, c] = ['a', 'b', 'c'].map((name) => cache.key(name, 'pw'));
    expect(new Set([a, b, c]).size).toBe(3);
    expect(cache.key('a', 'pw')).toBe(a);
    // name/password boundaries cannot be shifted to forge a key
    expect(cache.key('a\0b', 'c')).not.toBe(cache.key('a', 'b\0c'));
    cache.add(a);
    cache.add(b);
    cache.add(c);
    expect(cache.size).toBe(2);
    expect([cache.has(a), cache.has(b), cache.has(c)]).toEqual([false, true, true]);
    clock.now = T0 + 1000;
    expect(cache.has(b)).toBe(false);
  });
});

describe('nonce cache', () => {
  test('expired entries are swept; when full of live entries it refuses instead of forgetting', () => {
    const clock = { now: T0 };
    const cache = new NonceCache({ maxEntries: 2, now: () => clock.now, sweepIntervalMs: 1000 });
    expect(cache.add('u', 'n1', T0 + 5000)).toBe('added');
    expect(cache.add('u', 'n1', T0 + 5000)).toBe('replayed');
    expect(cache.add('v', 'n1', T0 + 5000)).toBe('added');
    expect(cache.add('u', 'n2', T0 + 5000)).toBe('full');
    expect(cache.has('u', 'n1')).toBe(true);
    clock.now = T0 + 5000;
    expect(cache.has('u', 'n1')).toBe(false);
    expect(cache.add('u', 'n2', T0 + 9000)).toBe('added');
    expect(cache.size).toBe(1);
  });

  test('a full cache refuses new tokens (replayCacheFull) without losing remembered ones', async () => {
    const understood = new Set([`{${WSSE_NS}}Security`]);
    const auth = makeAuth({ nonceCacheMaxEntries: 1 });
    const first = soapHeaderOf(securityXml({ username: 'alice', digestSecret: 'alice-digest' }), understood);
    await auth.authenticate({}, first);
    await expectRefused(auth.authenticate({}, soapHeaderOf(securityXml({ username: 'alice', digestSecret: 'alice-digest' }))), 'replayCacheFull');
    await expectRefused(auth.authenticate({}, first), 'replayedNonce');
  });
});

describe('configuration', () => {
  test('invalid hashes and settings are refused at creation', () => {
    const bad = (config) => {
      try {
        createAuthenticator(config);
      } catch (error) {
        return error;
      }
      throw new Error('expected a config error');
    };
    const error = bad({ requesters: { carol: { passwordHash: 'plaintext!', digestSecret: '' } } });
    expect(error.code).toBe('ERR_PX_CONFIG');
    expect(error.message).toContain('"carol"');
    expect(error.message).not.toContain('plaintext!');
    expect(bad({ authentication: { tokenMaxAgeSec: 0 } }).message).toContain('tokenMaxAgeSec');
    expect(bad({ authentication: { realm: 'a\nb' } }).message).toContain('realm');
    expect(bad({ authentication: { verifiedCacheSec: -1 } }).message).toContain('verifiedCacheSec');
  });

  test('defaults: required, realm parlayx-gateway, Security understood', () => {
    const auth = createAuthenticator({});
    expect(auth.required).toBe(true);
    expect(auth.realm).toBe('parlayx-gateway');
    expect([...auth.understoodHeaders]).toEqual([`{${WSSE_NS}}Security`]);
  });
});

describe('SOAP handler with an authenticator', () => {
  function makeHandler(options = {}) {
    const service = { getStatus: jest.fn(async () => 'Reachable') };
    const operations = {
      getStatus: (svc, request, context) => svc.getStatus(request.address, context),
    };
    const log = jest.fn();
    const onAuthFailure = jest.fn();
    const handler = createSoapHandler({
      soapInterface: TERMINAL_STATUS, operations, service, maxBodyBytes: 65536, log, onAuthFailure, ...options,
    });
    return { handler, service, log, onAuthFailure };
  }
  const post = (body, headers = {}) => ({ method: 'POST', path: '/ts', headers, body: Buffer.from(body) });

  /** The faultcode and faultstring of a fault answer, with the faultcode's prefix resolved. */
  function faultOf(response) {
    const fault = parseEnvelope(response.body).body;
    expect(fault).toMatchObject({ ns: SOAP11_NS, name: 'Fault' });
    const code = fault.children.find((c) => c.name === 'faultcode').text;
    const prefix = code.split(':')[0];
    const declared = new RegExp(`<[^>]*\\bxmlns:${prefix}="([^"]*)"[^>]*>[^]*<faultcode>`).exec(response.body);
    return {
      faultcode: code,
      faultcodeNs: declared && declared[1],
      faultstring: fault.children.find((c) => c.name === 'faultstring').text,
    };
  }

  test('no credentials: 401, Basic challenge, wsse:FailedAuthentication, the operation is not called', async () => {
    const { handler, service, onAuthFailure, log } = makeHandler({ authenticator: makeAuth() });
    const response = await handler(post(requestXml()));
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Basic realm="px-test", charset="UTF-8"');
    expect(response.headers['content-type']).toMatch(/^text\/xml/);
    expect(faultOf(response)).toEqual({
      faultcode: 'wsse:FailedAuthentication', faultcodeNs: WSSE_NS, faultstring: FAILED_AUTHENTICATION_FAULTSTRING,
    });
    expect(service.getStatus).not.toHaveBeenCalled();
    expect(onAuthFailure).toHaveBeenCalledWith({ requester: '', reason: 'missing', operation: 'getStatus' });
    expect(log).toHaveBeenCalledWith('warn', expect.any(String), { requester: '', reason: 'missing', operation: 'getStatus' });
  });

  test('unknown requester and wrong password get the same answer; the password never reaches the log', async () => {
    const { handler, service, onAuthFailure, log } = makeHandler({ authenticator: makeAuth() });
    const unknown = await handler(post(requestXml(), { authorization: basicAuthorization('mallory', 'Secret-One') }));
    const wrong = await handler(post(requestXml(), { authorization: basicAuthorization('alice', 'Secret-Two') }));
    expect(unknown.statusCode).toBe(401);
    expect(wrong.statusCode).toBe(401);
    expect(unknown.body).toBe(wrong.body);
    expect(unknown.headers).toEqual(wrong.headers);
    expect(service.getStatus).not.toHaveBeenCalled();
    expect(onAuthFailure.mock.calls.map(([info]) => info)).toEqual([
      { requester: 'mallory', reason: 'unknownRequester', operation: 'getStatus' },
      { requester: 'alice', reason: 'badPassword', operation: 'getStatus' },
    ]);
    const logged = JSON.stringify(log.mock.calls);
    expect(logged).not.toContain('Secret-One');
    expect(logged).not.toContain('Secret-Two');
  });

  test('a replayed UsernameToken is refused with 401 and does not reach the operation', async () => {
    const { handler, service, onAuthFailure } = makeHandler({ authenticator: makeAuth() });
    const body = requestXml(securityXml({ username: 'alice', digestSecret: 'alice-digest', mustUnderstand: true }));
    expect((await handler(post(body))).statusCode).toBe(200);
    const replay = await handler(post(body));
    expect(replay.statusCode).toBe(401);
    expect(faultOf(replay).faultcode).toBe('wsse:FailedAuthentication');
    expect(service.getStatus).toHaveBeenCalledTimes(1);
    expect(onAuthFailure).toHaveBeenCalledWith({ requester: 'alice', reason: 'replayedNonce', operation: 'getStatus' });
  });

  test('mustUnderstand="1" on wsse:Security is accepted; the requester reaches the operation', async () => {
    const { handler, service, onAuthFailure } = makeHandler({ authenticator: makeAuth() });
    const response = await handler(post(requestXml(securityXml({ username: 'alice', digestSecret: 'alice-digest', mustUnderstand: true }))));
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('<ns:result>Reachable</ns:result>');
    expect(service.getStatus).toHaveBeenCalledTimes(1);
    expect(service.getStatus.mock.calls[0][1]).toEqual({
      globalId: response.headers['x-parlayx-global-id'], requester: 'alice', authMethod: 'passwordDigest',
    });
    expect(onAuthFailure).not.toHaveBeenCalled();
  });

  test('Basic credentials: the requester reaches the operation', async () => {
    const { handler, service } = makeHandler({ authenticator: makeAuth() });
    const response = await handler(post(requestXml(), { authorization: basicAuthorization('bob', 'bob pässword') }));
    expect(response.statusCode).toBe(200);
    expect(service.getStatus.mock.calls[0][1]).toMatchObject({ requester: 'bob', authMethod: 'basic' });
  });

  test('anonymous when not required', async () => {
    const { handler, service } = makeHandler({ authenticator: makeAuth({ authentication: { required: false } }) });
    expect((await handler(post(requestXml()))).statusCode).toBe(200);
    expect(service.getStatus.mock.calls[0][1]).toMatchObject({ requester: '', authMethod: 'anonymous' });
  });

  test('an unparseable request keeps its Client fault (authentication needs the envelope)', async () => {
    const { handler, service, onAuthFailure } = makeHandler({ authenticator: makeAuth() });
    const response = await handler(post('<soap:Envelope', { authorization: basicAuthorization('alice', 'wrong') }));
    expect(response.statusCode).toBe(500);
    expect(faultOf(response).faultcode).toBe('soapenv:Client');
    expect(onAuthFailure).not.toHaveBeenCalled();
    expect(service.getStatus).not.toHaveBeenCalled();
  });

  test('without an authenticator: requester "" and a mandatory Security header is not understood', async () => {
    const { handler, service } = makeHandler();
    expect((await handler(post(requestXml()))).statusCode).toBe(200);
    expect(service.getStatus.mock.calls[0][1]).toMatchObject({ requester: '', authMethod: 'anonymous' });
    const response = await handler(post(requestXml(securityXml({ username: 'alice', password: 'alice-pw', mustUnderstand: true }))));
    expect(response.statusCode).toBe(500);
    expect(faultOf(response).faultcode).toBe('soapenv:MustUnderstand');
  });

  test('a throwing onAuthFailure does not change the answer', async () => {
    const { handler, log } = makeHandler({
      authenticator: makeAuth(), onAuthFailure: () => { throw new Error('counter broke'); },
    });
    expect((await handler(post(requestXml()))).statusCode).toBe(401);
    expect(log).toHaveBeenCalledWith('error', 'onAuthFailure failed', expect.anything());
  });
});
