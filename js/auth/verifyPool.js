'use strict';
// A bounded pool for password verifications (scrypt): at most `concurrency` run at once, at most
// `queueLength` wait, and anything beyond is refused at once. scrypt runs on the libuv thread
// pool (4 threads by default), which fs, dns.lookup and zlib share: without a bound, a flood of
// wrong passwords would queue thousands of derivations there and stall everything else, and
// every waiting request would hold its memory and connection while it waits.
const { AuthenticationError } = require('./errors');

class VerifyPool {
  /** @param {{ concurrency: number, queueLength: number }} options */
  constructor({ concurrency, queueLength }) {
    if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new TypeError('concurrency must be a positive integer');
    if (!(Number.isInteger(queueLength) && queueLength >= 0)) throw new TypeError('queueLength must be an integer >= 0');
    this.concurrency = concurrency;
    this.queueLength = queueLength;
    this.running = 0;
    /** @type {Array<() => void>} */
    this.waiting = [];
    this.started = 0;
    this.refused = 0;
  }

  /**
   * Runs `task` when a slot is free.
   * @template T
   * @param {() => Promise<T>} task
   * @param {string} [requester] for the error when refused
   * @returns {Promise<T>}
   * @throws {AuthenticationError} 'overloaded' when the queue is full (task not run)
   */
  async run(task, requester = '') {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queueLength) {
        this.refused += 1;
        throw new AuthenticationError('overloaded', requester, { retryAfterSec: 1 });
      }
      await new Promise((resolve) => this.waiting.push(resolve));
    } else {
      this.running += 1;
    }
    this.started += 1;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // the slot passes on; running stays the same
      else this.running -= 1;
    }
  }

  /** @returns {{ running: number, queued: number, started: number, refused: number }} */
  stats() {
    return { running: this.running, queued: this.waiting.length, started: this.started, refused: this.refused };
  }
}

module.exports = { VerifyPool };
