#!/usr/bin/env node
'use strict';
// Cold start, on demand (not part of CI):
//   node bench/coldstart.js [--runs 10] [--breakdown-runs 3] [--top 15]
// Every run spawns fresh Node processes, one after the other, and times:
// 1. the limit: `node -e 0`, spawn to exit (Node's own start-up and exit on this machine);
// 2. a script that only requires the package (index.js): spawn to exit, and the require itself
//    inside the process (performance.now(), which counts from process start);
// 3. a script that requires the package, creates a gateway (embedded SQLite usage and
//    notification stores in a fresh temp dir, SIP to a SIPp UAS as presence server) and asks
//    getStatus once through the JS API: require -> first getStatus answered inside the process
//    (the issue 15 target, <= 50 ms), split into require / createGateway / getStatus, and spawn
//    to the answer as the parent sees it.
// The three kinds alternate within each run, so machine noise hits them alike. Then the
// breakdown: Module._load is timed in a few more cold-start processes and the modules with the
// most self time (their own load and top-level code, without the modules they require; builtins
// and the addon's dlopen included) are printed with the phase that loaded them.
// Prints median and p90 of each figure beside the `node -e 0` limit, and a JSON line.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { parseArgs } = require('node:util');
const { startSippUas } = require('../tests/support/sipp');

const ROOT = path.join(__dirname, '..');
const INDEX = path.join(ROOT, 'index.js');
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    'breakdown-runs': { type: 'string', default: '3' },
    top: { type: 'string', default: '15' },
  },
});
const RUNS = Number(values.runs);
const BREAKDOWN_RUNS = Number(values['breakdown-runs']);
const TOP = Number(values.top);
const TARGET_MS = 50;
const ADDRESS = 'sip:alice@example.test';

// The child scripts are files (as an application's would be), written to the temp dir; each
// prints one JSON line starting with {"coldstart": among whatever the gateway logs.
const REQUIRE_ONLY = `'use strict';
const t0 = performance.now();
require(${JSON.stringify(INDEX)});
const t1 = performance.now();
process.stdout.write(JSON.stringify({ coldstart: 'require', boot: t0, require: t1 - t0 }) + '\\n');
`;

// The cold start proper; with PX_COLDSTART_BREAKDOWN set, Module._load is timed first.
const COLD_START = `'use strict';
const breakdown = process.env.PX_COLDSTART_BREAKDOWN ? new Map() : null;
let phase = 'require';
if (breakdown) {
  const Module = require('node:module');
  const load = Module._load;
  const stack = [];
  Module._load = function timedLoad(request, parent, isMain) {
    let name = request;
    try {
      name = Module._resolveFilename(request, parent, isMain);
    } catch {
      // Left to the real load, which throws the same.
    }
    const started = process.hrtime.bigint();
    stack.push(0n);
    try {
      return load.apply(this, arguments);
    } finally {
      const total = process.hrtime.bigint() - started;
      const inner = stack.pop();
      if (stack.length > 0) stack[stack.length - 1] += total;
      const row = breakdown.get(name) || { self: 0, phase };
      row.self += Number(total - inner) / 1e6;
      breakdown.set(name, row);
    }
  };
}
const t0 = performance.now();
const { createGateway } = require(${JSON.stringify(INDEX)});
const t1 = performance.now();
phase = 'createGateway';
createGateway({ configPath: process.argv[2] }).then(async (gateway) => {
  const t2 = performance.now();
  phase = 'getStatus';
  const status = await gateway.getStatus(${JSON.stringify(ADDRESS)});
  const t3 = performance.now();
  process.stdout.write(JSON.stringify({
    coldstart: 'getStatus', status, boot: t0, require: t1 - t0, create: t2 - t1, getStatus: t3 - t2,
    total: t3 - t0, modules: breakdown ? Object.fromEntries(breakdown) : undefined,
  }) + '\\n');
  await gateway.close();
});
`;

/**
 * Spawns node with args; resolves { wallMs (spawn to exit), answerMs (spawn to the result line),
 * result } and rejects when the process fails or prints no result.
 */
function runNode(args, env = process.env) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const since = () => Number(process.hrtime.bigint() - started) / 1e6;
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    let answerMs = null;
    let result = null;
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (result !== null) return;
      const line = /^(\{"coldstart":.*)\n/m.exec(out);
      if (line !== null) {
        answerMs = since();
        result = JSON.parse(line[1]);
      }
    });
    child.stderr.on('data', (chunk) => { err += chunk; });
    child.once('error', reject);
    child.once('close', (code) => {
      const wallMs = since();
      if (code !== 0) reject(new Error(`node ${args.join(' ')} exited with ${code}: ${err.slice(-2000)}`));
      else resolve({ wallMs, answerMs, result });
    });
  });
}

function writeConfig(dir, uasPort) {
  const config = path.join(dir, 'gateway.yaml');
  fs.writeFileSync(config, `sip:\n  port: 0\n  presenceServerUri: "sip:127.0.0.1:${uasPort}"\ncalls:\n  port: 0\n`
    + `usage:\n  database: ${path.join(dir, 'usage.db')}\nnotifications:\n  database: ${path.join(dir, 'notifications.db')}\n`);
  return config;
}

/** One cold start in a fresh state dir (the stores are created, as at a first start). */
async function coldStart(work, uasPort, run, env) {
  const dir = fs.mkdtempSync(path.join(work, `run-${run}-`));
  try {
    const r = await runNode([path.join(work, 'cold-start.js'), writeConfig(dir, uasPort)], env);
    if (!r.result || r.result.status !== 'Reachable') throw new Error(`cold start answered ${JSON.stringify(r.result)}`);
    return r;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Median and p90 (nearest rank) of a list of numbers. */
function summary(list) {
  const sorted = [...list].sort((a, b) => a - b);
  const rank = (p) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
  return { median: rank(0.5), p90: rank(0.9) };
}

const fmt = (s) => `median ${s.median.toFixed(1)} ms, p90 ${s.p90.toFixed(1)} ms`;

async function main() {
  // SIPp is a Debian package (sip-tester); install it when missing.
  const install = spawnSync('bash', [path.join(ROOT, 'scripts', 'install-deps.sh'), '--with-bench-tools'], { stdio: 'inherit' });
  if (install.status !== 0) throw new Error('installing the benchmark tools failed');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'px-bench-coldstart-'));
  fs.writeFileSync(path.join(work, 'require-only.js'), REQUIRE_ONLY);
  fs.writeFileSync(path.join(work, 'cold-start.js'), COLD_START);
  const uas = await startSippUas({ scenario: 'subscribe-200-notify', keys: { basic: 'open', person: '' } });
  const samples = {
    limit: [], requireWall: [], requireInside: [], boot: [],
    total: [], require: [], create: [], getStatus: [], answerWall: [],
  };
  try {
    await coldStart(work, uas.port, 'warm-up'); // page cache, SIPp's first call
    for (let run = 0; run < RUNS; run++) {
      samples.limit.push((await runNode(['-e', '0'])).wallMs);
      const req = await runNode([path.join(work, 'require-only.js')]);
      samples.requireWall.push(req.wallMs);
      samples.requireInside.push(req.result.require);
      samples.boot.push(req.result.boot);
      const cold = await coldStart(work, uas.port, run);
      for (const key of ['total', 'require', 'create', 'getStatus']) samples[key].push(cold.result[key]);
      samples.answerWall.push(cold.answerMs);
    }
    const breakdown = new Map();
    for (let run = 0; run < BREAKDOWN_RUNS; run++) {
      const cold = await coldStart(work, uas.port, `breakdown-${run}`, { ...process.env, PX_COLDSTART_BREAKDOWN: '1' });
      for (const [name, row] of Object.entries(cold.result.modules)) {
        const entry = breakdown.get(name) || { self: [], phase: row.phase };
        entry.self.push(row.self);
        breakdown.set(name, entry);
      }
    }

    const s = Object.fromEntries(Object.entries(samples).map(([key, list]) => [key, summary(list)]));
    console.log(`${os.cpus().length} cores, ${os.cpus()[0].model}, node ${process.version}, ${RUNS} runs`);
    console.log(`limit: node -e 0, spawn to exit:                 ${fmt(s.limit)}`);
    console.log(`require only, spawn to exit:                     ${fmt(s.requireWall)}`);
    console.log(`  require() inside the process:                  ${fmt(s.requireInside)} `
      + `(process start to the script: ${fmt(s.boot)})`);
    console.log(`cold start, spawn to first getStatus answered:   ${fmt(s.answerWall)} (limit ${s.limit.median.toFixed(1)} ms)`);
    console.log(`  require -> first getStatus answered, inside:   ${fmt(s.total)}`);
    console.log(`    require ${fmt(s.require)}; createGateway ${fmt(s.create)}; getStatus ${fmt(s.getStatus)}`);
    console.log(`target: require -> first getStatus <= ${TARGET_MS} ms: ${s.total.median <= TARGET_MS ? 'met' : 'NOT met'} `
      + `(median ${s.total.median.toFixed(1)} ms; node -e 0 takes ${s.limit.median.toFixed(1)} ms here)`);

    const rows = [...breakdown].map(([name, e]) => ({
      module: name.startsWith(ROOT) ? path.relative(ROOT, name) : name,
      phase: e.phase,
      selfMs: e.self.reduce((a, b) => a + b, 0) / e.self.length,
    })).sort((a, b) => b.selfMs - a.selfMs);
    const loaded = (phase) => rows.filter((r) => r.phase === phase).length;
    console.log(`\nmodules by self time (mean of ${BREAKDOWN_RUNS} instrumented cold starts; own load and top-level code,`
      + ` without the modules they require): ${loaded('require')} loaded by require, ${loaded('createGateway')} by`
      + ` createGateway, ${loaded('getStatus')} by getStatus`);
    for (const r of rows.slice(0, TOP)) console.log(`  ${r.selfMs.toFixed(2).padStart(6)} ms  ${r.phase.padEnd(13)}  ${r.module}`);

    console.log(JSON.stringify({
      machine: `${os.cpus().length} cores, ${os.cpus()[0].model}`, node: process.version, runs: RUNS,
      ...s, targetMs: TARGET_MS, breakdown: rows.slice(0, TOP),
    }));
  } finally {
    await uas.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
