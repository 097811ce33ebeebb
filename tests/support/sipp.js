'use strict';

/**
 * Runs SIPp (Debian package sip-tester) as a misbehaving presence server
 * (UAS) on 127.0.0.1/UDP with one of the scenarios in tests/support/sipp/.
 */

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const dgram = require('node:dgram');

const { spawnSupervised } = require('../../scripts/kamailio/supervise');
const { freePort } = require('../../scripts/kamailio/kamailio');

const HOST = '127.0.0.1';
const SCENARIO_DIR = path.join(__dirname, 'sipp');

/** Default -key values per scenario (SIPp fails on a [key] it is not given). */
const DEFAULT_KEYS = {
  'subscribe-200-notify': { basic: 'open', person: '' },
};

/** Reason phrases for -key code when no reason is given. */
const REASONS = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  486: 'Busy Here',
  489: 'Bad Event',
  500: 'Server Internal Error',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  603: 'Decline',
};

function findSipp() {
  for (const dir of [...(process.env.PATH || '').split(path.delimiter), '/usr/bin', '/usr/local/bin']) {
    if (!dir) continue;
    const p = path.join(dir, 'sipp');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // Not here.
    }
  }
  throw new Error('sipp not found: install the Debian package sip-tester (apt-get install -y sip-tester)');
}

/** True once something (SIPp) holds the UDP port. */
function udpPortTaken(port) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', (err) => {
      s.close();
      resolve(err.code === 'EADDRINUSE');
    });
    s.bind(port, HOST, () => s.close(() => resolve(false)));
  });
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Starts SIPp as a UAS on 127.0.0.1/UDP.
 * @param {object} opts
 * @param {string} opts.scenario 'subscribe-reject' | 'subscribe-200-no-notify' |
 *   'subscribe-200-notify', or a path to a scenario file
 * @param {number} [opts.port] local port (default: a free one)
 * @param {Object<string,string>} [opts.keys] -key values; for subscribe-reject
 *   { code: '503', reason?: 'Service Unavailable' } (written into a copy of the
 *   scenario), for subscribe-200-notify { basic: 'open'|'closed', person: '<dm:person>…' }
 * @param {number} [opts.startTimeoutMs=5000]
 * @param {string[]} [opts.extraArgs] more SIPp arguments (e.g. ['-buff_size', '4194304'])
 * @returns {Promise<{host:string, port:number, uri:string, pid:number,
 *   stop:()=>Promise<void>, logs:()=>string}>}
 */
async function startSippUas({ scenario, port, keys = {}, startTimeoutMs = 5000, extraArgs = [] } = {}) {
  const sipp = findSipp();
  const name = path.basename(scenario || '', '.xml');
  const file = scenario && scenario.endsWith('.xml') ? path.resolve(scenario) : path.join(SCENARIO_DIR, `${name}.xml`);
  if (!fs.existsSync(file)) throw new Error(`unknown SIPp scenario ${JSON.stringify(scenario)}`);

  const allKeys = { ...(DEFAULT_KEYS[name] || {}), ...keys };
  let scenarioFile = file;
  let tmpDir = null;
  if (name === 'subscribe-reject') {
    // SIPp checks status codes at load time, before -key substitution, so
    // the code is written into a copy of the scenario instead.
    const code = String(allKeys.code || '403');
    if (!/^[3-6]\d\d$/.test(code)) throw new Error(`bad final code ${code}`);
    const reason = allKeys.reason || REASONS[code] || 'Rejected';
    if (/[\r\n<>\]$]/.test(reason)) throw new Error(`bad reason phrase ${JSON.stringify(reason)}`);
    delete allKeys.code;
    delete allKeys.reason;
    const text = fs.readFileSync(file, 'utf8');
    const rewritten = text.replace(/^(\s*)SIP\/2\.0 403 Forbidden$/m, `$1SIP/2.0 ${code} ${reason}`);
    if (rewritten === text && code !== '403') throw new Error(`${file}: status line not found`);
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipp-'));
    scenarioFile = path.join(tmpDir, `subscribe-reject-${code}.xml`);
    fs.writeFileSync(scenarioFile, rewritten);
  }
  const p = port || (await freePort());

  const args = [
    '-sf', scenarioFile,
    '-i', HOST,
    '-p', String(p),
    '-t', 'u1',
    '-m', '1000000', // Serve many SUBSCRIBEs (one call each).
    '-nostdin',
    '-nd', // No BYE/CANCEL on unexpected messages: this is not a dialog UA.
  ];
  for (const [k, v] of Object.entries(allKeys)) args.push('-key', k, String(v));
  args.push(...extraArgs);

  const proc = spawnSupervised(sipp, args, { logLimit: 64 * 1024 });
  const stop = async () => {
    await proc.stop({ signal: 'SIGTERM', graceMs: 2000 });
    if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (proc.hasExited()) {
      await stop();
      throw new Error(`sipp exited at start:\n${proc.logs().slice(-4000)}`);
    }
    if (await udpPortTaken(p)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`sipp did not bind ${HOST}:${p} within ${startTimeoutMs} ms:\n${proc.logs().slice(-4000)}`);
    }
    await delay(50);
  }
  return { host: HOST, port: p, uri: `sip:${HOST}:${p}`, pid: proc.pid, stop, logs: proc.logs };
}

module.exports = { startSippUas, SCENARIO_DIR };
