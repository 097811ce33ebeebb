'use strict';
// The bounded pool of password verifications (scrypt, on libuv's thread pool): see
// js/boundedPool.js for why; a full queue refuses the request as 'overloaded' (HTTP 503).
const { BoundedPool } = require('../boundedPool');
const { AuthenticationError } = require('./errors');

class VerifyPool extends BoundedPool {
  /**
   * Runs `task` when a slot is free.
   * @template T
   * @param {() => Promise<T>} task
   * @param {string} [requester] for the error when refused
   * @returns {Promise<T>}
   * @throws {AuthenticationError} 'overloaded' when the queue is full (task not run)
   */
  run(task, requester = '') {
    return super.run(task, () => new AuthenticationError('overloaded', requester, { retryAfterSec: 1 }));
  }
}

module.exports = { VerifyPool };
