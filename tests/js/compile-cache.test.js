'use strict';
// js/compileCache.js: this package's modules load from V8's code cache in a later process, an
// edited module (even one of the same length) is compiled afresh, and nothing outside the
// package is touched. Each case runs in its own node processes (Jest has its own module loader).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.join(__dirname, '..', '..');

let dir;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'px-compile-cache-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs `script` in a new node process with the cache in `dir`; returns its JSON line. */
function run(script, env = {}) {
  const child = spawnSync(process.execPath, ['-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, JEST_WORKER_ID: '', PX_COMPILE_CACHE: '1', PX_COMPILE_CACHE_DIR: dir, ...env },
  });
  if (child.status !== 0) throw new Error(`node exited with ${child.status}: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').pop());
}

const REQUIRE_PACKAGE = `
const { createGateway } = require('./index.js');
const { stats } = require('./js/compileCache');
console.log(JSON.stringify({ ...stats, fn: typeof createGateway }));
`;

test('a second process loads the package from the cache; a process with the cache off writes none', () => {
  const off = run(REQUIRE_PACKAGE, { PX_COMPILE_CACHE: '0' });
  expect(off.installed).toBe(false);
  expect(fs.readdirSync(dir)).toEqual([]);

  const first = run(REQUIRE_PACKAGE);
  expect(first.installed).toBe(true);
  expect(first.fn).toBe('function');
  expect(first.hits).toBe(0);
  expect(first.misses).toBeGreaterThan(20); // index.js's modules, compiled by this process
  expect(fs.readdirSync(dir)).toHaveLength(1); // written at exit: the process ended before 2 s

  const second = run(REQUIRE_PACKAGE);
  expect(second.hits).toBe(first.misses);
  expect(second.misses).toBe(0);
  expect(second.rejected).toBe(0);
  expect(second.saved).toBe(0); // nothing new: the file is not rewritten
});

test('an edited module of the same length is compiled afresh, and modules outside the package keep Node\'s compile', () => {
  // A module inside the package (var/ is ignored by git) and one outside it.
  const inside = path.join(ROOT, 'var', `compile-cache-test-${process.pid}.js`);
  const outside = path.join(dir, 'outside.js');
  fs.mkdirSync(path.dirname(inside), { recursive: true });
  try {
    fs.writeFileSync(inside, "module.exports = 'A';\n");
    fs.writeFileSync(outside, 'module.exports = 1;\n');
    const script = `
      require('./js/compileCache').install();
      const value = require(${JSON.stringify(inside)});
      require(${JSON.stringify(outside)});
      const { stats } = require('./js/compileCache');
      console.log(JSON.stringify({ value, hits: stats.hits, misses: stats.misses }));`;
    expect(run(script)).toEqual({ value: 'A', hits: 0, misses: 1 }); // outside.js is not counted
    expect(run(script)).toEqual({ value: 'A', hits: 1, misses: 0 });
    fs.writeFileSync(inside, "module.exports = 'B';\n"); // same length: V8's own check would pass
    expect(run(script)).toEqual({ value: 'B', hits: 0, misses: 1 });
    expect(run(script)).toEqual({ value: 'B', hits: 1, misses: 0 });
  } finally {
    fs.rmSync(inside, { force: true });
  }
});

test('a cache file that is not one is ignored and replaced', () => {
  run(REQUIRE_PACKAGE);
  const [name] = fs.readdirSync(dir);
  fs.writeFileSync(path.join(dir, name), 'pxcc1\n99999999\n{"truncated":');
  const after = run(REQUIRE_PACKAGE);
  expect(after.hits).toBe(0);
  expect(after.misses).toBeGreaterThan(20);
  expect(run(REQUIRE_PACKAGE).misses).toBe(0);
});

test('an unwritable cache directory only costs the compile', () => {
  const file = path.join(dir, 'not-a-directory');
  fs.writeFileSync(file, '');
  const result = run(REQUIRE_PACKAGE, { PX_COMPILE_CACHE_DIR: file });
  expect(result.fn).toBe('function');
  expect(result.misses).toBeGreaterThan(20);
});
