'use strict';
// Remembers (requester, password) pairs that passed scrypt, so that a client sending the same
// credentials on every request pays one scrypt per TTL instead of one per request.
// Entries are keyed by an HMAC-SHA-256 of the pair under a random per-process key: no
// password is kept, and a memory dump gives no table to run a fast dictionary attack against
// without that key. Only successes are cached: a wrong password always costs a full scrypt.
const crypto = require('node:crypto');

const DEFAULT_MAX_ENTRIES = 10000;

class VerifiedCredentialCache {
  /**
   * @param {{ ttlMs: number, maxEntries?: number, now?: () => number }} options
   *   ttlMs 0 disables the cache; maxEntries bounds memory (the oldest entry goes first)
   */
  constructor({ ttlMs, maxEntries = DEFAULT_MAX_ENTRIES, now = Date.now }) {
    if (!(Number.isFinite(ttlMs) && ttlMs >= 0)) throw new TypeError('ttlMs must be a number >= 0');
    if (!(Number.isInteger(maxEntries) && maxEntries >= 1)) throw new TypeError('maxEntries must be a positive integer');
    this.ttlMs = ttlMs;
    this.maxEntries = maxEntries;
    this.now = now;
    this.secret = crypto.randomBytes(32);
    // key -> expiry (ms). Every entry lives ttlMs, so Map insertion order is expiry order.
    this.entries = new Map();
  }

  /** @returns {boolean} whether the cache is in use */
  get enabled() {
    return this.ttlMs > 0;
  }

  /** @returns {number} the number of entries held (expired ones included until swept) */
  get size() {
    return this.entries.size;
  }

  /**
   * The cache key of a pair (also usable to share an in-flight verification).
   * @param {string} name
   * @param {string} password
   * @returns {string}
   */
  key(name, password) {
    // Length-prefixed, so that no two (name, password) pairs give the same input.
    return crypto.createHmac('sha256', this.secret).update(`${name.length}:${name}\0${password}`, 'utf8').digest('base64');
  }

  /**
   * @param {string} key from key()
   * @returns {boolean} whether the pair was verified less than ttlMs ago
   */
  has(key) {
    const expiresAt = this.entries.get(key);
    if (expiresAt === undefined) return false;
    if (expiresAt > this.now()) return true;
    this.entries.delete(key);
    return false;
  }

  /**
   * Records a successful verification (no-op when disabled).
   * @param {string} key from key()
   */
  add(key) {
    if (!this.enabled) return;
    const now = this.now();
    this.entries.delete(key); // re-inserted at the end: its expiry is now the latest
    this.entries.set(key, now + this.ttlMs);
    for (const [oldest, expiresAt] of this.entries) {
      if (this.entries.size <= this.maxEntries && expiresAt > now) break;
      this.entries.delete(oldest);
    }
  }

  /** Forgets every entry. */
  clear() {
    this.entries.clear();
  }
}

module.exports = { VerifiedCredentialCache, DEFAULT_MAX_ENTRIES };
