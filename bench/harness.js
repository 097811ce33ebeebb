'use strict';
// Pieces shared by the benches (getstatus.js, notifications.js, cluster.js): wrk runs of a POST,
// the bare node:http limit, the SOAP getStatus request, a gateway run by its CLI, and helper
// processes driven over IPC.
const fs = require('node:fs');
const path = require('node:path');
const { fork, spawn, spawnSync } = require('node:child_process');

/** The SOAP getStatus request of the HTTP benches (terminal sip:alice@example.test). */
const GETSTATUS_BODY = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:loc="http://www.csapi.org/schema/parlayx/terminal_status/v2_3/local">
<soapenv:Body><loc:getStatus><loc:address>sip:alice@example.test</loc:address></loc:getStatus></soapenv:Body>
</soapenv:Envelope>`;

// ---------------------------------------------------------------------------------------------
// wrk: C, one thread; it costs the shared 2 cores far less per request than a JS load generator,
// so more of the machine goes to the gateway under test.

function wrkArgs(url, connections, seconds) {
  return ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '5s',
    '-s', path.join(__dirname, 'wrk-getstatus.lua'), url];
}

function wrkEnv(bodyFile, authorization, contentType) {
  return { ...process.env, PX_BENCH_BODY: bodyFile, PX_BENCH_AUTHORIZATION: authorization, PX_BENCH_CONTENT_TYPE: contentType };
}

/** wrk's report: requests/s, p50/p99 (ms), non-2xx answers, socket errors and timeouts. */
function parseWrk(out) {
  const ms = (label) => {
    const m = new RegExp(`^\\s*${label}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
    if (!m) return NaN;
    return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
  };
  return {
    rps: Number((/Requests\/sec:\s+([\d.]+)/.exec(out) || [])[1]),
    requests: Number((/(\d+) requests in/.exec(out) || [])[1]),
    p50: ms('50'), p99: ms('99'),
    non2xx: Number((/Non-2xx or 3xx responses:\s+(\d+)/.exec(out) || [0, 0])[1]),
    errors: (/Socket errors:.*/.exec(out) || [''])[0],
    timeouts: Number((/Socket errors:.*timeout (\d+)/.exec(out) || [0, 0])[1]),
  };
}

/**
 * One wrk run POSTing bodyFile (bench/wrk-getstatus.lua) to url, blocking.
 * authorization: the Authorization header ('' = none); contentType: '' = SOAP's.
 */
function runWrk(url, connections, bodyFile, seconds, { authorization = '', contentType = '' } = {}) {
  const result = spawnSync('wrk', wrkArgs(url, connections, seconds), {
    encoding: 'utf8', env: wrkEnv(bodyFile, authorization, contentType), timeout: (seconds + 30) * 1000,
  });
  if (result.status !== 0) throw new Error(`wrk failed: ${result.stderr || result.stdout}`);
  return parseWrk(result.stdout);
}

/** runWrk() without blocking: several wrk processes at once (one per gateway instance). */
function runWrkAsync(url, connections, bodyFile, seconds, { authorization = '', contentType = '' } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', wrkArgs(url, connections, seconds), { env: wrkEnv(bodyFile, authorization, contentType), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => { out += chunk; });
    child.stderr.on('data', (chunk) => { err += chunk; });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`wrk failed (${code}): ${err || out}`));
      else resolve(parseWrk(out));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The HTTP limit: node:http answering every POST with a canned getStatusResponse of the
// gateway's size, in its own process, driven by the same wrk, body and connections. The CAMARA
// phase of getstatus.js gives it the gateway's JSON answer and headers instead.

const BARE_SOAP_RESPONSE = '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><ns2:getStatusResponse xmlns:ns2="http://www.csapi.org/schema/parlayx/terminal_status/v2_3/local"><ns2:result>Reachable</ns2:result></ns2:getStatusResponse></soapenv:Body></soapenv:Envelope>';
const BARE_SERVER = `
const http = require('node:http');
const body = Buffer.from(process.env.PX_BARE_BODY);
const headers = JSON.parse(process.env.PX_BARE_HEADERS || 'null');
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (headers) res.writeHead(200, headers);
    res.end(body);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log('ready ' + server.address().port));
`;

async function startBareHttp({ body = BARE_SOAP_RESPONSE, headers = null } = {}) {
  const child = spawn(process.execPath, ['-e', BARE_SERVER], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, PX_BARE_BODY: body, PX_BARE_HEADERS: headers ? JSON.stringify(headers) : '' },
  });
  const port = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bare HTTP server exited with ${code}`)));
    child.stdout.on('data', (chunk) => {
      const m = /ready (\d+)/.exec(String(chunk));
      if (m) resolve(Number(m[1]));
    });
  });
  return { pid: child.pid, url: `http://127.0.0.1:${port}/`, stop: () => child.kill('SIGKILL') };
}

// ---------------------------------------------------------------------------------------------

/**
 * Runs `js/cli.js serve --config <config>` in its own process and resolves once it logged that it
 * started; rejects, with the end of its log, when it exits first. Its stdout goes to `logFile`,
 * not a pipe: wrk runs under spawnSync, and a pipe nobody reads for a whole step blocks the
 * gateway in write(2) once it fills (the calls bench had that with Kamailio's stderr).
 * @param {{ config: string, logFile: string, nodeArgs?: string[], env?: NodeJS.ProcessEnv }} options
 * @returns {Promise<{ pid: number, startedAt: number, stop: () => Promise<void> }>}
 */
async function startGatewayCli({ config, logFile, nodeArgs = [], env = process.env }) {
  const logFd = fs.openSync(logFile, 'w');
  const child = spawn(process.execPath, [...nodeArgs, path.join(__dirname, '..', 'js', 'cli.js'), 'serve', '--config', config], {
    stdio: ['ignore', logFd, 'inherit'], env,
  });
  fs.closeSync(logFd);
  const startedAt = Date.now();
  await new Promise((resolve, reject) => {
    const poll = setInterval(() => {
      if (fs.readFileSync(logFile, 'utf8').includes('parlayx-gateway started')) {
        clearInterval(poll);
        resolve();
      }
    }, 20);
    child.once('exit', (code) => {
      clearInterval(poll);
      reject(new Error(`gateway exited with ${code}: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`));
    });
  });
  return {
    pid: child.pid,
    startedAt,
    stop: () => new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGTERM'); }),
  };
}

// ---------------------------------------------------------------------------------------------

/**
 * Forks a helper of bench/ with IPC; ask(message, replyType) sends and waits for that reply type.
 * A reply { type: 'error', message } rejects the oldest waiter.
 */
function forkHelper(file, { execArgv = [], execPath, cwd } = {}) {
  const child = fork(path.join(__dirname, file), [], { execArgv, execPath, cwd, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiters = [];
  let exited = false;
  child.on('message', (message) => {
    const i = waiters.findIndex((w) => w.type === message.type || message.type === 'error');
    if (i < 0) return;
    const [waiter] = waiters.splice(i, 1);
    if (message.type === 'error') waiter.reject(new Error(`${file}: ${message.message}`));
    else waiter.resolve(message);
  });
  child.on('exit', (code, signal) => {
    exited = true;
    for (const w of waiters.splice(0)) w.reject(new Error(`${file} exited (${code ?? signal})`));
  });
  const wait = (type) => new Promise((resolve, reject) => {
    if (exited) reject(new Error(`${file} has exited`));
    else waiters.push({ type, resolve, reject });
  });
  return {
    child,
    pid: child.pid,
    wait,
    exited: () => exited,
    ask(message, type) {
      const reply = wait(type);
      child.send(message);
      return reply;
    },
    async stop(message, graceMs = 60000) {
      if (exited) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      if (message) {
        try {
          child.send(message);
        } catch {
          // IPC already closed.
        }
      } else {
        child.disconnect();
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await gone;
      clearTimeout(timer);
    },
  };
}

module.exports = {
  GETSTATUS_BODY, runWrk, runWrkAsync, parseWrk, BARE_SOAP_RESPONSE, startBareHttp, startGatewayCli, forkHelper,
};
