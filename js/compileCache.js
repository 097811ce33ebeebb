'use strict';
// V8's code cache for this package's own modules (and the dependencies installed inside it), so
// that a process's require() runs compiled code instead of compiling ~75 modules again: about
// 7-9 ms of a 60-70 ms cold start (bench/coldstart.js, issue 15). Node 22 has this built in
// (module.enableCompileCache) but is process-wide and not in Node 20; the npm package
// v8-compile-cache hooks every module of the process too, which a library must not do to its
// host application (and it breaks import() in the modules it compiles). So: a hook on
// Module.prototype._compile that only takes files under this package's directory and hands every
// other file to Node's own compile, as before.
//
// One cache file per package directory and Node version, in PX_COMPILE_CACHE_DIR or
// <tmpdir>/parlayx-gateway-compile-cache-<uid>; PX_COMPILE_CACHE=0 turns it off. Each entry is
// keyed by the SHA-1 of the module's source (V8 itself only checks the source's length): an
// edited file is compiled afresh. The file is rewritten, atomically (write then rename), when a
// module missed the cache: 2 s after the first miss (the first requests have run by then, so the
// functions they compiled lazily are in the cache too; a function runtime's process may never
// exit normally) and at exit if that has not happened. A cache that cannot be read or written
// (read-only file system, another user's file) only costs the compile it would have saved.
const Module = require('node:module');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const vm = require('node:vm');
const { hash } = require('node:crypto');

const ROOT = path.resolve(__dirname, '..') + path.sep;
const MAGIC = 'pxcc1';
const SAVE_DELAY_MS = 2000;

/** @type {{ installed: boolean, file: string|null, hits: number, misses: number, rejected: number, saved: number }} */
const stats = { installed: false, file: null, hits: 0, misses: 0, rejected: 0, saved: 0 };

function cacheFile() {
  const dir = process.env.PX_COMPILE_CACHE_DIR
    || path.join(os.tmpdir(), `parlayx-gateway-compile-cache-${typeof process.getuid === 'function' ? process.getuid() : 'user'}`);
  const name = `${hash('sha1', ROOT).slice(0, 16)}-${process.version}-${process.arch}.bin`;
  return path.join(dir, name);
}

/**
 * The file's entries: filename -> { key, data }. Layout: MAGIC, '\n', the JSON index's length as
 * a decimal line, the index ({ filename: [key, offset, length] }), then the concatenated data.
 * @returns {Map<string, { key: string, data: Buffer }>}
 */
function readCache(file) {
  const entries = new Map();
  let bytes;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    return entries;
  }
  const first = bytes.indexOf(10);
  const second = first < 0 ? -1 : bytes.indexOf(10, first + 1);
  if (second < 0 || bytes.toString('latin1', 0, first) !== MAGIC) return entries;
  const indexLength = Number(bytes.toString('latin1', first + 1, second));
  const dataStart = second + 1 + indexLength;
  if (!Number.isSafeInteger(indexLength) || dataStart > bytes.length) return entries;
  let index;
  try {
    index = JSON.parse(bytes.toString('utf8', second + 1, dataStart));
  } catch {
    return entries;
  }
  for (const [filename, [key, offset, length]] of Object.entries(index)) {
    if (dataStart + offset + length > bytes.length) return new Map();
    entries.set(filename, { key, data: bytes.subarray(dataStart + offset, dataStart + offset + length) });
  }
  return entries;
}

function writeCache(file, entries) {
  const index = {};
  const parts = [];
  let offset = 0;
  for (const [filename, { key, data }] of entries) {
    index[filename] = [key, offset, data.length];
    parts.push(data);
    offset += data.length;
  }
  const json = Buffer.from(JSON.stringify(index));
  const head = Buffer.from(`${MAGIC}\n${json.length}\n`, 'latin1');
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(temporary, Buffer.concat([head, json, ...parts]), { mode: 0o600 });
    fs.renameSync(temporary, file);
  } finally {
    fs.rmSync(temporary, { force: true });
  }
}

/** Installs the hook once per process; later calls do nothing. */
function install() {
  if (stats.installed || process.env.PX_COMPILE_CACHE === '0') return stats;
  // Jest loads modules through its own registry; its own files live under node_modules here and
  // must keep Node's compile.
  if (process.env.JEST_WORKER_ID !== undefined && process.env.PX_COMPILE_CACHE !== '1') return stats;
  if (typeof Module.prototype._compile !== 'function' || typeof Module.wrap !== 'function') return stats;
  const file = cacheFile();
  const cached = readCache(file);
  /** Modules compiled by this process: filename -> { key, script } (their data is made at save). */
  const compiled = new Map();
  let saveTimer = null;
  let saved = false;

  const save = () => {
    if (saved) return;
    saved = true;
    if (saveTimer !== null) clearTimeout(saveTimer);
    try {
      const entries = new Map(cached);
      for (const [filename, { key, script }] of compiled) entries.set(filename, { key, data: script.createCachedData() });
      writeCache(file, entries);
      stats.saved++;
    } catch {
      // Not writable here: the next start compiles again, nothing else changes.
    }
  };
  const missed = () => {
    if (saveTimer === null && !saved) {
      saveTimer = setTimeout(save, SAVE_DELAY_MS);
      saveTimer.unref();
      process.once('exit', save);
    }
  };

  const nodeCompile = Module.prototype._compile;
  Module.prototype._compile = function compileWithCache(content, filename) {
    if (typeof filename !== 'string' || !filename.startsWith(ROOT) || !filename.endsWith('.js')) {
      return nodeCompile.call(this, content, filename);
    }
    const mod = this;
    const source = content.charCodeAt(0) === 35 && content.charCodeAt(1) === 33 // #! line: blanked, as Node does
      ? content.replace(/^#!.*/, '')
      : content;
    const key = hash('sha1', source);
    const entry = cached.get(filename);
    const script = new vm.Script(Module.wrap(source), {
      filename,
      cachedData: entry !== undefined && entry.key === key ? entry.data : undefined,
      importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    });
    if (entry !== undefined && entry.key === key && !script.cachedDataRejected) {
      stats.hits++;
    } else {
      if (entry !== undefined && entry.key === key) stats.rejected++;
      else stats.misses++;
      cached.delete(filename);
      compiled.set(filename, { key, script });
      missed();
    }
    // The require function Node would give the module (lib/internal/modules/helpers.js).
    const require = (id) => mod.require(id);
    require.resolve = (request, options) => Module._resolveFilename(request, mod, false, options);
    require.resolve.paths = (request) => Module._resolveLookupPaths(request, mod);
    require.main = process.mainModule;
    require.extensions = Module._extensions;
    require.cache = Module._cache;
    const wrapper = script.runInThisContext({ displayErrors: true });
    return wrapper.call(mod.exports, mod.exports, require, mod, filename, path.dirname(filename));
  };
  stats.installed = true;
  stats.file = file;
  return stats;
}

module.exports = { install, stats };
