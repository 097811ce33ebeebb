#!/usr/bin/env node
'use strict';
// Usage records/s into PostgreSQL (store.backend: postgresql, issue 17), on demand:
//   node bench/usage-postgres.js [--records 200000] [--per-append 10] [--durability batched]
// Starts a throwaway PostgreSQL (tests/support/postgres.js), writes --records getStatus records
// through the gateway's own usage store (native UsageDatabase: validation, RECORDID, segmentation,
// the writer thread's multi-row INSERT ... ON CONFLICT DO NOTHING), appends of --per-append
// records, and waits until all are committed. Then, in the same run, psql COPYs the very same
// rows (exported to a file first) into a fresh table of the same layout and indexes: the limit
// the store is compared with (target: >= 80 %).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { parseArgs } = require('node:util');
const native = require('../js/native');
const { startPostgres } = require('../tests/support/postgres');

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '200000' },
    'per-append': { type: 'string', default: '10' },
    durability: { type: 'string', default: 'batched' },
  },
});
const RECORDS = Number(values.records);
const PER_APPEND = Number(values['per-append']);

async function main() {
  const pg = await startPostgres();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'px-bench-usage-pg-'));
  try {
    const yaml = `usage:\n  database: ${path.join(dir, 'usage.db')}\n  durability: ${values.durability}\n` +
      `  queueCapacity: 1000000\nstore:\n  backend: postgresql\n  url: "${pg.url}"\n  spool: ${path.join(dir, 'spool.db')}\n`;
    const db = new native.UsageDatabase({ text: yaml, name: 'bench.yaml' });
    const deadline = Date.now() + 10000;
    while (!db.stats().reachable) {
      if (Date.now() > deadline) throw new Error('the store did not connect');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const now = Date.now();
    const entry = (i) => ({
      globalId: `bench-${i}`, eventType: 'getStatus', statusCode: 0, recordTimeMs: now,
      attributes: {
        REQUESTER: 'bench-app', RESPONSE_TIME: '3', START_TIME: new Date(now).toISOString(),
        SERVICE: 'PX_TS_SIP', TARGET: `sip:user${i}@example.test`,
      },
    });
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const pending = [];
    for (let i = 0; i < RECORDS; i += PER_APPEND) {
      const batch = [];
      for (let j = i; j < Math.min(RECORDS, i + PER_APPEND); j++) batch.push(entry(j));
      pending.push(db.record(batch));
      if (pending.length >= 256) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    const acceptedSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    while (db.stats().written < RECORDS) await new Promise((resolve) => setImmediate(resolve));
    const storeSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const stats = db.stats();
    await db.close();

    // The writer alone: the same number of records, all queued within one long flush interval
    // (LINGER_MS after the first append the writer takes them as one batch), timed from then
    // until they are committed: record production excluded.
    await pg.psql('CREATE TABLE usage_first AS SELECT * FROM usage_record; TRUNCATE usage_record');
    const LINGER_MS = 5000;
    const db2 = new native.UsageDatabase({ text: yaml.replace('durability:', `flushIntervalMs: ${LINGER_MS}\n  durability:`), name: 'bench.yaml' });
    while (!db2.stats().reachable) await new Promise((resolve) => setTimeout(resolve, 10));
    const first = process.hrtime.bigint();
    for (let i = 0; i < RECORDS; i += PER_APPEND) {
      const batch = [];
      for (let j = i; j < Math.min(RECORDS, i + PER_APPEND); j++) batch.push(entry(RECORDS + j));
      await db2.record(batch);
    }
    const queuedAfterMs = Number(process.hrtime.bigint() - first) / 1e6;
    if (queuedAfterMs >= LINGER_MS) throw new Error(`producing took ${queuedAfterMs} ms, longer than the linger`);
    while (db2.stats().written < RECORDS) await new Promise((resolve) => setTimeout(resolve, 1));
    const writerSeconds = Number(process.hrtime.bigint() - first) / 1e9 - LINGER_MS / 1000;
    const writerCommits = db2.stats().commits;
    await db2.close();

    const rows = Number(await pg.psql('SELECT count(*) FROM usage_first'));
    const writerRows = Number(await pg.psql('SELECT count(*) FROM usage_record'));
    const file = path.join(pg.dir, 'rows.copy');
    await pg.psql(`\\copy usage_first TO '${file}'`);
    await pg.psql('CREATE TABLE usage_copy (LIKE usage_record INCLUDING ALL)');
    const psql = path.join(pg.bin, 'psql');
    const c0 = process.hrtime.bigint();
    execFileSync(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', pg.url, '-c', `\\copy usage_copy FROM '${file}'`]);
    const copySeconds = Number(process.hrtime.bigint() - c0) / 1e9;
    const copied = Number(await pg.psql('SELECT count(*) FROM usage_copy'));

    const storeRate = rows / storeSeconds;
    const copyRate = copied / copySeconds;
    console.log(JSON.stringify({
      records: RECORDS, perAppend: PER_APPEND, durability: values.durability,
      store: { rows, seconds: +storeSeconds.toFixed(3), acceptedAfterSeconds: +acceptedSeconds.toFixed(3), rowsPerSecond: Math.round(storeRate), commits: stats.commits,
        cpuSecondsOfProcess: +((cpu.user + cpu.system) / 1e6).toFixed(3) },
      writerAlone: { rows: writerRows, seconds: +writerSeconds.toFixed(3), rowsPerSecond: Math.round(RECORDS / writerSeconds), commits: writerCommits,
        vsCopy: `${((100 * RECORDS) / writerSeconds / copyRate).toFixed(1)} %` },
      psqlCopy: { rows: copied, seconds: +copySeconds.toFixed(3), rowsPerSecond: Math.round(copyRate) },
      storeVsCopy: `${((100 * storeRate) / copyRate).toFixed(1)} %`,
    }, null, 2));
  } finally {
    await pg.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
