'use strict';

/**
 * Starts a real Kamailio 5.6 presence server on 127.0.0.1 (UDP and TCP) for
 * tests and for scripts/presence-server.js. See presence.cfg.template.
 */

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const dgram = require('node:dgram');
const net = require('node:net');
const { execFileSync } = require('node:child_process');

const { spawnSupervised } = require('./supervise');
const sip = require('./sip-client');

const HOST = '127.0.0.1';
const TEMPLATE = path.join(__dirname, 'presence.cfg.template');
/** startKamailio's `template` option: presence server only, or presence server + registrar. */
const TEMPLATES = {
  presence: TEMPLATE,
  reginfo: path.join(__dirname, 'reginfo.cfg.template'),
  // presence + rls (RFC 4662 resource lists from the xcap table; tests/support/rls.js)
  rls: path.join(__dirname, 'rls.cfg.template'),
  // presence + an XDMS: xcap_server over xhttp (XCAP groups; tests/js/xcap-groups.test.js)
  xcap: path.join(__dirname, 'xcap.cfg.template'),
};
const APT_PACKAGES = 'kamailio kamailio-presence-modules kamailio-sqlite-modules sqlite3';
const MODULE_DIRS = [
  '/usr/lib/x86_64-linux-gnu/kamailio/modules',
  '/usr/lib/aarch64-linux-gnu/kamailio/modules',
  '/usr/lib/kamailio/modules',
  '/usr/lib64/kamailio/modules',
  '/usr/local/lib64/kamailio/modules',
  '/usr/local/lib/kamailio/modules',
];
const SQL_DIRS = ['/usr/share/kamailio/db_sqlite', '/usr/local/share/kamailio/db_sqlite'];
/** Module file -> Debian package that ships it. */
const REQUIRED_MODULES = {
  'tm.so': 'kamailio',
  'sl.so': 'kamailio',
  'rr.so': 'kamailio',
  'pv.so': 'kamailio',
  'maxfwd.so': 'kamailio',
  'textops.so': 'kamailio',
  'siputils.so': 'kamailio',
  'xlog.so': 'kamailio',
  'kex.so': 'kamailio',
  'corex.so': 'kamailio',
  'ctl.so': 'kamailio',
  'presence.so': 'kamailio-presence-modules',
  'presence_xml.so': 'kamailio-presence-modules',
  'db_sqlite.so': 'kamailio-sqlite-modules',
};
/** Unix socket paths are limited to 108 bytes (sun_path). */
const MAX_SOCKET_PATH = 100;

function findExecutable(name, extraDirs = []) {
  const dirs = [...(process.env.PATH || '').split(path.delimiter), ...extraDirs];
  for (const dir of dirs) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // Not here.
    }
  }
  return null;
}

/**
 * Locates the Kamailio binary, module directory, SQL schemas and sqlite3 CLI.
 * @returns {{kamailio:string, sqlite3:string, moduleDir:string, sqlDir:string}}
 * @throws {Error} naming the Debian packages to install when something is missing
 */
function findInstallation() {
  const missing = new Set();
  const what = [];
  const kamailio = findExecutable('kamailio', ['/usr/sbin', '/usr/local/sbin', '/sbin']);
  if (!kamailio) {
    missing.add('kamailio');
    what.push('the kamailio binary');
  }
  const sqlite3 = findExecutable('sqlite3');
  if (!sqlite3) {
    missing.add('sqlite3');
    what.push('the sqlite3 CLI');
  }
  const moduleDir = MODULE_DIRS.find((d) => fs.existsSync(path.join(d, 'tm.so'))) || MODULE_DIRS[0];
  for (const [mod, pkg] of Object.entries(REQUIRED_MODULES)) {
    if (!fs.existsSync(path.join(moduleDir, mod))) {
      missing.add(pkg);
      what.push(`module ${mod}`);
    }
  }
  const sqlDir = SQL_DIRS.find((d) => fs.existsSync(path.join(d, 'presence-create.sql')));
  if (!sqlDir) {
    missing.add('kamailio-sqlite-modules');
    what.push('db_sqlite schemas (presence-create.sql)');
  }
  if (missing.size > 0) {
    throw new Error(
      `Kamailio presence server cannot start: missing ${what.join(', ')}. ` +
        `Install the Debian packages: apt-get install -y ${[...missing].join(' ')} ` +
        `(all needed: ${APT_PACKAGES}).`,
    );
  }
  return { kamailio, sqlite3, moduleDir, sqlDir };
}

function tryBindUdp(port) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind(port, HOST, () => {
      s.close(() => resolve(true));
    });
  });
}

function tryListenTcp(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: HOST, exclusive: true }, () => {
      srv.close(() => resolve(true));
    });
  });
}

/**
 * Finds a port that is free for both UDP and TCP on 127.0.0.1. Ports are
 * picked from 20000-29999, below Linux's ephemeral range, so client sockets
 * opened meanwhile do not take them.
 * @returns {Promise<number>}
 */
async function freePort() {
  for (let i = 0; i < 200; i += 1) {
    const port = 20000 + Math.floor(Math.random() * 10000);
    if ((await tryBindUdp(port)) && (await tryListenTcp(port))) return port;
  }
  throw new Error('no free UDP+TCP port found on 127.0.0.1');
}

function renderConfig(vars, template = TEMPLATE) {
  let text = fs.readFileSync(template, 'utf8');
  for (const [key, value] of Object.entries(vars)) {
    text = text.split(`@@${key}@@`).join(String(value));
  }
  const left = /@@[A-Z_]+@@/.exec(text);
  if (left) throw new Error(`${path.basename(template)}: unreplaced marker ${left[0]}`);
  return text;
}

function createDatabase(sqlite3, sqlDir, dbFile) {
  fs.rmSync(dbFile, { force: true });
  for (const suffix of ['-wal', '-shm', '-journal']) fs.rmSync(dbFile + suffix, { force: true });
  // rls-create.sql: rls_watchers and rls_presentity (only the rls template uses them).
  const sql = ['standard-create.sql', 'presence-create.sql', 'rls-create.sql']
    .filter((f) => fs.existsSync(path.join(sqlDir, f)))
    .map((f) => fs.readFileSync(path.join(sqlDir, f), 'utf8'))
    .join('\n');
  // WAL lets Kamailio's workers read while the timer process writes.
  execFileSync(sqlite3, [dbFile], { input: `${sql}
`, stdio: ['pipe', 'ignore', 'pipe'] });
}

const DBTEXT_DIRS = ['/usr/share/kamailio/dbtext/kamailio', '/usr/local/share/kamailio/dbtext/kamailio'];

/** The db_text directory of rls's tables (rls.cfg.template's rls db_url). */
function createRlsTextTables(dir) {
  const src = DBTEXT_DIRS.find((d) => fs.existsSync(path.join(d, 'rls_presentity')));
  if (!src) throw new Error('db_text schema of rls_presentity not found: apt-get install -y kamailio');
  const out = path.join(dir, 'dbtext');
  fs.mkdirSync(out, { recursive: true });
  for (const table of ['rls_presentity', 'rls_watchers']) {
    fs.copyFileSync(path.join(src, table), path.join(out, table));
  }
  const version = fs.readFileSync(path.join(src, 'version'), 'utf8').split('\n')[0];
  fs.writeFileSync(path.join(out, 'version'), `${version}\n1:rls_presentity:1\n2:rls_watchers:3\n`);
  return out;
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Starts Kamailio as a presence server on 127.0.0.1 (UDP and TCP), with a
 * fresh SQLite database, and waits until it answers OPTIONS with 200.
 * @param {object} [opts]
 * @param {number} [opts.sipPort] port for UDP and TCP (default: freePort())
 * @param {string} [opts.domain='example.test'] served domain (alias)
 * @param {string} [opts.workDir] directory for cfg, DB and pid file (default: a new
 *   temp dir, removed by stop() unless keepWorkDir)
 * @param {boolean} [opts.keepWorkDir=false] keep the temp work dir after stop()
 * @param {boolean|((chunk:string)=>void)} [opts.log] echo Kamailio's output to
 *   stderr (true) or to a callback
 * @param {number} [opts.debug=2] Kamailio debug level (3 = debug)
 * @param {number} [opts.startTimeoutMs=10000]
 * @param {string} [opts.xcapPassword=''] template 'xcap': the HTTP Digest password XCAP
 *   requests must prove ('' = none)
 * @param {'presence'|'reginfo'|'rls'|'xcap'} [opts.template='presence'] 'reginfo' adds usrloc + registrar
 *   (REGISTER is saved) and pua_reginfo/presence_reginfo, serving the "reg" event (RFC 3680)
 * @returns {Promise<{sipPort:number, host:string, domain:string, uri:string, pid:number,
 *   workDir:string, dbFile:string, stop:()=>Promise<void>, logs:()=>string}>}
 * @throws {Error} if Kamailio is not installed (naming the packages) or does not come up
 */
async function startKamailio(opts = {}) {
  if (opts.sipPort) return startOnce(opts, opts.sipPort);
  // The port chosen by freePort() can be taken before Kamailio binds it.
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startOnce(opts, await freePort());
    } catch (err) {
      if (attempt >= 3 || !/Address already in use|bind\(/.test(err.message)) throw err;
    }
  }
}

async function startOnce(
  {
    domain = 'example.test',
    workDir,
    log,
    debug = 2,
    startTimeoutMs = 10000,
    keepWorkDir = false,
    template = 'presence',
    xcapPassword = '',
  },
  port,
) {
  const inst = findInstallation();
  if (!TEMPLATES[template]) throw new Error(`unknown Kamailio template ${JSON.stringify(template)}`);
  if (!/^[A-Za-z0-9.-]+$/.test(domain)) throw new Error(`bad domain ${JSON.stringify(domain)}`);
  const ownWorkDir = !workDir;
  const dir = path.resolve(workDir || fs.mkdtempSync(path.join(os.tmpdir(), 'kamailio-presence-')));
  fs.mkdirSync(dir, { recursive: true });

  let runDir = path.join(dir, 'run');
  let ownRunDir = false;
  if (Buffer.byteLength(path.join(runDir, 'kamailio_ctl')) > MAX_SOCKET_PATH) {
    runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kam-run-'));
    ownRunDir = true;
  }
  fs.mkdirSync(runDir, { recursive: true });

  const dbFile = path.join(dir, 'presence.db');
  createDatabase(inst.sqlite3, inst.sqlDir, dbFile);
  const dbTextDir = template === 'rls' ? createRlsTextTables(dir) : '';

  const uri = `sip:${HOST}:${port}`;
  const cfgFile = path.join(dir, 'kamailio.cfg');
  fs.writeFileSync(
    cfgFile,
    renderConfig({
      DEBUG: debug,
      PORT: port,
      DOMAIN: domain,
      MODULE_DIR: inst.moduleDir,
      RUN_DIR: runDir,
      // sqlite://<host>/<path>: empty host, then the absolute path.
      DB_URL: `sqlite:///${dbFile}`,
      SERVER_URI: uri,
      DB_UPDATE_PERIOD: 2,
      // rls only: rls's tables in db_text (db_sqlite 5.6 has no affected_rows/replace, which
      // rls_handle_notify calls: the worker crashes); its xcap documents stay in SQLite.
      DBTEXT_URL: `text://${dbTextDir}`,
      // xcap only: "" = XCAP without authentication, else HTTP Digest for this password.
      XCAP_PASSWORD: xcapPassword,
    }, TEMPLATES[template]),
  );

  let onOutput;
  if (typeof log === 'function') onOutput = log;
  else if (log) onOutput = (s) => process.stderr.write(s);

  const args = [
    '-DD', // Stay in the foreground as our child.
    '-E', // Log to stderr, captured below.
    '-f', cfgFile,
    '-P', path.join(runDir, 'kamailio.pid'),
    '-Y', runDir,
    '-w', dir,
    '-m', '64',
    '-M', '8',
  ];
  const proc = spawnSupervised(inst.kamailio, args, { cwd: dir, onOutput });

  const stop = async () => {
    await proc.stop({ signal: 'SIGTERM', graceMs: 3000 });
    if (ownRunDir) fs.rmSync(runDir, { recursive: true, force: true });
    if (ownWorkDir && !keepWorkDir) fs.rmSync(dir, { recursive: true, force: true });
  };
  const fail = async (why) => {
    keepWorkDir = true; // Left for diagnosis.
    await stop();
    const tail = proc.logs().split('\n').slice(-60).join('\n');
    throw new Error(`Kamailio did not start (${why}); cfg ${cfgFile}; last output:\n${tail}`);
  };

  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (proc.hasExited()) {
      const info = await proc.exited;
      await fail(`exited with code ${info.code} signal ${info.signal}`);
    }
    try {
      const res = await sip.options({ host: HOST, port }, { timeoutMs: 400 });
      if (res.status === 200) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) await fail(`no 200 to OPTIONS within ${startTimeoutMs} ms`);
    await delay(100);
  }

  return {
    sipPort: port,
    host: HOST,
    domain,
    uri,
    pid: proc.pid,
    workDir: dir,
    dbFile,
    stop,
    logs: proc.logs,
    /** Resolves when the Kamailio main process exits. */
    exited: proc.exited,
  };
}

module.exports = {
  startKamailio, freePort, findInstallation, findExecutable, renderConfig, APT_PACKAGES, MODULE_DIRS, MAX_SOCKET_PATH };
