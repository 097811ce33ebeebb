'use strict';

/**
 * Runs SIPp (Debian package sip-tester) on 127.0.0.1/UDP with one of the
 * scenarios in tests/support/sipp/: as a misbehaving presence server or a
 * callee (UAS, startSippUas), or as a caller placing calls (UAC, runSippUac).
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

/**
 * Scenarios whose final status line is replaced by -key code (SIPp checks
 * status codes at load time, before -key substitution): the line as written.
 */
const FINAL_LINES = {
  'subscribe-reject': 'SIP/2.0 403 Forbidden',
  'callee-final': 'SIP/2.0 486 Busy Here',
  'callee-ring-final': 'SIP/2.0 486 Busy Here',
};

/** Reason phrases for -key code when no reason is given. */
const REASONS = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  410: 'Gone',
  408: 'Request Timeout',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  486: 'Busy Here',
  489: 'Bad Event',
  500: 'Server Internal Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  600: 'Busy Everywhere',
  603: 'Decline',
  604: 'Does Not Exist Anywhere',
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
 * A copy of a scenario with one text replaced, in a new temp dir (removed by the caller).
 * @returns {{file:string, tmpDir:string}}
 */
function rewrittenScenario(file, from, to) {
  const text = fs.readFileSync(file, 'utf8');
  if (!text.includes(from)) throw new Error(`${file}: ${JSON.stringify(from)} not found`);
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipp-'));
  const copy = path.join(tmpDir, path.basename(file));
  fs.writeFileSync(copy, text.split(from).join(to));
  return { file: copy, tmpDir };
}

function checkedCode(code) {
  if (!/^[3-6]\d\d$/.test(code)) throw new Error(`bad final code ${code}`);
  return code;
}

function scenarioFile(scenario) {
  const name = path.basename(scenario || '', '.xml');
  const file = scenario && scenario.endsWith('.xml') ? path.resolve(scenario) : path.join(SCENARIO_DIR, `${name}.xml`);
  if (!fs.existsSync(file)) throw new Error(`unknown SIPp scenario ${JSON.stringify(scenario)}`);
  return { name, file };
}

/**
 * Starts SIPp as a UAS on 127.0.0.1/UDP.
 * @param {object} opts
 * @param {string} opts.scenario 'subscribe-reject' | 'subscribe-200-no-notify' |
 *   'subscribe-200-notify' | 'callee-final' | 'callee-ring-final' | 'callee-ring-cancel' |
 *   'callee-answer-bye' | 'callee-silent', or a path to a scenario file
 * @param {number} [opts.port] local port (default: a free one)
 * @param {Object<string,string>} [opts.keys] -key values; for subscribe-reject, callee-final and
 *   callee-ring-final { code: '503', reason?: 'Service Unavailable' } (written into a copy of the
 *   scenario), for subscribe-200-notify { basic: 'open'|'closed', person: '<dm:person>…' }
 * @param {number} [opts.pauseMs] -d: the length of the scenario's <pause/> (callee-final,
 *   callee-ring-final: before the final response; callee-answer-bye: before the BYE)
 * @param {number} [opts.startTimeoutMs=5000]
 * @param {string[]} [opts.extraArgs] more SIPp arguments (e.g. ['-buff_size', '4194304'])
 * @returns {Promise<{host:string, port:number, uri:string, pid:number,
 *   stop:()=>Promise<void>, logs:()=>string}>}
 */
async function startSippUas({ scenario, port, keys = {}, pauseMs, startTimeoutMs = 5000, extraArgs = [] } = {}) {
  const sipp = findSipp();
  const { name, file } = scenarioFile(scenario);

  const allKeys = { ...(DEFAULT_KEYS[name] || {}), ...keys };
  let scenarioPath = file;
  let tmpDir = null;
  if (FINAL_LINES[name]) {
    const code = checkedCode(String(allKeys.code || FINAL_LINES[name].split(' ')[1]));
    const reason = allKeys.reason || REASONS[code] || 'Rejected';
    if (/[\r\n<>\]$]/.test(reason)) throw new Error(`bad reason phrase ${JSON.stringify(reason)}`);
    delete allKeys.code;
    delete allKeys.reason;
    ({ file: scenarioPath, tmpDir } = rewrittenScenario(file, FINAL_LINES[name], `SIP/2.0 ${code} ${reason}`));
  }
  const p = port || (await freePort());

  const args = [
    '-sf', scenarioPath,
    '-i', HOST,
    '-p', String(p),
    '-t', 'u1',
    '-m', '1000000', // Serve many requests (one call each).
    '-nostdin',
    '-nd', // No BYE/CANCEL on unexpected messages: the scenario says what to send.
  ];
  if (pauseMs !== undefined) args.push('-d', String(pauseMs));
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

/**
 * Splits SIPp's -trace_msg file into the messages it sent and received, in order.
 * @param {string} text the message file
 * @returns {Array<{dir:'sent'|'received', startLine:string, method?:string, status?:number,
 *   cseqMethod?:string, raw:string}>}
 */
function parseMessageTrace(text) {
  const out = [];
  // "-----… <time>\nUDP message sent (492 bytes):\n\n<message>"
  const marker = /^-{5,}[^\n]*\n(?:UDP|TCP|TLS|SCTP) message (sent|received)[^\n]*\n/gm;
  const heads = [...text.matchAll(marker)];
  heads.forEach((m, i) => {
    const start = m.index + m[0].length;
    const end = i + 1 < heads.length ? heads[i + 1].index : text.length;
    const raw = text.slice(start, end).replace(/^\s+/, '');
    const startLine = raw.split(/\r?\n/, 1)[0].trim();
    const cseq = /^CSeq:\s*\d+\s+(\S+)/im.exec(raw);
    const status = /^SIP\/2\.0\s+(\d{3})/.exec(startLine);
    out.push({
      dir: m[1],
      startLine,
      ...(status ? { status: Number(status[1]) } : { method: startLine.split(' ')[0] }),
      cseqMethod: cseq ? cseq[1].toUpperCase() : undefined,
      raw,
    });
  });
  return out;
}

/**
 * Runs SIPp as a UAC placing calls to sip:<service>@<domain> through `target`, and resolves
 * when it exits.
 * @param {object} opts
 * @param {string} opts.scenario 'caller-answer' | 'caller-final' | 'caller-cancel' or a path
 * @param {{host:string, port?:number, sipPort?:number}} opts.target the proxy (S-CSCF) the
 *   requests go to (a startScscf() result will do)
 * @param {string} opts.service the called user part
 * @param {string} [opts.domain='example.test']
 * @param {string} [opts.caller='alice'] the caller's user part
 * @param {number|string} [opts.code] caller-final: the final response expected (written into a
 *   copy of the scenario; default 486)
 * @param {number} [opts.pauseMs] -d (caller-cancel: ringing time before the CANCEL)
 * @param {number} [opts.calls=1] -m
 * @param {number} [opts.timeoutMs=30000] -timeout: SIPp stops (and fails) after this
 * @param {boolean} [opts.traceMessages=true] -trace_msg: result.messages lists what it saw
 * @param {string[]} [opts.extraArgs] e.g. ['-r', '100', '-trace_rtt']
 * @param {string} [opts.workDir] where SIPp writes its trace files (default: a temp dir, removed)
 * @returns {Promise<{code:number|null, ok:boolean, messages:Array<object>, logs:string,
 *   workDir:string}>} code: SIPp's exit code (0: every call passed the scenario)
 */
async function runSippUac({
  scenario, target, service, domain = 'example.test', caller = 'alice', code, pauseMs, calls = 1,
  timeoutMs = 30000, traceMessages = true, extraArgs = [], workDir,
}) {
  const sipp = findSipp();
  const { name, file } = scenarioFile(scenario);
  for (const [k, v] of Object.entries({ service, domain, caller })) {
    if (!/^[A-Za-z0-9+._-]+$/.test(String(v))) throw new Error(`bad ${k} ${JSON.stringify(v)}`);
  }
  let scenarioPath = file;
  let tmpDir = null;
  if (name === 'caller-final') {
    ({ file: scenarioPath, tmpDir } = rewrittenScenario(file, '<recv response="486"/>',
      `<recv response="${checkedCode(String(code || 486))}"/>`));
  }
  const dir = workDir || fs.mkdtempSync(path.join(os.tmpdir(), 'sipp-uac-'));
  const messageFile = path.join(dir, 'messages.log');
  const args = [
    '-sf', scenarioPath,
    '-i', HOST,
    '-p', String(await freePort()),
    '-t', 'u1',
    '-m', String(calls),
    '-s', service,
    '-key', 'domain', domain,
    '-key', 'caller', caller,
    '-nostdin',
    '-nd',
    '-timeout', `${Math.ceil(timeoutMs / 1000)}s`,
    '-timeout_error',
  ];
  if (pauseMs !== undefined) args.push('-d', String(pauseMs));
  if (traceMessages) args.push('-trace_msg', '-message_file', messageFile);
  args.push(...extraArgs, `${target.host}:${target.sipPort || target.port}`);

  const proc = spawnSupervised(sipp, args, { cwd: dir, logLimit: 256 * 1024 });
  const exit = await proc.exited;
  await proc.stop();
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
  const messages = traceMessages && fs.existsSync(messageFile)
    ? parseMessageTrace(fs.readFileSync(messageFile, 'utf8'))
    : [];
  if (!workDir) fs.rmSync(dir, { recursive: true, force: true });
  return { code: exit.code, ok: exit.code === 0, messages, logs: proc.logs(), workDir: dir };
}

module.exports = { startSippUas, runSippUac, parseMessageTrace, findSipp, SCENARIO_DIR, REASONS };
