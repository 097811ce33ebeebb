'use strict';
// Failed-login budgets (issue 12): a key (a client address, or a claimed requester name) may fail
// maxFailures times per window; then it is locked out for lockoutMs, doubled for each further
// lock-out up to maxLockoutMs. A key that stays quiet (no failure) for maxLockoutMs after its
// last lock-out ends starts afresh.
//
// Verifications in progress count against the budget (`pending`): without that, a burst of
// concurrent wrong passwords would all pass the check before the first one failed, and the
// budget would bound nothing. So one key never has more than maxFailures verifications running
// or failed per window.
//
// Bounded memory: at most maxEntries keys are tracked; the least recently touched key without a
// verification in progress is forgotten first. An attacker with more addresses than that can
// make the gateway forget some budgets, never grow it.
const DEFAULT_MAX_ENTRIES = 10000;

/**
 * @typedef {object} ThrottleEntry
 * @property {number} windowStart  ms
 * @property {number} failures  in the current window
 * @property {number} pending  verifications in progress
 * @property {number} lockedUntil  ms, 0 = not locked
 * @property {number} lockouts  lock-outs so far (the next one lasts lockoutMs * 2^lockouts)
 * @property {number} quietSince  ms of the last failure or lock-out end
 */

class FailureThrottle {
  /**
   * @param {{ maxFailures: number, windowMs: number, lockoutMs: number, maxLockoutMs: number,
   *   maxEntries?: number, now?: () => number }} options
   */
  constructor({ maxFailures, windowMs, lockoutMs, maxLockoutMs, maxEntries = DEFAULT_MAX_ENTRIES, now = Date.now }) {
    for (const [name, value] of Object.entries({ maxFailures, windowMs, lockoutMs, maxLockoutMs, maxEntries })) {
      if (!(Number.isInteger(value) && value >= 1)) throw new TypeError(`${name} must be a positive integer`);
    }
    if (maxLockoutMs < lockoutMs) throw new TypeError('maxLockoutMs must be >= lockoutMs');
    Object.assign(this, { maxFailures, windowMs, lockoutMs, maxLockoutMs, maxEntries, now });
    /** @type {Map<string, ThrottleEntry>} in order of last use */
    this.entries = new Map();
  }

  /** @returns {number} keys tracked */
  get size() {
    return this.entries.size;
  }

  /** The entry of a key, brought up to date (window rolled, old lock-outs forgotten), or undefined. */
  peek(key) {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    const now = this.now();
    if (entry.lockedUntil !== 0 && now >= entry.lockedUntil) {
      entry.lockedUntil = 0;
      entry.quietSince = now;
    }
    if (now - entry.windowStart >= this.windowMs) {
      entry.windowStart = now;
      entry.failures = 0;
    }
    if (entry.lockedUntil === 0 && entry.pending === 0 && entry.failures === 0 &&
        now - entry.quietSince >= this.maxLockoutMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /**
   * Whether a verification for `key` may start now.
   * @param {string} key
   * @returns {{ locked: boolean, retryAfterMs: number }|null} null: it may; else why not
   *   (locked: a lock-out; otherwise the budget is taken by verifications in progress)
   */
  refusal(key) {
    const entry = this.peek(key);
    if (entry === undefined) return null;
    const now = this.now();
    if (entry.lockedUntil !== 0) return { locked: true, retryAfterMs: entry.lockedUntil - now };
    if (entry.failures + entry.pending >= this.maxFailures) {
      // Some of the budget is still running: it is free again when they succeed, or in a window.
      return { locked: false, retryAfterMs: Math.min(1000, entry.windowStart + this.windowMs - now) };
    }
    return null;
  }

  /** @returns {boolean} whether `key` is locked out now */
  isLocked(key) {
    const entry = this.peek(key);
    return entry !== undefined && entry.lockedUntil !== 0;
  }

  /** A verification for `key` starts (call end() exactly once afterwards). */
  begin(key) {
    const entry = this.touch(key);
    entry.pending += 1;
  }

  /**
   * A verification for `key` ended.
   * @param {string} key
   * @param {boolean} failed  it was a wrong password or an unknown requester
   * @returns {number} the lock-out this failure started, in ms (0: none)
   */
  end(key, failed) {
    const entry = this.touch(key);
    entry.pending = Math.max(0, entry.pending - 1);
    if (!failed) return 0;
    const now = this.now();
    entry.failures += 1;
    entry.quietSince = now;
    if (entry.lockedUntil === 0 && entry.failures >= this.maxFailures) {
      const duration = Math.min(this.maxLockoutMs, this.lockoutMs * 2 ** Math.min(entry.lockouts, 40));
      entry.lockedUntil = now + duration;
      entry.lockouts += 1;
      // The lock-out is the penalty of this window; counting restarts after it.
      entry.failures = 0;
      entry.windowStart = entry.lockedUntil;
      return duration;
    }
    return 0;
  }

  /** @returns {number} keys locked out now */
  lockedCount() {
    const now = this.now();
    let count = 0;
    for (const entry of this.entries.values()) if (entry.lockedUntil > now) count += 1;
    return count;
  }

  touch(key) {
    let entry = this.peek(key);
    if (entry === undefined) {
      const now = this.now();
      entry = { windowStart: now, failures: 0, pending: 0, lockedUntil: 0, lockouts: 0, quietSince: now };
    }
    this.entries.delete(key); // re-inserted last: the most recently used
    this.entries.set(key, entry);
    if (this.entries.size > this.maxEntries) {
      for (const [oldKey, old] of this.entries) {
        if (old.pending === 0 && oldKey !== key) {
          this.entries.delete(oldKey);
          break;
        }
      }
    }
    return entry;
  }
}

/**
 * Sources (client addresses) that authenticated as a requester: they may pass that requester's
 * lock-out, so that guessing a requester's name from elsewhere does not lock its owner out.
 * Bounded like FailureThrottle (least recently confirmed pair forgotten first).
 */
class TrustedSources {
  /** @param {{ ttlMs: number, maxEntries?: number, now?: () => number }} options ttlMs 0: disabled */
  constructor({ ttlMs, maxEntries = DEFAULT_MAX_ENTRIES, now = Date.now }) {
    this.ttlMs = ttlMs;
    this.maxEntries = maxEntries;
    this.now = now;
    this.entries = new Map();
  }

  static key(requester, source) {
    return `${requester.length}:${requester}${source}`;
  }

  has(requester, source) {
    if (this.ttlMs === 0 || !source) return false;
    const key = TrustedSources.key(requester, source);
    const expiresAt = this.entries.get(key);
    if (expiresAt === undefined) return false;
    if (expiresAt > this.now()) return true;
    this.entries.delete(key);
    return false;
  }

  add(requester, source) {
    if (this.ttlMs === 0 || !source) return;
    const key = TrustedSources.key(requester, source);
    this.entries.delete(key);
    this.entries.set(key, this.now() + this.ttlMs);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value);
  }
}

module.exports = { FailureThrottle, TrustedSources, DEFAULT_MAX_ENTRIES };
