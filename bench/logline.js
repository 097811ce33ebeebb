'use strict';
// The cost of one per-request log line (js/logging/requestLog.js) on the JS thread, beside pino
// writing the same fields with no redaction and no gateway options (the limit), in one run:
//   node bench/logline.js [--lines 200000] [--burst 20]
// Lines go to a file in a temp dir; `--burst` lines are written per event-loop turn, as under load,
// so that the asynchronous destination can join them. CPU is the whole process's (process.cpuUsage:
// the JS thread and, for the asynchronous destination, the libuv thread doing the writes).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const pino = require('pino');
const { createLogger, logFunction, unredactedLogFunction } = require('../js/logging/logger');
const { requestLog } = require('../js/logging/requestLog');

const { values } = parseArgs({ options: { lines: { type: 'string', default: '200000' }, burst: { type: 'string', default: '20' } } });
const LINES = Number(values.lines);
const BURST = Number(values.burst);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'px-logline-'));
const OPERATION = {
  requestId: '0b6c3d1e-6a0f-4d55-9a52-3f3b1f0c2a11', api: 'parlayx-terminal-status', operation: 'getStatus',
  requester: 'bench', outcome: 'Reachable', seconds: 0.00123,
};

/** µs of process CPU per line for `write(i)` called LINES times, BURST per loop turn. */
async function measure(write) {
  for (let i = 0; i < 2000; i++) write();
  const start = process.cpuUsage();
  for (let i = 0; i < LINES;) {
    for (let k = 0; k < BURST && i < LINES; k++, i++) write();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await new Promise((resolve) => setTimeout(resolve, 50)); // the last asynchronous writes
  const used = process.cpuUsage(start);
  return (used.user + used.system) / LINES;
}

function file(name, sync) {
  return pino.destination({ dest: path.join(dir, name), sync });
}

async function main() {
  const rows = [];
  const redacted = requestLog(logFunction(createLogger({ level: 'info' }, file('redacted-sync.log', true))));
  rows.push(['before: gateway logger with redaction, sync write', await measure(() => redacted(OPERATION))]);
  const unredactedSync = requestLog(unredactedLogFunction(createLogger({ level: 'info' }, file('plain-sync.log', true))));
  rows.push(['request line without redaction, sync write', await measure(() => unredactedSync(OPERATION))]);
  const now = requestLog(unredactedLogFunction(createLogger({ level: 'info' }, file('plain-async.log', false))));
  rows.push(['now: request line without redaction, async write', await measure(() => now(OPERATION))]);
  // The limit last: measured first it also pays the warm-up of pino's code paths.
  const bare = pino({ base: undefined }, file('bare.log', false));
  rows.unshift(['limit: bare pino, same fields, async file', await measure(() => bare.info(OPERATION, 'request'))]);
  for (const [name, us] of rows) console.log(`${name.padEnd(52)} ${us.toFixed(2)} µs CPU/line = ${(us / rows[0][1]).toFixed(2)} x limit`);
  console.log(JSON.stringify({ lines: LINES, burst: BURST, usPerLine: Object.fromEntries(rows) }));
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
