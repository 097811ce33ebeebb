'use strict';
// A gateway child process (`node js/cli.js serve --config <file>`) that a test can SIGKILL and
// start again on the same databases.
const path = require('node:path');
const { spawnSupervised } = require('../../scripts/kamailio/supervise');
const { MANAGER_PATH, TERMINAL_STATUS_PATH } = require('./hostileGateway');

const REPO = path.join(__dirname, '..', '..');

/**
 * Starts the gateway and waits for its "parlayx-gateway started" log line.
 * @param {string} configFile
 * @param {{ startTimeoutMs?: number, onOutput?: (chunk: string) => void }} [options] onOutput:
 *   every chunk of the child's output (proc.logs() keeps only the last 256 KiB)
 * @returns {Promise<{ proc: any, base: string, sipPort: number, endpoint: string, managerEndpoint: string,
 *   admin: string|null, kill: () => Promise<{code: number|null, signal: string|null}>, stop: () => Promise<any> }>}
 *   admin: the admin listener's base URL (admin.enabled), else null
 */
async function serveGateway(configFile, { startTimeoutMs = 10000, onOutput } = {}) {
  // PX_GATEWAY_NODE_ARGS: node options for the child, e.g. "--cpu-prof" when profiling a bench.
  const nodeArgs = (process.env.PX_GATEWAY_NODE_ARGS || '').split(' ').filter(Boolean);
  const proc = spawnSupervised(process.execPath, [...nodeArgs, path.join(REPO, 'js', 'cli.js'), 'serve', '--config', configFile],
    { cwd: REPO, onOutput });
  const deadline = Date.now() + startTimeoutMs;
  let line;
  for (;;) {
    if (proc.hasExited()) throw new Error(`gateway exited at start:\n${proc.logs()}`);
    line = proc.logs().split('\n').find((l) => l.includes('"parlayx-gateway started"'));
    if (line) break;
    if (Date.now() > deadline) {
      await proc.stop({ signal: 'SIGKILL' });
      throw new Error(`gateway did not start within ${startTimeoutMs} ms:\n${proc.logs()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const started = JSON.parse(line);
  const base = started.terminalStatus.replace(TERMINAL_STATUS_PATH, '');
  return {
    proc,
    base,
    sipPort: Number(started.sip.slice(started.sip.lastIndexOf(':') + 1)),
    endpoint: `${base}${TERMINAL_STATUS_PATH}`,
    managerEndpoint: `${base}${MANAGER_PATH}`,
    admin: started.admin || null,
    async kill() {
      await proc.stop({ signal: 'SIGKILL' });
      return proc.exited;
    },
    async stop() {
      await proc.stop({ signal: 'SIGTERM', graceMs: 5000 });
      return proc.exited;
    },
  };
}

module.exports = { serveGateway };
