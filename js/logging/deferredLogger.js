'use strict';
// The gateway's own pino logger, built when its first line is due rather than with the gateway:
// loading pino and building the logger is about 20 ms, a third of the time from require() to the
// first answer (bench/coldstart.js, issue 15), and a gateway logs nothing until then. A line
// logged before the logger exists waits, in order, for the next turn of the event loop (so the
// first request's answer leaves first) and is written then with the time it was logged; at
// process exit, at once. Asking for the logger itself (Gateway#logger, e.g. to change its level)
// builds it at once.
const { createLogger, logFunction, unredactedLogFunction, flushSync } = require('./logger');

/** pino's level values, to answer isLevelEnabled before pino is loaded. */
const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

class DeferredLogger {
  /**
   * @param {{ level?: import('./logger').LogLevel }} logging the configuration's `logging`
   * @param {import('pino').DestinationStream} [destination] as createLogger's
   */
  constructor(logging = {}, destination = undefined) {
    this.logging = logging;
    this.destination = destination;
    /** @type {import('pino').Logger | null} */
    this.built = null;
    /** @type {{ log: import('./logger').LogFunction, unredacted: import('./logger').LogFunction } | null} */
    this.writers = null;
    /** Lines logged before the logger was built: [unredacted?, level, message, extra, time]. */
    this.pending = [];
    /** While pending lines are written, the time each was logged (pino's timestamp asks for it). */
    this.replayTime = null;
    this.writePending = () => this.logger;
    this.onExit = () => {
      try {
        flushSync(this.logger);
      } catch {
        // A destination that cannot write synchronously keeps what it could not write.
      }
    };
    /** @type {import('./logger').LogFunction} */
    this.log = this.#logFunction(false);
    /** The per-request line's log (fixed fields: no redaction pass, js/logging/requestLog.js). */
    this.unredactedLog = this.#logFunction(true);
  }

  /**
   * The pino logger, built (and the lines waiting for it written) on first use.
   * @returns {import('pino').Logger}
   */
  get logger() {
    if (this.built === null) {
      const timestamp = () => `,"time":"${new Date(this.replayTime ?? Date.now()).toISOString()}"`;
      this.built = createLogger(this.logging, this.destination, timestamp);
      this.writers = { log: logFunction(this.built), unredacted: unredactedLogFunction(this.built) };
      process.removeListener('exit', this.onExit);
      const pending = this.pending;
      this.pending = [];
      try {
        for (const [unredacted, level, message, extra, time] of pending) {
          this.replayTime = time;
          (unredacted ? this.writers.unredacted : this.writers.log)(level, message, extra);
        }
      } finally {
        this.replayTime = null;
      }
    }
    return this.built;
  }

  /** Whether lines of `level` are written: the logger's answer once it exists (its level may change). */
  isLevelEnabled(level) {
    if (this.built !== null) return this.built.isLevelEnabled(level);
    return (LEVELS[level] ?? LEVELS.info) >= (LEVELS[this.logging.level || 'info'] ?? LEVELS.info);
  }

  #logFunction(unredacted) {
    /** @type {import('./logger').LogFunction} */
    const log = (level, message, extra) => {
      if (this.writers !== null) {
        (unredacted ? this.writers.unredacted : this.writers.log)(level, message, extra);
        return;
      }
      if (!this.isLevelEnabled(level)) return;
      // The first line waiting schedules the build (pending is only filled before it).
      if (this.pending.push([unredacted, level, message, extra, Date.now()]) === 1) {
        setImmediate(this.writePending);
        process.once('exit', this.onExit);
      }
    };
    log.isLevelEnabled = (level) => this.isLevelEnabled(level);
    return log;
  }
}

module.exports = { DeferredLogger };
