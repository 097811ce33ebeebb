'use strict';

/**
 * Runs a server binary (Kamailio, SIPp) as a child process that cannot
 * outlive this Node process:
 * - it gets its own process group (so its workers can be killed together);
 * - a tiny shell watchdog in that group reads our stdin pipe and kills the
 *   whole group when the pipe closes, i.e. when Node dies even by SIGKILL;
 * - a process 'exit' hook kills every group still alive.
 * Output is kept in a bounded ring buffer for diagnostics.
 */

const { spawn } = require('node:child_process');

const live = new Set();
let exitHookInstalled = false;

function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of live) p.killGroup('SIGKILL');
  });
}

// $0 is the program, "$@" its arguments. fd 3 keeps the stdin pipe for the
// watchdog only; the program itself gets /dev/null on stdin. The watchdog is
// double-forked (the middle shell is reaped before exec) so that it is not a
// child of the program: Kamailio waits for, and reacts to, its own children.
const WRAPPER = [
  'exec 3<&0',
  '( ( read -r _ <&3; kill -s KILL 0 ) >/dev/null 2>&1 </dev/null & )',
  'exec "$0" "$@" </dev/null 3<&-',
].join('\n');

/**
 * Spawns a supervised child.
 * @param {string} file program path
 * @param {string[]} args its arguments
 * @param {{cwd?:string, env?:object, logLimit?:number, onOutput?:(chunk:string)=>void}} [opts]
 * @returns {{pid:number, exited:Promise<{code:number|null, signal:string|null}>,
 *   hasExited:()=>boolean, logs:()=>string, killGroup:(sig:string)=>void,
 *   stop:(opts?:{signal?:string, graceMs?:number})=>Promise<void>}}
 */
function spawnSupervised(file, args, { cwd, env, logLimit = 256 * 1024, onOutput } = {}) {
  installExitHook();
  const child = spawn('/bin/sh', ['-c', WRAPPER, file, ...args], {
    cwd,
    env: env || process.env,
    detached: true, // Own process group: pgid === pid.
    stdio: ['pipe', 'pipe', 'pipe'],
  });

  const chunks = [];
  let size = 0;
  const collect = (buf) => {
    const s = buf.toString('utf8');
    chunks.push(s);
    size += s.length;
    while (size > logLimit && chunks.length > 1) size -= chunks.shift().length;
    if (onOutput) onOutput(s);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  // EPIPE on the watchdog pipe after the group is gone is expected.
  child.stdin.on('error', () => {});

  let exitInfo = null;
  const handle = {
    pid: child.pid,
    logs: () => chunks.join(''),
    hasExited: () => exitInfo !== null,
    killGroup(sig) {
      if (!child.pid) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // ESRCH: the group is gone already.
      }
    },
    exited: null,
    stop: null,
  };

  handle.exited = new Promise((resolve) => {
    child.on('error', (err) => {
      collect(Buffer.from(`\n[spawn error] ${err.message}\n`));
      exitInfo = { code: null, signal: null, error: err };
      live.delete(handle);
      resolve(exitInfo);
    });
    child.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });
  live.add(handle);

  let stopping = null;
  handle.stop = ({ signal = 'SIGTERM', graceMs = 3000 } = {}) => {
    if (stopping) return stopping;
    stopping = (async () => {
      if (!exitInfo && child.pid) {
        try {
          process.kill(child.pid, signal);
        } catch {
          // Exited in between.
        }
        let timer;
        const timedOut = await Promise.race([
          handle.exited.then(() => false),
          new Promise((resolve) => {
            timer = setTimeout(() => resolve(true), graceMs);
          }),
        ]);
        clearTimeout(timer);
        if (timedOut) handle.killGroup('SIGKILL');
        await handle.exited;
      }
      // Leftover workers and the watchdog.
      handle.killGroup('SIGKILL');
      child.stdin.destroy();
      live.delete(handle);
      // Let the pipes drain so logs() is complete.
      await new Promise((resolve) => {
        if (child.stdout.closed && child.stderr.closed) return resolve();
        const t = setTimeout(resolve, 500);
        child.once('close', () => {
          clearTimeout(t);
          resolve();
        });
      });
    })();
    return stopping;
  };
  return handle;
}

module.exports = { spawnSupervised };
