'use strict';
// The file-descriptor budget (js/fdBudget.js, docs/security.md): the configured caps added up
// and checked against the process's open-file limit, with a warning naming the keys when the
// caps could exceed it.
const fs = require('node:fs');
const path = require('node:path');
const { fdBudget, openFileLimit, checkFdBudget } = require('../../js/fdBudget');
const { freePort } = require('../../scripts/kamailio/kamailio');
const { startGateway, tempDir } = require('../support/gateway');

const config = (http, sip, delivery) => ({
  http: { maxConnections: http },
  sip: { tcp: { maxConnections: sip } },
  notifications: { delivery: { maxConnections: delivery } },
});

test('the budget is the sum of the connection caps and a fixed base', () => {
  expect(fdBudget(config(512, 256, 1024))).toEqual({
    shares: { 'http.maxConnections': 512, 'sip.tcp.maxConnections': 256, 'notifications.delivery.maxConnections': 1024, base: 64 },
    total: 1856,
  });
});

test('a budget over the limit is a warning naming the keys; under it, nothing is logged', () => {
  const logs = [];
  const log = (level, message, extra) => logs.push({ level, message, extra });
  expect(checkFdBudget(config(512, 256, 1024), log, 1024)).toEqual({ total: 1856, limit: 1024, fits: false });
  expect(logs).toHaveLength(1);
  expect(logs[0]).toMatchObject({ level: 'warn', extra: { budget: 1856, limit: 1024 } });
  expect(logs[0].extra.shares['http.maxConnections']).toBe(512);
  expect(checkFdBudget(config(100, 16, 100), log, 1024)).toEqual({ total: 280, limit: 1024, fits: true });
  expect(logs).toHaveLength(1);
});

test('the limit is read from /proc/self/limits (soft value)', () => {
  const file = path.join(tempDir('px-limits-'), 'limits');
  fs.writeFileSync(file, 'Limit                     Soft Limit           Hard Limit           Units     \n'
    + 'Max open files            4096                 524288               files     \n');
  expect(openFileLimit(file)).toBe(4096);
  fs.writeFileSync(file, 'Max open files            unlimited            unlimited            files\n');
  expect(openFileLimit(file)).toBe(Infinity);
  expect(openFileLimit(path.join(path.dirname(file), 'missing'))).toBeNull();
  expect(openFileLimit()).toBeGreaterThan(0); // this machine's own
});

test('a listening gateway reports its budget in securityStats()', async () => {
  const fixture = await startGateway({ presencePort: await freePort() });
  try {
    const { fdBudget: budget } = fixture.gateway.securityStats();
    expect(budget.total).toBe(fdBudget(fixture.gateway.config).total);
    expect(budget.limit).toBe(openFileLimit());
    expect(budget.fits).toBe(budget.total <= budget.limit);
  } finally {
    await fixture.gateway.close();
  }
});
