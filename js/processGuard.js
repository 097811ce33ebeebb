'use strict';
// The last line of defence of a gateway process: an exception or a rejected Promise that no code
// handled is logged and counted instead of ending the process (and with it every request in
// flight and every held subscription). It is a safety net, not error handling: every input is
// validated where it enters and every callback catches its own errors, and a count above zero
// here is a bug to report. Installed by `parlayx-gateway serve`; a library user decides for their
// own process.

/**
 * @param {{ log: (level: string, message: string, extra?: object) => void, target?: NodeJS.Process }} options
 * @returns {{ stats: () => { uncaughtExceptions: number, unhandledRejections: number }, uninstall: () => void }}
 */
function installProcessGuard({ log, target = process }) {
  const counters = { uncaughtExceptions: 0, unhandledRejections: 0 };
  const onException = (error) => {
    counters.uncaughtExceptions++;
    log('error', 'uncaught exception (the process keeps running)', {
      error: (error && error.stack) || String(error), count: counters.uncaughtExceptions,
    });
  };
  const onRejection = (reason) => {
    counters.unhandledRejections++;
    log('error', 'unhandled promise rejection (the process keeps running)', {
      error: (reason && reason.stack) || String(reason), count: counters.unhandledRejections,
    });
  };
  target.on('uncaughtException', onException);
  target.on('unhandledRejection', onRejection);
  return {
    stats: () => ({ ...counters }),
    uninstall: () => {
      target.off('uncaughtException', onException);
      target.off('unhandledRejection', onRejection);
    },
  };
}

module.exports = { installProcessGuard };
