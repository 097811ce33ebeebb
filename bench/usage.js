#!/usr/bin/env node
'use strict';
// Usage-record benchmarks, on demand (not part of CI):
//   node bench/usage.js [--seconds 5]
// 1. Store throughput: bench/usage_store_bench.cc (C++, built with CMake) appends getStatus
//    records from 4 producer threads, one record per append and 100 per append, batched mode;
//    in the same run raw SQLite inserts the same rows (the limit), then the store's queries run.
// 2. Event-loop delay while the gateway serves getStatus with records on (durable mode): the
//    gateway runs in its own process against a SIPp presence server, wrk drives it, and the
//    gateway reports its event-loop delay (perf_hooks.monitorEventLoopDelay) at exit.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { parseArgs } = require('node:util');
const { startSippUas } = require('../tests/support/sipp');
const { freePort } = require('../scripts/kamailio/kamailio');
const { pacedLoad } = require('./paced');

const ROOT = path.join(__dirname, '..');
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' } } });
const SECONDS = Number(values.seconds);
const BODY = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:loc="http://www.csapi.org/schema/parlayx/terminal_status/v2_3/local">
<soapenv:Body><loc:getStatus><loc:address>sip:alice@example.test</loc:address></loc:getStatus></soapenv:Body>
</soapenv:Envelope>`;

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr || result.stdout}`);
  return result.stdout;
}

async function loopDelayUnderLoad(rate) {
  const uas = await startSippUas({
    scenario: 'subscribe-200-notify', keys: { basic: 'open', person: '' }, extraArgs: ['-buff_size', '4194304'],
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'px-bench-usage-'));
  try {
    const httpPort = await freePort();
    const config = path.join(dir, 'gateway.yaml');
    fs.writeFileSync(config, `http:\n  port: ${httpPort}\nsip:\n  port: 0\n  presenceServerUri: "sip:127.0.0.1:${uas.port}"\n`
      + 'authentication:\n  required: false\n'
      + `usage:\n  database: ${path.join(dir, 'usage.db')}\n  durability: durable\n`);
    fs.writeFileSync(path.join(dir, 'body.xml'), BODY);
    const child = spawn(process.execPath, [path.join(ROOT, 'js', 'cli.js'), 'serve', '--config', config], {
      stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, PARLAYX_LOOP_DELAY_REPORT: '1' },
    });
    let output = '';
    child.stdout.on('data', (chunk) => { output += chunk; });
    await new Promise((resolve) => {
      const check = setInterval(() => { if (output.includes('parlayx-gateway started')) { clearInterval(check); resolve(); } }, 20);
    });
    const url = `http://127.0.0.1:${httpPort}/parlayx/TerminalStatusService/services/TerminalStatus`;
    // rate 0: as fast as wrk can drive it; otherwise a paced client at that rate.
    const rps = rate === 0
      ? Number((/Requests\/sec:\s+([\d.]+)/.exec(run('wrk', ['-t1', '-c32', `-d${SECONDS}s`, '-s',
        path.join(__dirname, 'wrk-getstatus.lua'), url], { env: { ...process.env, PX_BENCH_BODY: path.join(dir, 'body.xml') } })) || [])[1])
      : (await pacedLoad(url, BODY, rate, SECONDS)).rps;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    const delay = output.split('\n').filter(Boolean).map((line) => JSON.parse(line)).find((l) => l.message === 'event loop delay');
    const records = Number(run('sqlite3', [path.join(dir, 'usage.db'), 'SELECT count(*) FROM USAGE_RECORD']).trim());
    return { rps, records, ...delay };
  } finally {
    await uas.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const install = spawnSync('bash', [path.join(ROOT, 'scripts', 'install-deps.sh'), '--with-bench-tools'], { stdio: 'inherit' });
  if (install.status !== 0) throw new Error('installing the benchmark tools failed');
  const build = path.join(ROOT, 'build-cmake');
  run('cmake', ['-S', ROOT, '-B', build, '-DCMAKE_BUILD_TYPE=RelWithDebInfo']);
  run('cmake', ['--build', build, '--target', 'usage_store_bench', '-j2']);
  const bench = path.join(build, 'usage_store_bench');
  for (const batch of [1, 100]) {
    process.stdout.write(run(bench, ['4', String(SECONDS), String(batch), 'batched']));
  }
  for (const rate of [500, 1000, 2000, 0]) {
    const load = await loopDelayUnderLoad(rate);
    console.log(`getStatus ${rate ? `paced at ${rate}/s` : 'saturated (wrk -c32)'} with durable records: ${load.rps.toFixed(0)}/s, `
      + `${load.records} records; event-loop delay p50 ${load.p50Ms.toFixed(2)} ms, p99 ${load.p99Ms.toFixed(2)} ms, max ${load.maxMs.toFixed(2)} ms`);
  }
  console.log('targets: >= 200000 records/s and store/raw >= 90 % (store lines above); event-loop p99 <= 2 ms');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
