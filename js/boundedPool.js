'use strict';
// A bound on work that runs on libuv's thread pool (4 threads by default, shared by fs,
// dns.lookup, crypto.scrypt and zlib): at most `concurrency` tasks run at once, at most
// `queueLength` wait, and anything beyond is refused at once. Without it one kind of flood
// (wrong passwords, endpoint names that resolve slowly) would queue thousands of jobs there and
// stall everything else, every waiting request holding its memory and connection meanwhile.

class BoundedPool {
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
   * @param {() => Error} refusal the error to reject with when the queue is full (task not run)
   * @returns {Promise<T>}
   */
  async run(task, refusal) {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queueLength) {
        this.refused += 1;
        throw refusal();
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

module.exports = { BoundedPool };
