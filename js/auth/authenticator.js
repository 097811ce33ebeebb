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
const crypto = require('node:crypto');
const { AuthenticationError } = require('./errors');
const { parsePasswordHash, verifyPassword } = require('./passwordHash');
const { VerifiedCredentialCache } = require('./credentialCache');
const { NonceCache } = require('./nonceCache');
const { parseBasicCredentials } = require('./basic');
const { parseUsernameToken, verifyPasswordDigest, passwordDigest, SECURITY_KEY } = require('./usernameToken');

const DEFAULT_AUTHENTICATION = Object.freeze({ required: true, realm: 'parlayx-gateway', tokenMaxAgeSec: 300, verifiedCacheSec: 300 });

/**
 * @typedef {object} AuthenticationSettings
 * @property {boolean} [required]  refuse requests without credentials (default true)
 * @property {string} [realm]  realm of the Basic challenge (default 'parlayx-gateway')
 * @property {number} [tokenMaxAgeSec]  allowed |now - wsu:Created| (default 300)
 * @property {number} [verifiedCacheSec]  how long a verified password is remembered, 0 = never (default 300)
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
 * @property {(event: { headers?: Record<string, string> },
 *   soapHeader: import('../soap/envelope').XmlElement|null) => Promise<Identity>} authenticate
 *   rejects with an AuthenticationError
 */

function configError(message) {
  const error = new Error(`authentication: ${message}`);
  error.code = 'ERR_PX_CONFIG';
  return error;
}

function normalizeSettings(authentication = {}) {
  const s = { ...DEFAULT_AUTHENTICATION };
  for (const [key, value] of Object.entries(authentication || {})) if (value !== undefined) s[key] = value;
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
 * Creates the authenticator of a gateway (one per configuration).
 * @param {{ authentication?: AuthenticationSettings, requesters?: Record<string, RequesterCredentials> }} config
 * @param {{ now?: () => number, deriveKey?: import('./passwordHash').DeriveKey,
 *   credentialCacheMaxEntries?: number, nonceCacheMaxEntries?: number }} [options]
 *   now: clock in ms (tests); deriveKey: scrypt (tests count calls)
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

  /** Resolves when `password` is the requester's password (scrypt), else rejects. */
  async function checkPassword(name, password) {
    const account = accounts.get(name);
    if (account === undefined || account.hash === null) {
      await verifyPassword(password, dummy, verifyOptions);
      throw new AuthenticationError(account === undefined ? 'unknownRequester' : 'badPassword', name);
    }
    const key = verified.key(name, password);
    if (verified.has(key)) return;
    let pending = inFlight.get(key);
    if (pending === undefined) {
      pending = verifyPassword(password, account.hash, verifyOptions).finally(() => inFlight.delete(key));
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
    // allSettled: both checks run to the end (no unhandled rejection, no early-exit timing).
    const results = await Promise.allSettled([
      basic === null ? null : checkPassword(basic.name, basic.password),
      token === null ? null : checkToken(token),
    ]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    if (token === null) return { requester: basic.name, method: 'basic' };
    if (token.nonceKey !== null) {
      const expiresAt = (token.createdMs ?? now()) + maxAgeMs;
      const outcome = nonces.add(token.username, token.nonceKey, expiresAt);
      if (outcome === 'replayed') throw new AuthenticationError('replayedNonce', token.username);
      if (outcome === 'full') throw new AuthenticationError('replayCacheFull', token.username);
    }
    return { requester: token.username, method: token.passwordType === 'digest' ? 'passwordDigest' : 'passwordText' };
  }

  return {
    understoodHeaders: new Set([SECURITY_KEY]),
    realm: settings.realm,
    required: settings.required,
    authenticate,
  };
}

module.exports = { createAuthenticator, AuthenticationError, DEFAULT_AUTHENTICATION };
