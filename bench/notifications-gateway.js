'use strict';
// The gateway of the bench/notifications.js hold part, run as a child process
// (child_process.fork, with --expose-gc) so that its RSS and CPU are its own. Driven over IPC:
//   { type: 'init', configText }        -> { type: 'ready', sample }
//   { type: 'sample', gc? }             -> { type: 'sample', sample }
//   { type: 'start', count, endpoint, concurrency }
//                                       -> { type: 'started', started, duplicate, errors,
//                                            firstError, elapsedMs } once every promise settled
//   { type: 'logs' }                    -> { type: 'logs', logs }: counts and the first 20 warnings/errors
//   { type: 'close' }                   -> { type: 'closed', elapsedMs }, then exits
//   { type: 'abandon' }                 -> exits at once, the gateway still open (heaptrack)
// SIGTERM closes the gateway and exits, as `js/cli.js serve` does (bench/cluster.js: a clean
// shutdown hands the notifications over).
// A sample is { rss, heapUsed, external, arrayBuffers, cpuUs, uptime, stats }:
// process.memoryUsage(), process.cpuUsage() user+system in µs, process.uptime() and
// gateway.core.stats().
// Notifications go straight to the core (gateway.core.startNotification): the hold measures the
// subscriptions, not the SOAP layer.
const { createGateway } = require('../js/gateway');

let gateway = null;
const logs = { warn: 0, error: 0, last: [] };

function log(level, message, extra) {
  if (level !== 'warn' && level !== 'error') return;
  logs[level]++;
  if (logs.last.length < 20) logs.last.push({ level, message, ...extra });
}

function sample(collect) {
  if (collect && typeof global.gc === 'function') {
    global.gc();
    global.gc();
  }
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  return {
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    external: memory.external,
    arrayBuffers: memory.arrayBuffers,
    cpuUs: cpu.user + cpu.system,
    uptime: process.uptime(), // seconds since start, the time base of heaptrack's snapshots
    stats: gateway ? gateway.core.stats() : null,
    logs: { warn: logs.warn, error: logs.error },
  };
}

async function startAll({ count, endpoint, concurrency }) {
  const started = Date.now();
  const result = { started: 0, duplicate: 0, errors: 0, firstError: null };
  let next = 0;
  const now = Date.now();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      try {
        const outcome = await gateway.core.startNotification({
          requester: '',
          correlator: `bench-${i}`,
          endpoint,
          interfaceName: '',
          globalId: `bench-global-${i}`,
          addresses: [`sip:user${i}@example.test`],
          criteria: [],
          checkImmediate: false,
          frequencyMs: 0,
          createdAtMs: now,
          expiresAtMs: now + 24 * 3600e3,
        });
        if (outcome === 'started') result.started++;
        else result.duplicate++;
      } catch (error) {
        result.errors++;
        if (!result.firstError) result.firstError = error.message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { ...result, elapsedMs: Date.now() - started };
}

process.on('message', async (message) => {
  try {
    switch (message.type) {
      case 'init':
        gateway = await createGateway({ configText: message.configText, configName: 'bench-notifications.yaml', log });
        process.send({ type: 'ready', sample: sample(true) });
        break;
      case 'sample':
        process.send({ type: 'sample', sample: sample(message.gc) });
        break;
      case 'logs':
        process.send({ type: 'logs', logs });
        break;
      case 'start':
        process.send({ type: 'started', ...(await startAll(message)) });
        break;
      case 'abandon':
        // --heaptrack: die with everything still allocated, so that heaptrack's "leaked" list is
        // the memory the gateway holds at this moment (process.exit would run the addon's
        // cleanup hooks, which close the SIP stack first).
        process.kill(process.pid, 'SIGKILL');
        break;
      case 'close': {
        const t0 = Date.now();
        if (gateway) await gateway.close();
        process.send({ type: 'closed', elapsedMs: Date.now() - t0, logs }, () => process.exit(0));
        break;
      }
      default:
        throw new Error(`unknown message ${message.type}`);
    }
  } catch (error) {
    process.send({ type: 'error', message: error.stack || String(error) });
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => {
  const exit = () => process.exit(0);
  if (gateway) gateway.close().then(exit, exit);
  else exit();
});
