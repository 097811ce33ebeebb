'use strict';
// OAuth2 bearer access tokens (RFC 6750) of the CAMARA APIs: JWTs verified with `jose` against
// the configured issuer, audience and JWKS (a file read at start, or a URL jose fetches and
// caches), then checked for the operation's scopes, and mapped to the requester the existing
// policy engine and usage records know (camara.clients). Failures are CamaraErrors: 401
// UNAUTHENTICATED (no token, bad signature, expired, wrong issuer or audience), 403
// PERMISSION_DENIED (missing scope, client with no requester).
const fs = require('node:fs');
const jose = require('jose');
const { CamaraError } = require('./errors');

// Asymmetric algorithms only: a JWKS publishes public keys, and an HMAC key in it would let
// anyone who can read the JWKS sign tokens.
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
// E.164 with '+', the contract's PhoneNumber pattern (a token-derived device must be one too).
const PHONE_NUMBER = /^\+[1-9][0-9]{4,14}$/;
// Verified tokens are kept so that a client reusing its token (what OAuth2 clients do until it
// expires) is not verified again on every request: an ES256 signature check cost about 80 µs of
// CPU per retrieve in bench/getstatus.js, a third of the request. At most CACHE_ENTRIES tokens,
// each until its exp (with the clock tolerance) and at most CACHE_MAX_MS after it was verified,
// so that a key withdrawn from a JWKS URL stops its tokens within that time.
const CACHE_ENTRIES = 10000;
const CACHE_MAX_MS = 300000;

/**
 * Who a verified token speaks for.
 * @typedef {object} TokenIdentity
 * @property {string} requester the configured requester (policy, usage records)
 * @property {string} client the token's client_id (else azp, else sub)
 * @property {string} subject the token's sub ('' when absent)
 * @property {string[]} scopes
 * @property {string | null} phoneNumber the device the token identifies (three-legged), or null
 */

/**
 * @param {string} reason for logs and counters
 * @param {string} message
 */
function unauthenticated(reason, message) {
  const error = reason === 'noToken' ? 'invalid_request' : 'invalid_token';
  return new CamaraError('UNAUTHENTICATED', message, {
    reason, headers: { 'www-authenticate': `Bearer error="${error}"` },
  });
}

/** The key set: a local JWKS file (read once, now) or a remote JWKS URL. */
function keySet({ jwksFile, jwksUrl }) {
  if (jwksFile) {
    let jwks;
    try {
      jwks = JSON.parse(fs.readFileSync(jwksFile, 'utf8'));
    } catch (error) {
      throw new Error(`camara.auth.jwksFile ${jwksFile}: not a readable JWKS document: ${error.message}`, { cause: error });
    }
    if (!jwks || !Array.isArray(jwks.keys)) throw new Error(`camara.auth.jwksFile ${jwksFile}: no "keys" array`);
    return jose.createLocalJWKSet(jwks);
  }
  if (jwksUrl) return jose.createRemoteJWKSet(new URL(jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30000 });
  throw new Error('camara.auth: neither jwksFile nor jwksUrl is configured');
}

/** The token's scopes: the `scope` string of RFC 9068 / RFC 8693, or an `scp` array. */
function scopesOf(payload) {
  if (typeof payload.scope === 'string') return payload.scope.split(' ').filter(Boolean);
  if (Array.isArray(payload.scp)) return payload.scp.filter((s) => typeof s === 'string');
  if (typeof payload.scp === 'string') return payload.scp.split(' ').filter(Boolean);
  return [];
}

/**
 * A verifier of the CAMARA access tokens.
 * @param {{ issuer: string, audience: string, jwksFile?: string, jwksUrl?: string,
 *           clockToleranceSec?: number, phoneNumberClaim?: string,
 *           clients: Record<string, string> }} auth
 *   camara.auth plus camara.clients (token client -> requester)
 * @returns {{ verify: (authorization: string | undefined, requiredScopes: string[]) => Promise<TokenIdentity>,
 *            stats: () => { cachedTokens: number, hits: number, misses: number } }}
 */
function createTokenVerifier({ issuer, audience, jwksFile, jwksUrl, clockToleranceSec = 30, phoneNumberClaim = '', clients }) {
  const keys = keySet({ jwksFile, jwksUrl });
  // exp is required: a bearer token that never expires cannot be withdrawn.
  const options = { issuer, audience, clockTolerance: clockToleranceSec, algorithms: ALGORITHMS, requiredClaims: ['exp'] };
  /** token -> { payload, untilMs }: verified payloads, oldest first (Map insertion order). */
  const verified = new Map();
  const counts = { hits: 0, misses: 0 };

  /** The token's verified payload: from the cache while it lasts, else jose's verification. */
  async function payloadOf(token) {
    const now = Date.now();
    const cached = verified.get(token);
    if (cached !== undefined && now < cached.untilMs) {
      counts.hits += 1;
      return cached.payload;
    }
    if (cached !== undefined) verified.delete(token);
    counts.misses += 1;
    const { payload } = await jose.jwtVerify(token, keys, options);
    // jose refuses exp <= now - tolerance: the token is good while now < exp + tolerance.
    const untilMs = Math.min(payload.exp * 1000 + clockToleranceSec * 1000, now + CACHE_MAX_MS);
    if (verified.size >= CACHE_ENTRIES) verified.delete(verified.keys().next().value);
    verified.set(token, { payload, untilMs });
    return payload;
  }

  return {
    /**
     * @param {string | undefined} authorization the Authorization header
     * @param {string[]} requiredScopes every one must be granted
     * @returns {Promise<TokenIdentity>}
     */
    async verify(authorization, requiredScopes) {
      const match = typeof authorization === 'string' ? /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(authorization) : null;
      if (!match) throw unauthenticated('noToken', 'A bearer access token is required.');
      let payload;
      try {
        payload = await payloadOf(match[1]);
      } catch (error) {
        if (error instanceof jose.errors.JWTExpired) throw unauthenticated('expired', 'The access token has expired.');
        if (error instanceof jose.errors.JWTClaimValidationFailed) {
          throw unauthenticated(`claim:${error.claim}`, `The access token's ${error.claim} claim is not accepted.`);
        }
        if (error instanceof jose.errors.JOSEError) throw unauthenticated(error.code, 'The access token is not valid.');
        throw error;
      }
      const scopes = scopesOf(payload);
      const missing = requiredScopes.filter((scope) => !scopes.includes(scope));
      if (missing.length > 0) {
        throw new CamaraError('PERMISSION_DENIED', `The access token lacks the scope ${missing.join(' ')}.`, {
          reason: 'scope', headers: { 'www-authenticate': `Bearer error="insufficient_scope", scope="${requiredScopes.join(' ')}"` },
        });
      }
      const subject = typeof payload.sub === 'string' ? payload.sub : '';
      const client = [payload.client_id, payload.azp, payload.sub].find((c) => typeof c === 'string' && c !== '') || '';
      const requester = Object.hasOwn(clients, client) ? clients[client] : undefined;
      if (requester === undefined) {
        throw new CamaraError('PERMISSION_DENIED', 'This client may not use the API.', { reason: 'unknownClient' });
      }
      let phoneNumber = null;
      if (phoneNumberClaim && payload[phoneNumberClaim] !== undefined) {
        phoneNumber = payload[phoneNumberClaim];
        if (typeof phoneNumber !== 'string' || !PHONE_NUMBER.test(phoneNumber)) {
          throw new CamaraError('PERMISSION_DENIED', 'The access token names no usable device.', { reason: 'tokenDevice' });
        }
      }
      return { requester, client, subject, scopes, phoneNumber };
    },

    /** Verified tokens held, and how many verifications they answered (hits) or not (misses). */
    stats() {
      return { cachedTokens: verified.size, hits: counts.hits, misses: counts.misses };
    },
  };
}

module.exports = { createTokenVerifier, ALGORITHMS };
