'use strict';
// Sofia-SIP's own log into the gateway's log. Sofia has one log per process (native
// sip/SofiaLog.h owns the redirect): each SofiaLog object gets every line while it is open.
const native = require('../native');

/**
 * Starts handing Sofia's lines at levels 1..level to `log`, each at the level mapped from
 * `level` (Sofia does not say a line's level; see logging.sofiaLevel in config/gateway.yaml).
 * @param {number} level 1..9
 * @param {import('./logger').LogFunction} log
 * @returns {{ close(): void }}
 */
function startSofiaLog(level, log) {
  const tap = new native.SofiaLog(level, (lines) => {
    for (const line of lines) log(tap.logLevel, line, { source: 'sofia-sip' });
  });
  return tap;
}

module.exports = { startSofiaLog };
