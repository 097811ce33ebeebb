'use strict';
// Requester authentication: who is calling, before anything else happens.
//
// Credentials: HTTP Basic (Authorization header) and/or a WS-Security UsernameToken in the
// SOAP header (PasswordText or PasswordDigest). Decisions, and why:
// - Both present: they must name the same requester and both must verify; the method
//   reported is the token's (it is the one bound to the message).
// - Neither present: 'missing' when authentication.required, else the anonymous requester ''.
// - Unknown requester: scrypt still runs, against a dummy hash with the parameters most
//   requesters use, so that it costs what a wrong password costs (no user enumeration by
//   timing); the client gets the same fault either way, only the log tells them apart.
// - Successful scrypt verifications are remembered for verifiedCacheSec (credentialCache.js);
//   concurrent verifications of the same pair share one scrypt. PasswordDigest is one SHA-1 and
//   is not cached.
// - Freshness: wsu:Created must lie within ±tokenMaxAgeSec of now (checked before any password
//   work). A nonce is remembered until Created + tokenMaxAgeSec, after which the freshness check
//   refuses the token anyway; a PasswordText nonce without Created is remembered for
//   tokenMaxAgeSec from its arrival.
// - Replay: a (username, nonce) already accepted is refused before the password is checked
//   (cheap, and says nothing the sender did not know). A nonce is recorded only after every
//   credential of the request verified, in the same synchronous step as the final replay check:
//   recording earlier would let anyone who sees (or guesses) a nonce in flight burn it with a
//   wrong password and lock the legitimate request out; checking and recording in one step
//   stops two concurrent copies of a token from both passing while scrypt runs.
// - Throttling (throttle.js), before any password work: failures (wrong password, unknown
//   requester) are counted per client address and per claimed requester name. A locked-out
//   client address is refused everything, verified-cache hits included (else the cache would
//   answer a locked-out guesser for free). A locked-out requester name is refused too, unless
//   the credentials are in the verified cache or the client address authenticated as that
//   requester within trustedSourceSec: guessing a name from elsewhere must not lock its owner
//   out. Verifications in progress count against both budgets, so a burst cannot overrun them.
// - scrypt runs on a bounded pool (verifyPool.js); a full queue refuses at once ('overloaded').
const crypto = require('node:crypto');
const { AuthenticationError } = require('./errors');
const { parsePasswordHash, verifyPassword } = require('./passwordHash');
const { VerifiedCredentialCache } = require('./credentialCache');
const { NonceCache } = require('./nonceCache');
const { parseBasicCredentials } = require('./basic');
const { parseUsernameToken, verifyPasswordDigest, passwordDigest, SECURITY_KEY } = require('./usernameToken');
const { FailureThrottle, TrustedSources } = require('./throttle');
const { VerifyPool } = require('./verifyPool');

const DEFAULT_THROTTLE = Object.freeze({
  windowSec: 60,
  maxFailuresPerClient: 20,
  maxFailuresPerRequester: 10,
  lockoutSec: 10,
  maxLockoutSec: 900,
  trustedSourceSec: 86400,
  verifyConcurrency: 2,
  verifyQueueLength: 32,
});
const DEFAULT_AUTHENTICATION = Object.freeze({
  required: true, realm: 'parlayx-gateway', tokenMaxAgeSec: 300, verifiedCacheSec: 300, throttle: DEFAULT_THROTTLE,
});
// Failures that are guesses (they count against the budgets); the others cost no password work.
const GUESS_FAILURES = new Set(['badPassword', 'unknownRequester']);

/**
 * @typedef {object} AuthenticationSettings
 * @property {boolean} [required]  refuse requests without credentials (default true)
 * @property {string} [realm]  realm of the Basic challenge (default 'parlayx-gateway')
 * @property {number} [tokenMaxAgeSec]  allowed |now - wsu:Created| (default 300)
 * @property {number} [verifiedCacheSec]  how long a verified password is remembered, 0 = never (default 300)
 * @property {Partial<typeof DEFAULT_THROTTLE>} [throttle]  failure budgets and the scrypt pool
 *   (config/gateway.yaml authentication.throttle; missing keys take DEFAULT_THROTTLE)
 */
/**
 * @typedef {object} AuthenticatorStats
 * @property {number} verified  requests authenticated with a password or digest
 * @property {number} failures  requests refused for a wrong password or an unknown requester
 * @property {number} throttledClient  refused because the client address was locked out
 * @property {number} throttledRequester  refused because the requester name was locked out
 * @property {number} throttled  throttledClient + throttledRequester
 * @property {number} lockoutBypassed  passed a requester lock-out (cached credentials, trusted source)
 * @property {number} cacheHits  password checks answered by the verified-credential cache
 * @property {number} scryptRuns  scrypt derivations started
 * @property {number} queueFull  refused because the verification queue was full
 * @property {number} verifyRunning  scrypt derivations running now
 * @property {number} verifyQueued  waiting now
 * @property {number} lockedClients  client addresses locked out now
 * @property {number} lockedRequesters  requester names locked out now
 * @property {number} trackedClients  client addresses with a failure budget in memory (bounded)
 * @property {number} trackedRequesters  requester names with a failure budget in memory (bounded)
 */
/**
 * @typedef {object} RequesterCredentials
 * @property {string} passwordHash  `$scrypt$...` (passwordHash.js); '' = no Basic/PasswordText
 * @property {string} [digestSecret]  shared secret for PasswordDigest; '' = PasswordDigest refused
 */
/**
 * @typedef {object} Identity
 * @property {string} requester  '' for anonymous
 * @property {'basic'|'passwordText'|'passwordDigest'|'anonymous'} method
 */
/**
 * @typedef {object} Authenticator
 * @property {Set<string>} understoodHeaders  header entries processed here, '{ns}local', for parseEnvelope()
 * @property {string} realm
 * @property {boolean} required
 * @property {(event: { headers?: Record<string, string>,
 *   requestContext?: { identity?: { sourceIp?: string } } },
 *   soapHeader: import('../soap/envelope').XmlElement|null) => Promise<Identity>} authenticate
 *   rejects with an AuthenticationError; requestContext.identity.sourceIp is the client address
 *   the per-client budget counts (absent: no per-client budget)
 * @property {() => AuthenticatorStats} stats
 */

function configError(message) {
  const error = new Error(`authentication: ${message}`);
  error.code = 'ERR_PX_CONFIG';
  return error;
}

const THROTTLE_MINIMUMS = Object.freeze({
  windowSec: 1, maxFailuresPerClient: 1, maxFailuresPerRequester: 1, lockoutSec: 1, maxLockoutSec: 1,
  trustedSourceSec: 0, verifyConcurrency: 1, verifyQueueLength: 0,
});

function normalizeThrottle(throttle = {}) {
  const t = { ...DEFAULT_THROTTLE };
  for (const [key, value] of Object.entries(throttle || {})) {
    if (value === undefined) continue;
    if (!Object.hasOwn(DEFAULT_THROTTLE, key)) throw configError(`throttle: unknown key ${JSON.stringify(key)}`);
    t[key] = value;
  }
  if (throttle && throttle.maxLockoutSec === undefined) t.maxLockoutSec = Math.max(t.maxLockoutSec, t.lockoutSec);
  for (const [key, min] of Object.entries(THROTTLE_MINIMUMS)) {
    if (!(Number.isInteger(t[key]) && t[key] >= min)) throw configError(`throttle.${key} must be an integer >= ${min}`);
  }
  if (t.maxLockoutSec < t.lockoutSec) throw configError('throttle.maxLockoutSec must be >= throttle.lockoutSec');
  return t;
}

function normalizeSettings(authentication = {}) {
  const s = { ...DEFAULT_AUTHENTICATION };
  for (const [key, value] of Object.entries(authentication || {})) if (value !== undefined) s[key] = value;
  s.throttle = normalizeThrottle(s.throttle);
  if (typeof s.required !== 'boolean') throw configError('required must be a boolean');
  // The realm goes into a quoted-string of the WWW-Authenticate header.
  if (typeof s.realm !== 'string' || s.realm === '' || /[\u0000-\u001F\u007F]/.test(s.realm)) {
    throw configError('realm must be a non-empty string without control characters');
  }
  if (!(Number.isFinite(s.tokenMaxAgeSec) && s.tokenMaxAgeSec > 0)) throw configError('tokenMaxAgeSec must be a number > 0');
  if (!(Number.isFinite(s.verifiedCacheSec) && s.verifiedCacheSec >= 0)) throw configError('verifiedCacheSec must be a number >= 0');
  return s;
}

function loadRequesters(requesters = {}) {
  // A Map, so that a requester named "__proto__" or "constructor" is just a name.
  const accounts = new Map();
  for (const [name, credentials] of Object.entries(requesters || {})) {
    const { passwordHash = '', digestSecret = '' } = credentials || {};
    if (typeof passwordHash !== 'string' || typeof digestSecret !== 'string') {
      throw configError(`requester ${JSON.stringify(name)}: passwordHash and digestSecret must be strings`);
    }
    let hash = null;
    if (passwordHash !== '') {
      try {
        hash = parsePasswordHash(passwordHash);
      } catch (error) {
        throw configError(`requester ${JSON.stringify(name)}: invalid passwordHash: ${error.message}`);
      }
    }
    accounts.set(name, { hash, digestSecret });
  }
  return accounts;
}

/** A hash no password matches, with the scrypt parameters most requesters use. */
function dummyHash(accounts) {
  const counts = new Map();
  let best = { ln: 14, r: 8, p: 1, hashBytes: 32 };
  let bestCount = 0;
  for (const { hash } of accounts.values()) {
    if (hash === null) continue;
    const key = `${hash.ln},${hash.r},${hash.p},${hash.hash.length}`;
    const count = (counts.get(key) || 0) + 1;
    counts.set(key, count);
    if (count > bestCount) {
      bestCount = count;
      best = { ln: hash.ln, r: hash.r, p: hash.p, hashBytes: hash.hash.length };
    }
  }
  return { ln: best.ln, r: best.r, p: best.p, salt: crypto.randomBytes(16), hash: crypto.randomBytes(best.hashBytes) };
}

/**
 * A client-chosen string as a key of the bounded throttle maps: long ones (no configured requester
 * name is longer than 64 characters) by their SHA-256, so that 10000 keys stay small whatever
 * their size.
 */
function throttleKey(text) {
  return text.length <= 128 ? text : `#${crypto.createHash('sha256').update(text, 'utf8').digest('base64')}`;
}

/** The client address of an event (the API-gateway proxy shape), '' when unknown. */
function sourceIpOf(event) {
  const ip = event && event.requestContext && event.requestContext.identity && event.requestContext.identity.sourceIp;
  return typeof ip === 'string' ? ip : '';
}

/**
 * Creates the authenticator of a gateway (one per configuration).
 * @param {{ authentication?: AuthenticationSettings, requesters?: Record<string, RequesterCredentials> }} config
 * @param {{ now?: () => number, deriveKey?: import('./passwordHash').DeriveKey,
 *   credentialCacheMaxEntries?: number, nonceCacheMaxEntries?: number, throttleMaxEntries?: number,
 *   log?: (level: string, message: string, extra?: object) => void }} [options]
 *   now: clock in ms (tests); deriveKey: scrypt (tests count calls); log: lock-outs are logged
 * @returns {Authenticator}
 * @throws {Error} code 'ERR_PX_CONFIG' on invalid settings or password hashes
 */
function createAuthenticator({ authentication, requesters } = {}, options = {}) {
  const settings = normalizeSettings(authentication);
  const accounts = loadRequesters(requesters);
  const dummy = dummyHash(accounts);
  const now = options.now || Date.now;
  const verifyOptions = options.deriveKey ? { deriveKey: options.deriveKey } : {};
  const maxAgeMs = settings.tokenMaxAgeSec * 1000;
  const verified = new VerifiedCredentialCache({
    ttlMs: settings.verifiedCacheSec * 1000, maxEntries: options.credentialCacheMaxEntries, now,
  });
  const nonces = new NonceCache({ maxEntries: options.nonceCacheMaxEntries, now });
  // cache key -> pending scrypt verification, shared by concurrent requests with the same pair
  const inFlight = new Map();
  const log = options.log || (() => {});
  const t = settings.throttle;
  const throttleOptions = {
    windowMs: t.windowSec * 1000, lockoutMs: t.lockoutSec * 1000, maxLockoutMs: t.maxLockoutSec * 1000,
    maxEntries: options.throttleMaxEntries, now,
  };
  const clients = new FailureThrottle({ ...throttleOptions, maxFailures: t.maxFailuresPerClient });
  const names = new FailureThrottle({ ...throttleOptions, maxFailures: t.maxFailuresPerRequester });
  const trusted = new TrustedSources({ ttlMs: t.trustedSourceSec * 1000, maxEntries: options.throttleMaxEntries, now });
  const pool = new VerifyPool({ concurrency: t.verifyConcurrency, queueLength: t.verifyQueueLength });
  const counters = {
    verified: 0, failures: 0, throttledClient: 0, throttledRequester: 0, lockoutBypassed: 0, cacheHits: 0,
  };

  /** Resolves when `password` is the requester's password (scrypt), else rejects. */
  async function checkPassword(name, password) {
    const account = accounts.get(name);
    if (account === undefined || account.hash === null) {
      await pool.run(() => verifyPassword(password, dummy, verifyOptions), name);
      throw new AuthenticationError(account === undefined ? 'unknownRequester' : 'badPassword', name);
    }
    const key = verified.key(name, password);
    if (verified.has(key)) {
      counters.cacheHits += 1;
      return;
    }
    let pending = inFlight.get(key);
    if (pending === undefined) {
      pending = pool.run(() => verifyPassword(password, account.hash, verifyOptions), name).finally(() => inFlight.delete(key));
      inFlight.set(key, pending);
    }
    if (!(await pending)) throw new AuthenticationError('badPassword', name);
    verified.add(key);
  }

  /** Checks a UsernameToken, except for recording its nonce. */
  async function checkToken(token) {
    const name = token.username;
    if (token.createdMs !== null) {
      const age = now() - token.createdMs;
      if (age > maxAgeMs) throw new AuthenticationError('expiredToken', name);
      if (age < -maxAgeMs) throw new AuthenticationError('createdInFuture', name);
    }
    if (token.nonceKey !== null && nonces.has(name, token.nonceKey)) throw new AuthenticationError('replayedNonce', name);
    if (token.passwordType === 'text') return checkPassword(name, token.password);
    const account = accounts.get(name);
    if (account === undefined) {
      passwordDigest(token.nonce, token.created, ''); // the cost of a real comparison
      throw new AuthenticationError('unknownRequester', name);
    }
    if (account.digestSecret === '') throw new AuthenticationError('digestNotAllowed', name);
    if (!verifyPasswordDigest(token, account.digestSecret)) throw new AuthenticationError('badPassword', name);
  }

  /** Whether every password of the request is in the verified cache (no scrypt will run). */
  function allCached(basic, token) {
    if (token !== null && token.passwordType !== 'text') return false;
    const pairs = [];
    if (basic !== null) pairs.push([basic.name, basic.password]);
    if (token !== null) pairs.push([token.username, token.password]);
    return pairs.every(([name, password]) => accounts.has(name) && verified.has(verified.key(name, password)));
  }

  function throttled(reason, name, retryAfterMs) {
    counters[reason] += 1;
    return new AuthenticationError(reason, name, { retryAfterSec: retryAfterMs / 1000 });
  }

  /** Refuses, before any password work, what the failure budgets do not allow. */
  function checkBudgets(source, nameKey, name, cached) {
    if (source) {
      const refusal = clients.refusal(source);
      // A lock-out refuses everything; a budget taken by verifications in progress only more scrypt.
      if (refusal && (refusal.locked || !cached)) throw throttled('throttledClient', name, refusal.retryAfterMs);
    }
    const refusal = names.refusal(nameKey);
    if (refusal) {
      if (!cached && !trusted.has(nameKey, source)) throw throttled('throttledRequester', name, refusal.retryAfterMs);
      counters.lockoutBypassed += 1;
    }
  }

  function recordOutcome(source, nameKey, name, failed) {
    const clientLockMs = source ? clients.end(source, failed) : 0;
    const nameLockMs = names.end(nameKey, failed);
    if (clientLockMs > 0) log('warn', 'authentication: client locked out after failed logins', { client: source, seconds: clientLockMs / 1000 });
    if (nameLockMs > 0) {
      log('warn', 'authentication: requester locked out after failed logins', { requester: name.slice(0, 256), seconds: nameLockMs / 1000 });
    }
  }

  async function authenticate(event, soapHeader) {
    const basic = parseBasicCredentials(event && event.headers);
    const token = parseUsernameToken(soapHeader);
    if (basic === null && token === null) {
      if (settings.required) throw new AuthenticationError('missing');
      return { requester: '', method: 'anonymous' };
    }
    if (basic !== null && token !== null && basic.name !== token.username) {
      throw new AuthenticationError('requesterMismatch', basic.name);
    }
    const name = basic !== null ? basic.name : token.username;
    const key = throttleKey(name);
    const source = throttleKey(sourceIpOf(event));
    checkBudgets(source, key, name, allCached(basic, token));
    if (source) clients.begin(source);
    names.begin(key);
    let failed = false;
    try {
      // allSettled: both checks run to the end (no unhandled rejection, no early-exit timing).
      const results = await Promise.allSettled([
        basic === null ? null : checkPassword(basic.name, basic.password),
        token === null ? null : checkToken(token),
      ]);
      const rejected = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
      failed = rejected.some((error) => error instanceof AuthenticationError && GUESS_FAILURES.has(error.reason));
      if (failed) counters.failures += 1;
      if (rejected.length > 0) throw rejected[0];
    } finally {
      recordOutcome(source, key, name, failed);
    }
    if (token !== null && token.nonceKey !== null) {
      const expiresAt = (token.createdMs ?? now()) + maxAgeMs;
      const outcome = nonces.add(token.username, token.nonceKey, expiresAt);
      if (outcome === 'replayed') throw new AuthenticationError('replayedNonce', token.username);
      if (outcome === 'full') throw new AuthenticationError('replayCacheFull', token.username);
    }
    counters.verified += 1;
    trusted.add(key, source);
    if (token === null) return { requester: basic.name, method: 'basic' };
    return { requester: token.username, method: token.passwordType === 'digest' ? 'passwordDigest' : 'passwordText' };
  }

  /** @returns {AuthenticatorStats} */
  function stats() {
    const p = pool.stats();
    return {
      ...counters,
      throttled: counters.throttledClient + counters.throttledRequester,
      scryptRuns: p.started,
      queueFull: p.refused,
      verifyRunning: p.running,
      verifyQueued: p.queued,
      lockedClients: clients.lockedCount(),
      lockedRequesters: names.lockedCount(),
      trackedClients: clients.size,
      trackedRequesters: names.size,
    };
  }

  return {
    understoodHeaders: new Set([SECURITY_KEY]),
    realm: settings.realm,
    required: settings.required,
    authenticate,
    stats,
  };
}

module.exports = { createAuthenticator, AuthenticationError, DEFAULT_AUTHENTICATION, DEFAULT_THROTTLE, sourceIpOf };
