'use strict';
// WS-Security 1.0 UsernameToken (OASIS Username Token Profile 1.0) in the SOAP header:
//   <wsse:Security [soap:mustUnderstand="1"]>
//     <wsse:UsernameToken>
//       <wsse:Username>name</wsse:Username>
//       <wsse:Password Type="...#PasswordText | ...#PasswordDigest">...</wsse:Password>
//       <wsse:Nonce EncodingType="...#Base64Binary">base64</wsse:Nonce>   (optional for text)
//       <wsu:Created>2024-01-01T00:00:00Z</wsu:Created>                   (optional for text)
// This module only reads the token and computes digests; authenticator.js decides.
// Other children of wsse:Security (wsu:Timestamp, signatures) are not processed.
const crypto = require('node:crypto');
const { SOAP11_NS } = require('../soap/envelope');
const { AuthenticationError } = require('./errors');

const WSSE_NS = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';
const WSU_NS = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd';
const TOKEN_PROFILE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0';
const PASSWORD_TEXT = `${TOKEN_PROFILE}#PasswordText`;
const PASSWORD_DIGEST = `${TOKEN_PROFILE}#PasswordDigest`;
const BASE64_BINARY = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary';
const SECURITY_KEY = `{${WSSE_NS}}Security`;

const ACTOR_KEY = `{${SOAP11_NS}}actor`;
const ACTOR_NEXT = 'http://schemas.xmlsoap.org/soap/actor/next';
// A nonce is remembered for the whole freshness window: bound what a client can make us keep.
const MAX_NONCE_BYTES = 128;
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;
// xsd:dateTime with a mandatory time zone (the profile wants UTC; an offset is converted).
const DATE_TIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|([+-])(\d{2}):(\d{2}))$/;

/**
 * @typedef {object} UsernameToken
 * @property {string} username
 * @property {'text'|'digest'} passwordType
 * @property {string} password the password (text) or the base64 digest (digest), as sent
 * @property {Buffer|null} nonce decoded nonce bytes
 * @property {string|null} nonceKey canonical base64 of the nonce, for the replay cache
 * @property {string|null} created the wsu:Created value as sent (whitespace-collapsed)
 * @property {number|null} createdMs wsu:Created in ms since the epoch
 */

function malformed(username = '') {
  return new AuthenticationError('malformed', username);
}

/** Children of `parent` with this namespace and local name. */
function children(parent, ns, name) {
  return parent.children.filter((c) => c.ns === ns && c.name === name);
}

/** The single child with this name, or null; more than one is malformed. */
function optionalChild(parent, ns, name, username) {
  const found = children(parent, ns, name);
  if (found.length > 1) throw malformed(username);
  return found.length === 1 ? found[0] : null;
}

/**
 * Parses an xsd:dateTime that carries a time zone.
 * @param {string} text
 * @returns {number|null} ms since the epoch, null when invalid
 */
function parseDateTime(text) {
  const m = DATE_TIME_RE.exec(text);
  if (m === null) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const ms = m[7] ? Math.floor(Number(`0${m[7]}`) * 1000) : 0;
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  if (new Date(utc).getUTCDate() !== day) return null; // 31 April, 29 February 2023, ...
  if (m[8] === 'Z') return utc;
  const offsetHours = Number(m[10]);
  const offsetMinutes = Number(m[11]);
  if (offsetHours > 14 || offsetMinutes > 59) return null;
  const offsetMs = (offsetHours * 60 + offsetMinutes) * 60000;
  return m[9] === '+' ? utc - offsetMs : utc + offsetMs;
}

/** The wsse:Security header entry addressed to us (no actor, or actor "next"), or null. */
function securityHeader(soapHeader) {
  if (!soapHeader) return null;
  const ours = children(soapHeader, WSSE_NS, 'Security').filter((el) => {
    const actor = el.attrs[ACTOR_KEY];
    return actor === undefined || actor.trim() === ACTOR_NEXT;
  });
  // WSS 1.0 §6.1: at most one Security header per actor.
  if (ours.length > 1) throw malformed();
  return ours.length === 1 ? ours[0] : null;
}

/**
 * Reads the UsernameToken of a request.
 * @param {import('../soap/envelope').XmlElement|null} soapHeader from parseEnvelope()
 * @returns {UsernameToken|null} null when there is no wsse:Security header addressed to us,
 *   or one without a UsernameToken
 * @throws {AuthenticationError} 'malformed'
 */
function parseUsernameToken(soapHeader) {
  const security = securityHeader(soapHeader);
  if (security === null) return null;
  const tokenEl = optionalChild(security, WSSE_NS, 'UsernameToken');
  if (tokenEl === null) return null;

  const usernameEl = optionalChild(tokenEl, WSSE_NS, 'Username');
  if (usernameEl === null || usernameEl.text === '') throw malformed();
  const username = usernameEl.text;
  const passwordEl = optionalChild(tokenEl, WSSE_NS, 'Password', username);
  if (passwordEl === null) throw malformed(username);
  const type = passwordEl.attrs.Type === undefined ? PASSWORD_TEXT : passwordEl.attrs.Type.trim();
  let passwordType;
  if (type === PASSWORD_TEXT) passwordType = 'text';
  else if (type === PASSWORD_DIGEST) passwordType = 'digest';
  else throw malformed(username);

  let nonce = null;
  let nonceKey = null;
  const nonceEl = optionalChild(tokenEl, WSSE_NS, 'Nonce', username);
  if (nonceEl !== null) {
    const encoding = nonceEl.attrs.EncodingType;
    if (encoding !== undefined && encoding.trim() !== BASE64_BINARY) throw malformed(username);
    const text = nonceEl.text.trim();
    if (!BASE64_RE.test(text) || text.length % 4 !== 0) throw malformed(username);
    nonce = Buffer.from(text, 'base64');
    if (nonce.length === 0 || nonce.length > MAX_NONCE_BYTES) throw malformed(username);
    nonceKey = nonce.toString('base64');
  }

  let created = null;
  let createdMs = null;
  const createdEl = optionalChild(tokenEl, WSU_NS, 'Created', username);
  if (createdEl !== null) {
    created = createdEl.text.trim();
    createdMs = parseDateTime(created);
    if (createdMs === null) throw malformed(username);
  }

  const password = passwordType === 'digest' ? passwordEl.text.trim() : passwordEl.text;
  // The digest is only as good as its inputs: without nonce and time it is a reusable password.
  if (passwordType === 'digest' && (nonce === null || created === null)) throw malformed(username);
  return { username, passwordType, password, nonce, nonceKey, created, createdMs };
}

/**
 * Password_Digest = Base64(SHA-1(nonce + created + password)) (Username Token Profile §3.1).
 * @param {Buffer} nonce decoded nonce bytes
 * @param {string} created the wsu:Created text
 * @param {string} secret
 * @returns {Buffer} the SHA-1 (20 bytes)
 */
function passwordDigest(nonce, created, secret) {
  return crypto.createHash('sha1').update(nonce).update(created, 'utf8').update(secret, 'utf8').digest();
}

/**
 * Compares a token's digest with the one computed from `secret`, in constant time.
 * @param {UsernameToken} token a 'digest' token
 * @param {string} secret
 * @returns {boolean}
 */
function verifyPasswordDigest(token, secret) {
  const expected = passwordDigest(token.nonce, token.created, secret);
  const sent = BASE64_RE.test(token.password) ? Buffer.from(token.password, 'base64') : Buffer.alloc(0);
  return sent.length === expected.length && crypto.timingSafeEqual(sent, expected);
}

module.exports = {
  WSSE_NS,
  WSU_NS,
  PASSWORD_TEXT,
  PASSWORD_DIGEST,
  BASE64_BINARY,
  SECURITY_KEY,
  parseUsernameToken,
  parseDateTime,
  passwordDigest,
  verifyPasswordDigest,
};
