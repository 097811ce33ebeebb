'use strict';
// The gateway's log: one pino logger (JSON lines) with the configured level and redaction, and
// the `log(level, message, extra)` function every service is given, an adapter onto it.
/** pino, required with the first logger, not at load (issue 15: about 20 ms of a cold start). */
let pino = null;

/** @typedef {'trace'|'debug'|'info'|'warn'|'error'|'fatal'} LogLevel */

/**
 * The log entry point of every service. `isLevelEnabled` is there when the sink can tell (the
 * gateway's pino logger); a function given by a library user gets every line.
 * @typedef {((level: LogLevel, message: string, extra?: Record<string, unknown>) => void)
 *   & { isLevelEnabled?: (level: LogLevel) => boolean }} LogFunction
 */

/** Where credentials and tokens may sit in a line's fields: their values are never written. */
const SECRET_KEYS = [
  'authorization', 'proxyAuthorization', 'password', 'passwordHash', 'token', 'accessToken',
  'refreshToken', 'sinkCredential', 'credential', 'credentials', 'secret', 'cookie',
];
const REDACT_PATHS = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((key) => `*.${key}`),
  ...SECRET_KEYS.map((key) => `*.*.${key}`),
  'headers["proxy-authorization"]', '*.headers["proxy-authorization"]',
];

/**
 * A pino logger for the gateway: ISO times, level names, `message`, credentials and tokens redacted.
 * @param {{ level?: LogLevel }} [logging] the configuration's `logging` (level; default info)
 * @param {import('pino').DestinationStream} [destination] default: stdout, written asynchronously
 *   (stdoutDestination())
 * @param {() => string} [timestamp] pino's timestamp function (default: the ISO time now)
 * @returns {import('pino').Logger}
 */
function createLogger(logging = {}, destination = undefined, timestamp = undefined) {
  pino ??= require('pino');
  const options = {
    level: logging.level || 'info',
    base: undefined, // no pid/hostname on every line: the usage HOST and the collector say where
    // The line shape the gateway wrote before pino ({time, level, message, ...}): log readers
    // such as bench/usage.js keep working.
    messageKey: 'message',
    timestamp: timestamp || pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  return pino(options, destination === undefined ? stdoutDestination() : destination);
}

/**
 * Stdout without a write(2) per line on the event loop: lines written while a write is in flight
 * are joined into the next one (so under load many lines cost one syscall, and an idle gateway's
 * line is written at once: no minimum length to wait for). A synchronous write per request line
 * was about 8 % of the JS thread's busy time in the getStatus bench. Pino flushes what is
 * buffered synchronously when the process exits.
 * @returns {import('pino').DestinationStream}
 */
function stdoutDestination() {
  pino ??= require('pino');
  return pino.destination({ dest: 1, sync: false });
}

/**
 * The `log(level, message, extra)` function over a pino logger.
 * @param {import('pino').Logger} logger
 * @returns {LogFunction}
 */
function logFunction(logger) {
  /** @type {LogFunction} */
  const log = (level, message, extra) => {
    const write = typeof logger[level] === 'function' ? logger[level] : logger.info;
    if (extra === undefined) write.call(logger, message);
    else write.call(logger, extra, message);
  };
  log.isLevelEnabled = (level) => logger.isLevelEnabled(level);
  return log;
}

/**
 * The log function for lines whose fields are fixed by the gateway and never hold a credential
 * (the per-request line of requestLog.js): the same logger without redaction. Pino's wildcard
 * redaction paths cost about 30 µs per line (measured: 35 vs 5 µs per line), which was about
 * a tenth of the CPU of a whole getStatus.
 * @param {import('pino').Logger} logger
 * @returns {LogFunction}
 */
function unredactedLogFunction(logger) {
  const child = logger.child({}, { redact: { paths: [] } });
  const write = logFunction(child);
  /** @type {LogFunction} */
  const log = (level, message, extra) => {
    // A child copies its parent's level once: follow an operator's later `logger.level = ...`.
    if (child.level !== logger.level) child.level = logger.level;
    write(level, message, extra);
  };
  log.isLevelEnabled = (level) => logger.isLevelEnabled(level);
  return log;
}

/**
 * Whether `log` writes lines of `level`: asked of the sink when it can tell, else yes.
 * @param {LogFunction} log
 * @param {LogLevel} level
 */
function logs(log, level) {
  return typeof log.isLevelEnabled !== 'function' || log.isLevelEnabled(level);
}

/**
 * Writes what the logger's destination still holds, synchronously (at process exit, when an
 * asynchronous destination would not get another turn).
 * @param {import('pino').Logger} logger
 */
function flushSync(logger) {
  const stream = pino === null ? null : logger[pino.symbols.streamSym];
  if (stream && typeof stream.flushSync === 'function') stream.flushSync();
}

module.exports = { createLogger, logFunction, unredactedLogFunction, logs, flushSync, REDACT_PATHS };
