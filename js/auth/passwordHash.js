'use strict';
// Requester password hashes: scrypt (RFC 7914) in a PHC-like string,
//   $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt, base64 without padding>$<hash, base64 without padding>
// The derived key length is the length of the stored hash. The password is hashed as its
// exact UTF-8 bytes (no Unicode normalization), so hashes made by other scrypt tools with
// the same parameters verify too. Derivation runs on the libuv thread pool (crypto.scrypt),
// never on the event loop.
const crypto = require('node:crypto');
const { promisify } = require('node:util');

const scryptAsync = promisify(crypto.scrypt);

/** Parameters of `hash-password` and hashPassword() when none are given. */
const DEFAULT_PARAMS = Object.freeze({ ln: 14, r: 8, p: 1, saltBytes: 16, hashBytes: 32 });

const MIN_SALT_BYTES = 16;
const MIN_HASH_BYTES = 32;
const MAX_LN = 20;
const MAX_R = 32;
const MAX_P = 16;
// scrypt's working set is about 128 * N * r bytes; refuse parameters that would need more.
const MAX_SCRYPT_BYTES = 1024 * 1024 * 1024;

// Decimal parameters without leading zeros (as native/config/RequesterConfigReader.cc demands).
const PHC_RE = /^\$scrypt\$ln=([1-9]\d?),r=([1-9]\d{0,2}),p=([1-9]\d{0,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/**
 * @typedef {object} ScryptHash
 * @property {number} ln log2 of the cost N
 * @property {number} r block size
 * @property {number} p parallelism
 * @property {Buffer} salt
 * @property {Buffer} hash the derived key
 */

/**
 * @typedef {(password: Buffer, salt: Buffer, keylen: number,
 *   options: { N: number, r: number, p: number, maxmem: number }) => Promise<Buffer>} DeriveKey
 *   crypto.scrypt as a promise; injectable so that tests can count derivations
 */

/** Decodes unpadded base64, refusing non-canonical text (so one hash has one spelling). */
function decodeUnpadded(text, what) {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64').replace(/=+$/, '') !== text) throw new Error(`${what} is not canonical unpadded base64`);
  return bytes;
}

function checkParams({ ln, r, p }) {
  if (!Number.isInteger(ln) || ln < 1 || ln > MAX_LN) throw new Error(`ln must be an integer from 1 to ${MAX_LN}`);
  if (!Number.isInteger(r) || r < 1 || r > MAX_R) throw new Error(`r must be an integer from 1 to ${MAX_R}`);
  if (!Number.isInteger(p) || p < 1 || p > MAX_P) throw new Error(`p must be an integer from 1 to ${MAX_P}`);
  if (128 * 2 ** ln * r > MAX_SCRYPT_BYTES) throw new Error(`ln=${ln},r=${r} needs more than 1 GiB of memory`);
}

/**
 * Node refuses a derivation when (about) 128 * N * r exceeds maxmem (default 32 MiB, i.e.
 * below ln=15,r=8); give it twice the working set plus room for the p blocks.
 * @param {{ ln: number, r: number, p: number }} params
 * @returns {number}
 */
function maxmemFor({ ln, r, p }) {
  return 2 * 128 * 2 ** ln * r + 128 * r * p + 1024 * 1024;
}

/**
 * Parses a stored password hash.
 * @param {string} phc `$scrypt$ln=..,r=..,p=..$salt$hash`
 * @returns {ScryptHash}
 * @throws {Error} naming what is wrong (never echoing the hash)
 */
function parsePasswordHash(phc) {
  if (typeof phc !== 'string') throw new Error('password hash must be a string');
  const m = PHC_RE.exec(phc);
  if (m === null) throw new Error('password hash must look like $scrypt$ln=<n>,r=<r>,p=<p>$<salt>$<hash> (base64 without padding)');
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  checkParams(params);
  const salt = decodeUnpadded(m[4], 'salt');
  const hash = decodeUnpadded(m[5], 'hash');
  if (salt.length < MIN_SALT_BYTES) throw new Error(`salt must be at least ${MIN_SALT_BYTES} bytes`);
  if (hash.length < MIN_HASH_BYTES) throw new Error(`hash must be at least ${MIN_HASH_BYTES} bytes`);
  return { ...params, salt, hash };
}

/**
 * Formats a hash as its PHC-like string.
 * @param {ScryptHash} h
 * @returns {string}
 */
function formatPasswordHash({ ln, r, p, salt, hash }) {
  const b64 = (bytes) => bytes.toString('base64').replace(/=+$/, '');
  return `$scrypt$ln=${ln},r=${r},p=${p}$${b64(salt)}$${b64(hash)}`;
}

/**
 * Hashes a password with a fresh random salt.
 * @param {string} password
 * @param {{ ln?: number, r?: number, p?: number, saltBytes?: number, hashBytes?: number }} [options]
 *   defaults: DEFAULT_PARAMS (ln=14, r=8, p=1, 16-byte salt, 32-byte hash)
 * @returns {Promise<string>} the PHC-like string
 */
async function hashPassword(password, options = {}) {
  if (typeof password !== 'string') throw new TypeError('password must be a string');
  const { ln, r, p, saltBytes, hashBytes } = { ...DEFAULT_PARAMS, ...options };
  checkParams({ ln, r, p });
  if (!Number.isInteger(saltBytes) || saltBytes < MIN_SALT_BYTES || saltBytes > 1024) {
    throw new Error(`saltBytes must be an integer from ${MIN_SALT_BYTES} to 1024`);
  }
  if (!Number.isInteger(hashBytes) || hashBytes < MIN_HASH_BYTES || hashBytes > 1024) {
    throw new Error(`hashBytes must be an integer from ${MIN_HASH_BYTES} to 1024`);
  }
  const salt = crypto.randomBytes(saltBytes);
  const hash = await scryptAsync(Buffer.from(password, 'utf8'), salt, hashBytes, { N: 2 ** ln, r, p, maxmem: maxmemFor({ ln, r, p }) });
  return formatPasswordHash({ ln, r, p, salt, hash });
}

/**
 * Verifies a password against a stored hash in constant time (for a given hash).
 * @param {string} password
 * @param {ScryptHash|string} stored a parsed hash (parse once, at config load) or its string
 * @param {{ deriveKey?: DeriveKey }} [options]
 * @returns {Promise<boolean>}
 */
async function verifyPassword(password, stored, { deriveKey = scryptAsync } = {}) {
  if (typeof password !== 'string') throw new TypeError('password must be a string');
  const h = typeof stored === 'string' ? parsePasswordHash(stored) : stored;
  const derived = await deriveKey(Buffer.from(password, 'utf8'), h.salt, h.hash.length, {
    N: 2 ** h.ln, r: h.r, p: h.p, maxmem: maxmemFor(h),
  });
  return derived.length === h.hash.length && crypto.timingSafeEqual(derived, h.hash);
}

module.exports = {
  DEFAULT_PARAMS,
  hashPassword,
  verifyPassword,
  parsePasswordHash,
  formatPasswordHash,
  maxmemFor,
};
