'use strict';
// The file-descriptor budget (docs/security.md): what each listener and store may hold at most,
// from the configuration, against the process's limit. Every share is capped by its own key, so
// a flood on one listener uses up its own share and never the descriptors the others need; this
// only has to check that the shares fit, and says so at start when they do not.
const fs = require('node:fs');

// Sockets and files that are not connections: the SIP UDP socket and TCP listener, the HTTP
// listener, the two SQLite databases with their WAL and shared-memory files (and a read
// connection of the usage store), libuv's own (epoll, eventfd, signal pipes), stdio.
const BASE = 64;

/**
 * @param {import('../index').GatewayConfig} config
 * @returns {{ shares: Record<string, number>, total: number }}
 */
function fdBudget(config) {
  const shares = {
    'http.maxConnections': config.http.maxConnections,
    'sip.tcp.maxConnections': config.sip.tcp ? config.sip.tcp.maxConnections : 0,
    'notifications.delivery.maxConnections': config.notifications.delivery.maxConnections,
    base: BASE,
  };
  return { shares, total: Object.values(shares).reduce((a, b) => a + (b || 0), 0) };
}

/** The soft limit of open files of this process (Linux), or null when it cannot be read. */
function openFileLimit(limitsFile = '/proc/self/limits') {
  try {
    const line = fs.readFileSync(limitsFile, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line && line.slice('Max open files'.length).trim().split(/\s+/)[0];
    if (soft === 'unlimited') return Infinity;
    const value = Number(soft);
    return Number.isInteger(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * Logs the budget at start; a warning naming the keys when it exceeds the limit.
 * @returns {{ total: number, limit: number | null, fits: boolean }}
 */
function checkFdBudget(config, log, limit = openFileLimit()) {
  const { shares, total } = fdBudget(config);
  const fits = limit === null || total <= limit;
  if (!fits) {
    log('warn', 'file-descriptor budget exceeds the open-file limit: a flood could starve other listeners', {
      budget: total, limit, shares, fix: 'raise the limit (LimitNOFILE=, ulimit -n) or lower these keys',
    });
  }
  return { total, limit, fits };
}

module.exports = { fdBudget, openFileLimit, checkFdBudget };
