'use strict';

/**
 * Starts Kamailio 5.6 on 127.0.0.1 (UDP and TCP, a free port) as the Call Notification rig's
 * S-CSCF (scscf.cfg.template: ISC emulated with tm/rr/textops, a fixed user -> callee location
 * table) or as a do-nothing application server (as-proxy.cfg.template) that stands in for the
 * gateway.
 */

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { spawnSupervised } = require('./supervise');
const sip = require('./sip-client');
const { freePort, findExecutable, MODULE_DIRS, MAX_SOCKET_PATH } = require('./kamailio');

const HOST = '127.0.0.1';
const TEMPLATES = {
  scscf: path.join(__dirname, 'scscf.cfg.template'),
  as: path.join(__dirname, 'as-proxy.cfg.template'),
};
/** Every module the two templates load; all are in Debian's base "kamailio" package. */
const MODULES = ['kex', 'corex', 'tm', 'sl', 'rr', 'pv', 'maxfwd', 'textops', 'siputils', 'xlog', 'ctl'];
/** Kamailio stands in for the AS with this URI when the S-CSCF must route straight on. */
const NO_AS = 'sip:127.0.0.1:1';

function findKamailio() {
  const kamailio = findExecutable('kamailio', ['/usr/sbin', '/usr/local/sbin', '/sbin']);
  const moduleDir = MODULE_DIRS.find((d) => fs.existsSync(path.join(d, 'tm.so')));
  const missing = moduleDir ? MODULES.filter((m) => !fs.existsSync(path.join(moduleDir, `${m}.so`))) : MODULES;
  if (!kamailio || missing.length > 0) {
    throw new Error(`Kamailio S-CSCF cannot start: ${kamailio ? '' : 'no kamailio binary; '}`
      + `${missing.length ? `missing modules ${missing.join(', ')}; ` : ''}install: apt-get install -y kamailio`);
  }
  return { kamailio, moduleDir };
}

function render(template, vars) {
  let text = fs.readFileSync(template, 'utf8');
  for (const [key, value] of Object.entries(vars)) text = text.split(`@@${key}@@`).join(String(value));
  const left = /@@[A-Z_]+@@/.exec(text);
  if (left) throw new Error(`${path.basename(template)}: unreplaced marker ${left[0]}`);
  return text;
}

const USER = /^[A-Za-z0-9+._-]+$/;
const HOSTPORT_URI = /^sip:127\.0\.0\.1:\d{1,5}(;transport=(udp|tcp))?$/;

/** route[LOCATION]'s body: one line per user, the R-URI user part -> the callee's address. */
function locationBlock(users) {
  return Object.entries(users).map(([user, uri]) => {
    if (!USER.test(user)) throw new Error(`bad user ${JSON.stringify(user)}`);
    if (!HOSTPORT_URI.test(uri)) throw new Error(`bad callee address ${JSON.stringify(uri)} (sip:127.0.0.1:<port>)`);
    return `\tif ($rU == "${user}") {\n\t\t$du = "${uri}";\n\t\treturn;\n\t}`;
  }).join('\n');
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Starts one Kamailio from a template on a free port and waits for 200 to OPTIONS.
 * @param {'scscf'|'as'} kind
 * @param {(port:number, runDir:string, moduleDir:string) => object} varsOf the markers' values
 * @param {{ log?: boolean|((chunk:string)=>void), startTimeoutMs?: number, memoryMb?: number }} opts
 *   memoryMb: shared memory (-m; a bench at thousands of calls/s keeps tens of thousands of
 *   transactions for tm's wait timer)
 */
async function startFromTemplate(kind, varsOf, { log, startTimeoutMs = 10000, memoryMb = 64 } = {}) {
  const inst = findKamailio();
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    try {
      return await startOnce(kind, inst, port, varsOf, { log, startTimeoutMs, memoryMb });
    } catch (err) {
      // The port chosen by freePort() can be taken before Kamailio binds it.
      if (attempt >= 3 || !/Address already in use|bind\(/.test(err.message)) throw err;
    }
  }
}

async function startOnce(kind, inst, port, varsOf, { log, startTimeoutMs, memoryMb }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kamailio-${kind}-`));
  const runDir = Buffer.byteLength(path.join(dir, 'run', 'kamailio_ctl')) > MAX_SOCKET_PATH
    ? fs.mkdtempSync(path.join('/tmp', 'kam-run-'))
    : path.join(dir, 'run');
  fs.mkdirSync(runDir, { recursive: true });
  const cfgFile = path.join(dir, 'kamailio.cfg');
  fs.writeFileSync(cfgFile, render(TEMPLATES[kind], varsOf(port, runDir, inst.moduleDir)));

  let onOutput;
  if (typeof log === 'function') onOutput = log;
  else if (log) onOutput = (s) => process.stderr.write(s);
  const proc = spawnSupervised(inst.kamailio, [
    '-DD', '-E', '-f', cfgFile, '-P', path.join(runDir, 'kamailio.pid'), '-Y', runDir, '-w', dir, '-m', String(memoryMb), '-M', '8',
  ], { cwd: dir, onOutput });

  let keep = false;
  const stop = async () => {
    await proc.stop({ signal: 'SIGTERM', graceMs: 3000 });
    if (!runDir.startsWith(dir)) fs.rmSync(runDir, { recursive: true, force: true });
    if (!keep) fs.rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    let why = null;
    if (proc.hasExited()) why = `exited with ${JSON.stringify(await proc.exited)}`;
    else if (Date.now() > deadline) why = `no 200 to OPTIONS within ${startTimeoutMs} ms`;
    if (why) {
      keep = true; // Left for diagnosis.
      await stop();
      throw new Error(`Kamailio ${kind} did not start (${why}); cfg ${cfgFile}; last output:\n`
        + proc.logs().split('\n').slice(-40).join('\n'));
    }
    try {
      const res = await sip.options({ host: HOST, port }, { timeoutMs: 300 });
      if (res.status === 200) break;
    } catch {
      // Not listening yet.
    }
    await delay(100);
  }
  return { kind, host: HOST, sipPort: port, uri: `sip:${HOST}:${port}`, pid: proc.pid, workDir: dir, cfgFile, stop,
    logs: proc.logs, exited: proc.exited };
}

/**
 * Starts the rig's S-CSCF.
 * @param {object} opts
 * @param {Object<string,string>} opts.users R-URI user part -> callee address 'sip:127.0.0.1:<port>'
 *   (users of the home domain not in it get 404 from the S-CSCF)
 * @param {string|null} [opts.as] the AS the INVITE filter routes to ('sip:127.0.0.1:<port>'); null:
 *   no filter, INVITEs go straight to the callee
 * @param {string} [opts.domain='example.test'] the home domain
 * @param {number} [opts.ringTimeoutMs=10000] tm fr_inv_timer on the callee leg: 408 after ringing
 * @param {number} [opts.answerTimeoutMs=3000] tm fr_timer: 408 when a callee sends nothing
 * @param {number} [opts.asTimeoutMs=2000] the AS must answer (100) within this, or the call
 *   continues without it
 * @param {number} [opts.asRingTimeoutMs=120000] the AS leg's fr_inv_timer (the callee leg's decides)
 * @param {number} [opts.children=2] UDP worker processes
 * @param {number} [opts.debug=1]
 * @param {number} [opts.memoryMb=64] shared memory
 * @param {boolean|((chunk:string)=>void)} [opts.log]
 * @returns {Promise<{host:string, sipPort:number, uri:string, domain:string, pid:number,
 *   cfgFile:string, stop:()=>Promise<void>, logs:()=>string}>}
 */
async function startScscf({
  users, as = null, domain = 'example.test', ringTimeoutMs = 10000, answerTimeoutMs = 3000, asTimeoutMs = 2000,
  asRingTimeoutMs = 120000, children = 2, debug = 1, log, startTimeoutMs, memoryMb,
} = {}) {
  if (!/^[A-Za-z0-9.-]+$/.test(domain)) throw new Error(`bad domain ${JSON.stringify(domain)}`);
  if (as !== null && !HOSTPORT_URI.test(as)) throw new Error(`bad AS address ${JSON.stringify(as)}`);
  const location = locationBlock(users || {});
  const instance = await startFromTemplate('scscf', (port, runDir, moduleDir) => ({
    DEBUG: debug,
    CHILDREN: children,
    PORT: port,
    DOMAIN: domain,
    MODULE_DIR: moduleDir,
    RUN_DIR: runDir,
    ISC_DEFINE: as === null ? '# No application server: no filter criteria.' : '#!define WITH_ISC',
    AS_URI: as === null ? NO_AS : as,
    FR_TIMER: answerTimeoutMs,
    FR_INV_TIMER: ringTimeoutMs,
    AS_FR_TIMER: asTimeoutMs,
    AS_FR_INV_TIMER: asRingTimeoutMs,
    LOCATION: location,
  }), { log, startTimeoutMs, memoryMb });
  return { ...instance, domain };
}

/**
 * Starts a plain Kamailio proxy as the AS (pops its Route, returns the INVITE to the S-CSCF).
 * @param {{ rewrites?: Object<string,string>, children?: number, debug?: number,
 *   log?: boolean|((chunk:string)=>void) }} [opts] rewrites: R-URI user -> new R-URI user of
 *   INVITEs (Call Direction's Route by hand)
 */
function startAsProxy({ rewrites = {}, children = 2, debug = 1, log, startTimeoutMs } = {}) {
  const lines = Object.entries(rewrites).map(([from, to]) => {
    if (!USER.test(from) || !USER.test(to)) throw new Error(`bad rewrite ${JSON.stringify([from, to])}`);
    return `\t\tif ($rU == "${from}") $rU = "${to}";`;
  });
  return startFromTemplate('as', (port, runDir, moduleDir) => ({
    DEBUG: debug, CHILDREN: children, PORT: port, MODULE_DIR: moduleDir, RUN_DIR: runDir,
    REWRITES: lines.join('\n') || '\t\t# (none)',
  }), { log, startTimeoutMs });
}

module.exports = { startScscf, startAsProxy, findKamailio };
