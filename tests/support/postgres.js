'use strict';
// A real PostgreSQL for the tests and benches: initdb into a fresh temporary directory, the
// server on a free loopback port (and its unix socket in that directory, never
// /var/run/postgresql), trust authentication for the `postgres` role, stopped and removed after.
//
// Binaries: $PX_PG_BIN when set, else the newest /usr/lib/postgresql/<version>/bin with initdb
// (Debian's postgresql package), else `pg_config --bindir`, else initdb on the PATH.
// initdb and postgres refuse to run as root: as root they run as the `postgres` system user
// (created by Debian's postgresql package, which scripts/install-deps.sh --with-test-tools
// installs) through runuser, and the directory is handed to that user. psql is a client and runs
// as whoever we are.
const { execFileSync, execFile, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { promisify } = require('node:util');
const { freePort } = require('../../scripts/kamailio/kamailio');

const run = promisify(execFile);

/** The directory of initdb, pg_ctl, postgres and psql. Throws naming what it looked at. */
function postgresBinDir() {
  const tried = [];
  const has = (dir) => {
    tried.push(dir);
    return dir && fs.existsSync(path.join(dir, 'initdb')) && fs.existsSync(path.join(dir, 'pg_ctl'));
  };
  if (process.env.PX_PG_BIN) {
    if (has(process.env.PX_PG_BIN)) return process.env.PX_PG_BIN;
    throw new Error(`PX_PG_BIN=${process.env.PX_PG_BIN} has no initdb/pg_ctl`);
  }
  const root = '/usr/lib/postgresql';
  if (fs.existsSync(root)) {
    const versions = fs.readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (has(path.join(root, v, 'bin'))) return path.join(root, v, 'bin');
  }
  for (const probe of [['pg_config', ['--bindir']], ['sh', ['-c', 'dirname "$(command -v initdb)"']]]) {
    try {
      const dir = execFileSync(probe[0], probe[1], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      if (has(dir)) return dir;
    } catch { /* next */ }
  }
  throw new Error(`no PostgreSQL server binaries (initdb, pg_ctl) found; looked in ${tried.filter(Boolean).join(', ')}; ` +
    'install Debian\'s postgresql (scripts/install-deps.sh --with-test-tools) or set PX_PG_BIN');
}

/** uid/gid of the `postgres` user, or null when there is none. */
function postgresUser() {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    return null;
  }
}

/**
 * Starts a PostgreSQL server in a new temporary directory.
 * @param {{ extraConf?: string[] }} [options] extraConf: more `-c name=value` settings
 * @returns {Promise<{ url: string, port: number, dir: string, bin: string,
 *   psql: (sql: string) => Promise<string>, stop: (mode?: string) => Promise<void>,
 *   start: () => Promise<void>, destroy: () => Promise<void> }>}
 */
async function startPostgres({ extraConf = [] } = {}) {
  const bin = postgresBinDir();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'px-pg-'));
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'postgres.log');
  const asRoot = process.getuid && process.getuid() === 0;
  if (asRoot) {
    const owner = postgresUser();
    if (!owner) throw new Error('running as root, and there is no `postgres` user to run initdb/postgres as');
    fs.chownSync(dir, owner.uid, owner.gid);
  }
  // As root: runuser -u postgres -- <binary> ...; else the binary itself.
  const command = (name, args) => (asRoot
    ? ['runuser', ['-u', 'postgres', '--', path.join(bin, name), ...args]]
    : [path.join(bin, name), args]);
  const exec = async (name, args) => {
    const [file, argv] = command(name, args);
    try {
      return await run(file, argv, { cwd: dir, encoding: 'utf8' });
    } catch (error) {
      let log = '';
      try { log = fs.readFileSync(logFile, 'utf8'); } catch { /* none yet */ }
      throw new Error(`${name} ${args.join(' ')} failed: ${error.stderr || error.message}\n${log}`, { cause: error });
    }
  };

  await exec('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  const port = await freePort();
  const options = ['-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
    ...extraConf.flatMap((c) => ['-c', c])].join(' ');
  let running = false;
  const start = async () => {
    await exec('pg_ctl', ['-D', data, '-l', logFile, '-o', options, '-w', '-t', '30', 'start']);
    running = true;
  };
  const stop = async (mode = 'fast') => {
    if (!running) return;
    await exec('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '30', 'stop']);
    running = false;
  };
  // A test process that ends without destroy() (a failed beforeAll, a killed worker) must not
  // leave a server running: stopped at exit, synchronously.
  const onExit = () => {
    if (!running) return;
    const [file, argv] = command('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    spawnSync(file, argv, { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  await start();
  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    dir,
    bin,
    /** Runs SQL with psql; resolves its unaligned, tuples-only output. */
    async psql(sql) {
      const { stdout } = await run(path.join(bin, 'psql'), ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
      return stdout.trim();
    },
    stop,
    start,
    /** Stops the server (immediate) and removes its directory. */
    async destroy() {
      process.removeListener('exit', onExit);
      try { await stop('immediate'); } finally { fs.rmSync(dir, { recursive: true, force: true }); }
    },
  };
}

module.exports = { startPostgres, postgresBinDir };
