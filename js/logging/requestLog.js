'use strict';
// One info line per request (operation, requester, outcome, time, request id = GLOBALID), from
// the observer every recorded operation tells (js/recordedOperation.js).
const { logs } = require('./logger');

/**
 * The request log's observer. Each call asks the sink whether info is on before building the
 * line, so that at warn and above a request costs one level check (the level may change at run
 * time, e.g. an operator's `logger.level = 'debug'`).
 * @param {import('./logger').LogFunction} log
 * @returns {import('../recordedOperation').OperationObserver}
 */
function requestLog(log) {
  return (o) => {
    if (!logs(log, 'info')) return;
    log('info', 'request', {
      requestId: o.requestId,
      api: o.api,
      operation: o.operation,
      requester: o.requester,
      outcome: o.outcome,
      timeMs: Math.round(o.seconds * 1e6) / 1e3,
    });
  };
}

module.exports = { requestLog };
