'use strict';
// Replay protection for WS-Security UsernameTokens: remembers each accepted (username, nonce)
// until the token it came with can no longer pass the freshness check (wsu:Created +
// tokenMaxAgeSec), after which a replay is refused by that check instead.
//
// Bounded: when every slot holds a live entry, add() answers 'full' and the caller refuses the
// token. Failing closed is deliberate: evicting a live entry would let its token be replayed.
// Only tokens whose password verified reach add(), so filling the cache takes a requester's
// valid credentials and a high request rate, not an anonymous flood.
const DEFAULT_MAX_ENTRIES = 200000;
const DEFAULT_SWEEP_INTERVAL_MS = 1000;

/** Unambiguous key of a (username, nonce) pair. */
function pairKey(username, nonce) {
  return `${username.length}:${username}${nonce}`;
}

class NonceCache {
  /**
   * @param {{ maxEntries?: number, now?: () => number, sweepIntervalMs?: number }} [options]
   *   sweepIntervalMs: expired entries are removed by a full scan at most this often
   *   (expiries are not in insertion order, since Created varies per token)
   */
  constructor({ maxEntries = DEFAULT_MAX_ENTRIES, now = Date.now, sweepIntervalMs = DEFAULT_SWEEP_INTERVAL_MS } = {}) {
    if (!(Number.isInteger(maxEntries) && maxEntries >= 1)) throw new TypeError('maxEntries must be a positive integer');
    this.maxEntries = maxEntries;
    this.now = now;
    this.sweepIntervalMs = sweepIntervalMs;
    this.nextSweepAt = -Infinity;
    // key -> expiry (ms)
    this.entries = new Map();
  }

  /** @returns {number} the number of entries held (expired ones included until swept) */
  get size() {
    return this.entries.size;
  }

  /**
   * @param {string} username
   * @param {string} nonce the nonce in a canonical spelling (base64 of its bytes)
   * @returns {boolean} whether the pair was accepted and is still remembered
   */
  has(username, nonce) {
    const expiresAt = this.entries.get(pairKey(username, nonce));
    return expiresAt !== undefined && expiresAt > this.now();
  }

  /**
   * Records a pair unless it is already there (check and insert in one synchronous step, so
   * two concurrent requests with the same nonce cannot both pass).
   * @param {string} username
   * @param {string} nonce
   * @param {number} expiresAt ms since the epoch; the entry is dropped after it
   * @returns {'added'|'replayed'|'full'}
   */
  add(username, nonce, expiresAt) {
    const now = this.now();
    const key = pairKey(username, nonce);
    const known = this.entries.get(key);
    if (known !== undefined && known > now) return 'replayed';
    this.sweep(now);
    if (known === undefined && this.entries.size >= this.maxEntries) return 'full';
    this.entries.set(key, expiresAt);
    return 'added';
  }

  /**
   * Removes expired entries: a full scan, done at most once per sweepIntervalMs so that its
   * cost stays bounded however many tokens arrive (also when the cache is full).
   * @param {number} now
   */
  sweep(now) {
    if (now < this.nextSweepAt) return;
    this.nextSweepAt = now + this.sweepIntervalMs;
    for (const [key, expiresAt] of this.entries) {
      if (expiresAt <= now) this.entries.delete(key);
    }
  }
}

module.exports = { NonceCache, DEFAULT_MAX_ENTRIES };
