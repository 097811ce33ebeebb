'use strict';
// HTTP Basic credentials (RFC 7617): `Authorization: Basic base64(user-id ":" password)`,
// decoded as UTF-8 (the charset="UTF-8" the gateway announces in its challenge).
const { isUtf8 } = require('node:buffer');
const { AuthenticationError } = require('./errors');

const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;
// RFC 7617 §2: neither the user-id nor the password may contain control characters.
const CTL_RE = /[\u0000-\u001F\u007F]/;

/**
 * Reads the Basic credentials of a request.
 * @param {Record<string, string|string[]>|undefined} headers lower-case header names
 * @returns {{ name: string, password: string }|null} null when there is no Authorization header
 * @throws {AuthenticationError} 'unsupportedScheme' for another scheme, 'malformed' for
 *   credentials that cannot be decoded
 */
function parseBasicCredentials(headers) {
  const value = headers ? headers.authorization : undefined;
  if (value === undefined || value === '') return null;
  if (typeof value !== 'string') throw new AuthenticationError('malformed');
  const m = /^[ \t]*([A-Za-z0-9!#$%&'*+.^_`|~-]+)(?:[ \t]+(.*?))?[ \t]*$/.exec(value);
  if (m === null) throw new AuthenticationError('malformed');
  if (m[1].toLowerCase() !== 'basic') throw new AuthenticationError('unsupportedScheme');
  const token = m[2] || '';
  if (!BASE64_RE.test(token) || token.length % 4 !== 0) throw new AuthenticationError('malformed');
  const bytes = Buffer.from(token, 'base64');
  if (!isUtf8(bytes)) throw new AuthenticationError('malformed');
  const text = bytes.toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) throw new AuthenticationError('malformed');
  const name = text.slice(0, colon);
  const password = text.slice(colon + 1);
  if (name === '' || CTL_RE.test(name)) throw new AuthenticationError('malformed');
  if (CTL_RE.test(password)) throw new AuthenticationError('malformed', name);
  return { name, password };
}

/**
 * The `Authorization` value a client sends (tests and tools).
 * @param {string} name
 * @param {string} password
 * @returns {string}
 */
function basicAuthorization(name, password) {
  return `Basic ${Buffer.from(`${name}:${password}`, 'utf8').toString('base64')}`;
}

/**
 * The WWW-Authenticate challenge of a 401 answer.
 * @param {string} realm
 * @returns {string}
 */
function basicChallenge(realm) {
  return `Basic realm="${realm.replace(/["\\]/g, '\\$&')}", charset="UTF-8"`;
}

module.exports = { parseBasicCredentials, basicAuthorization, basicChallenge };
