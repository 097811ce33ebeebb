'use strict';
// The gateway's log (js/logging/): one pino line per request after real SOAP requests whose
// fetches a SIPp UAS presence server answers, credentials never written, the configured level,
// a real usage store write failure (a SQLite trigger refusing inserts) logged at error with
// SQLite's reason, and Sofia-SIP's own lines, from the stack's startup on, when
// logging.sofiaLevel asks for them.
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { startSippUas } = require('../support/sipp');
const {
  gatewayYaml, postSoap, envelope, tempDir, testPasswordHash, basicAuth,
} = require('../support/gateway');
const { createGateway } = require('../../index');
const { createLogger, logFunction } = require('../../js/logging/logger');
const { DeferredLogger } = require('../../js/logging/deferredLogger');

const PASSWORD = 'logging-test-secret-8c1f';
const GET_STATUS = envelope('<loc:getStatus><loc:address>sip:alice@example.test</loc:address></loc:getStatus>');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let peer;
const gateways = [];

/** A pino destination keeping every line: `lines` parsed, `text` as written. */
function capture() {
  const sink = {
    text: '',
    get lines() {
      return sink.text.split('\n').filter(Boolean).map((line) => JSON.parse(line));
    },
    write(chunk) {
      sink.text += chunk;
    },
  };
  return sink;
}

/**
 * A gateway logging to a captured destination, with requester acme (Basic auth) and the given
 * extra YAML (e.g. a logging section), its presence server the SIPp UAS.
 */
async function loggingGateway({ extraYaml = '', usageYaml = '' } = {}) {
  const stateDir = tempDir('px-logging-');
  const out = capture();
  const gateway = await createGateway({
    configText: gatewayYaml({
      presencePort: peer.port, stateDir, usageYaml,
      authYaml: 'authentication:\n  required: true\n',
      extraYaml: `requesters:\n  acme:\n    passwordHash: "${testPasswordHash(PASSWORD)}"\n${extraYaml}`,
    }),
    configName: 'logging-test.yaml',
    logDestination: out,
  });
  gateways.push(gateway);
  const { url } = await gateway.listen();
  return {
    gateway, out, usageDatabase: path.join(stateDir, 'usage.db'),
    endpoint: `${url}/TerminalStatusService/services/TerminalStatus`,
  };
}

const requestLines = (out) => out.lines.filter((l) => l.message === 'request');

beforeAll(async () => {
  peer = await startSippUas({ scenario: 'subscribe-200-notify', keys: { basic: 'open', person: '' } });
}, 30000);

afterAll(async () => {
  for (const gateway of gateways) await gateway.close();
  if (peer) await peer.stop();
});

describe('the per-request line', () => {
  test('a getStatus gives one info line: operation, requester, outcome, time, request id = GLOBALID', async () => {
    const { gateway, out, endpoint } = await loggingGateway();
    const answer = await postSoap(endpoint, GET_STATUS, basicAuth('acme', PASSWORD));
    expect(answer.status).toBe(200);
    expect(answer.text).toContain('Reachable');

    const lines = requestLines(out);
    expect(lines).toHaveLength(1);
    const [line] = lines;
    expect(line).toMatchObject({
      level: 'info', api: 'parlayx-terminal-status', operation: 'getStatus', requester: 'acme', outcome: 'VALID',
    });
    expect(line.requestId).toMatch(UUID);
    expect(typeof line.timeMs).toBe('number');
    expect(line.timeMs).toBeGreaterThan(0);
    expect(line.timeMs).toBeLessThan(1000); // presence.fetchTimeoutMs bounds the fetch
    expect(Number.isNaN(Date.parse(line.time))).toBe(false);

    const records = await gateway.usage.query({ requester: 'acme', eventType: 'getStatus' });
    expect(records.map((r) => r.globalId)).toEqual([line.requestId]);
  });

  test('a refused request is logged with its outcome', async () => {
    const { out, endpoint } = await loggingGateway();
    const bad = envelope('<loc:getStatus><loc:address>mailto:alice@example.test</loc:address></loc:getStatus>');
    const answer = await postSoap(endpoint, bad, basicAuth('acme', PASSWORD));
    expect(answer.status).toBe(500);
    expect(requestLines(out)).toEqual([
      expect.objectContaining({ operation: 'getStatus', requester: 'acme', outcome: expect.not.stringMatching(/^VALID$/) }),
    ]);
  });
});

describe('redaction', () => {
  test('Basic credentials never reach the log, whether accepted or refused', async () => {
    const { gateway, out, endpoint } = await loggingGateway({ extraYaml: 'logging:\n  level: trace\n' });
    const good = basicAuth('acme', PASSWORD);
    const wrong = basicAuth('acme', `${PASSWORD}-wrong`);
    expect((await postSoap(endpoint, GET_STATUS, good)).status).toBe(200);
    expect((await postSoap(endpoint, GET_STATUS, wrong)).status).toBe(401);
    // What a handler could be tempted to log: the request's headers, a password, a token.
    gateway.log('warn', 'diagnostic', {
      headers: { authorization: good.authorization, 'proxy-authorization': wrong.authorization },
      requester: { name: 'acme', password: PASSWORD, passwordHash: 'ph' },
      sinkCredential: { credentialType: 'ACCESSTOKEN', accessToken: 'tok-123' },
    });

    expect(out.lines.some((l) => l.message === 'request refused: authentication failed' && l.requester === 'acme')).toBe(true);
    expect(out.lines.some((l) => l.message === 'request' && l.requester === 'acme')).toBe(true);
    const diagnostic = out.lines.find((l) => l.message === 'diagnostic');
    expect(diagnostic.headers).toEqual({ authorization: '[redacted]', 'proxy-authorization': '[redacted]' });
    expect(diagnostic.requester).toEqual({ name: 'acme', password: '[redacted]', passwordHash: '[redacted]' });
    expect(diagnostic.sinkCredential).toBe('[redacted]');
    for (const secret of [PASSWORD, good.authorization, wrong.authorization, good.authorization.slice(6), 'tok-123']) {
      expect(out.text).not.toContain(secret);
    }
  });

  test('the logger alone redacts tokens and passwords at any depth the paths name', () => {
    const out = capture();
    const log = logFunction(createLogger({ level: 'info' }, out));
    log('info', 'token', { token: 'a', accessToken: 'b', nested: { refreshToken: 'c', credentials: { x: 1 } }, keep: 'd' });
    expect(out.lines[0]).toMatchObject({
      token: '[redacted]', accessToken: '[redacted]', nested: { refreshToken: '[redacted]', credentials: '[redacted]' }, keep: 'd',
    });
  });
});

describe('level filtering', () => {
  test('at logging.level warn no request line is written; raising the level at run time brings them', async () => {
    const { gateway, out, endpoint } = await loggingGateway({ extraYaml: 'logging:\n  level: warn\n' });
    expect(gateway.config.logging.level).toBe('warn');
    expect((await postSoap(endpoint, GET_STATUS, basicAuth('acme', PASSWORD))).status).toBe(200);
    expect((await postSoap(endpoint, GET_STATUS, basicAuth('acme', 'nope'))).status).toBe(401);
    expect(requestLines(out)).toEqual([]);
    expect(out.lines.some((l) => l.message === 'request refused: authentication failed')).toBe(true);
    expect(out.lines.every((l) => ['warn', 'error', 'fatal'].includes(l.level))).toBe(true);
    gateway.logger.level = 'info';
    expect((await postSoap(endpoint, GET_STATUS, basicAuth('acme', PASSWORD))).status).toBe(200);
    expect(requestLines(out)).toHaveLength(1);
  });

  test('the adapter tells the level and writes only what the level lets through', () => {
    const out = capture();
    const log = logFunction(createLogger({ level: 'error' }, out));
    expect(log.isLevelEnabled('info')).toBe(false);
    expect(log.isLevelEnabled('error')).toBe(true);
    log('info', 'not written');
    log('warn', 'not written either');
    log('error', 'written', { n: 1 });
    log('fatal', 'written too');
    expect(out.lines.map((l) => [l.level, l.message])).toEqual([['error', 'written'], ['fatal', 'written too']]);
  });

  test('an unknown logging.level is refused at start', async () => {
    await expect(createGateway({
      configText: gatewayYaml({ presencePort: peer.port, stateDir: tempDir('px-logging-'), extraYaml: 'logging:\n  level: verbose\n' }),
    })).rejects.toThrow(/logging\.level: expected one of trace, debug, info, warn, error, fatal/);
  });
});

describe('the logger is built when its first line is due (cold start, issue 15)', () => {
  const nextTurn = () => new Promise((resolve) => { setImmediate(resolve); });

  test('lines logged before it exists are written in order on the next turn, with the time they were logged', async () => {
    const out = capture();
    const deferred = new DeferredLogger({ level: 'info' }, out);
    deferred.log('info', 'first', { n: 1 });
    const loggedAt = Date.now();
    const until = loggedAt + 30;
    while (Date.now() < until); // the second line is logged 30 ms later
    deferred.unredactedLog('info', 'second', { token: 'kept: the per-request line has no redaction pass' });
    deferred.log('debug', 'below the level');
    deferred.log('warn', 'third', { token: 'secret' });
    expect(out.text).toBe(''); // nothing built or written yet
    expect(deferred.built).toBeNull();
    await nextTurn();
    expect(deferred.built).not.toBeNull();
    const lines = out.lines;
    expect(lines.map((l) => l.message)).toEqual(['first', 'second', 'third']);
    expect(lines[1].token).toMatch(/^kept/);
    expect(lines[2].token).toBe('[redacted]');
    const times = lines.map((l) => Date.parse(l.time));
    expect(Math.abs(times[0] - loggedAt)).toBeLessThanOrEqual(5);
    expect(times[1] - times[0]).toBeGreaterThanOrEqual(25);
    // Built: later lines are written at once.
    deferred.log('info', 'fourth');
    expect(out.lines.map((l) => l.message)).toEqual(['first', 'second', 'third', 'fourth']);
  });

  test('the level is answered before pino is loaded; asking for the logger builds it, and its level then rules', async () => {
    const out = capture();
    const deferred = new DeferredLogger({ level: 'warn' }, out);
    expect(deferred.log.isLevelEnabled('info')).toBe(false);
    expect(deferred.log.isLevelEnabled('error')).toBe(true);
    deferred.log('info', 'not written');
    await nextTurn();
    expect(deferred.built).toBeNull(); // no line was due: nothing built
    deferred.logger.level = 'debug';
    expect(deferred.log.isLevelEnabled('debug')).toBe(true);
    deferred.log('debug', 'written');
    expect(out.lines.map((l) => l.message)).toEqual(['written']);
  });

  test('a gateway neither loads pino nor builds its logger until a line is due; a line logged just before exit is written', () => {
    const stateDir = tempDir('px-logging-');
    const script = `
      const { createGateway } = require('./index.js');
      const pinoLoaded = () => Object.keys(require.cache).some((f) => f.includes('/node_modules/pino/'));
      createGateway({ configText: ${JSON.stringify(gatewayYaml({ presencePort: peer.port, stateDir }))} }).then((gateway) => {
        const before = pinoLoaded();
        gateway.log('warn', 'the last words', { before });
        process.exit(0);
      });`;
    const stdout = execFileSync(process.execPath, ['-e', script], {
      cwd: path.join(__dirname, '..', '..'), encoding: 'utf8', env: { ...process.env, PX_COMPILE_CACHE: '0' },
    });
    const lines = stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line));
    expect(lines.filter((l) => l.message === 'the last words')).toEqual([
      expect.objectContaining({ level: 'warn', before: false }),
    ]);
  });
});

describe('native errors', () => {
  test.each(['durable', 'batched'])('a usage store write failure (%s) is logged at error', async (durability) => {
    const { gateway, out, endpoint, usageDatabase } = await loggingGateway({ usageYaml: `  durability: ${durability}\n` });
    // A real SQLite failure on the writer thread: every insert into the usage table is refused.
    execFileSync('sqlite3', [usageDatabase,
      "CREATE TRIGGER px_test_refuse BEFORE INSERT ON USAGE_RECORD BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"]);
    const answer = await postSoap(endpoint, GET_STATUS, basicAuth('acme', PASSWORD));
    expect(answer.status).toBe(durability === 'durable' ? 500 : 200);
    // Durable: the request's record fails, then the FAILED_JMS_ENQUEUE record written in its place.
    const expected = durability === 'durable' ? 2 : 1;
    const errors = () => out.lines.filter((l) => l.level === 'error');
    const deadline = Date.now() + 5000;
    while (errors().length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 50));
    // Each carries SQLite's own reason: the trigger's RAISE message.
    expect(errors()).toEqual(Array(expected).fill(
      expect.objectContaining({ message: 'usage records could not be written', failedAppends: 1, reason: 'refused by the test' })));
    // The store's own report of the refused row (file, record, SQLite's message) at warn.
    expect(out.lines.filter((l) => l.source === 'usage-store')).toEqual(Array(expected).fill(expect.objectContaining({
      level: 'warn', message: expect.stringMatching(/^usage store '.*usage\.db': record '.+' segment 0 not written: refused by the test$/),
    })));
    expect(gateway.usage.stats().writeErrors).toBe(expected);
    if (durability === 'durable') {
      expect(requestLines(out)).toEqual([expect.objectContaining({ requester: 'acme', outcome: 'FAILED_JMS_ENQUEUE' })]);
    }
  });
});

describe("Sofia-SIP's log", () => {
  test('logging.sofiaLevel 0 (the default) writes none of its lines', async () => {
    const { out, endpoint } = await loggingGateway({ extraYaml: 'logging:\n  level: trace\n' });
    expect((await postSoap(endpoint, GET_STATUS, basicAuth('acme', PASSWORD))).status).toBe(200);
    expect(out.lines.filter((l) => l.source === 'sofia-sip')).toEqual([]);
  });

  test('logging.sofiaLevel 9 brings its lines, at the mapped level, until the gateway closes', async () => {
    const { gateway, out, endpoint } = await loggingGateway({ extraYaml: 'logging:\n  level: debug\n  sofiaLevel: 9\n' });
    expect((await postSoap(endpoint, GET_STATUS, basicAuth('acme', PASSWORD))).status).toBe(200);
    const deadline = Date.now() + 5000;
    const sent = () => out.lines.find((l) => l.source === 'sofia-sip' && /nta: sent SUBSCRIBE/.test(l.message));
    while (!sent() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(sent()).toMatchObject({ level: 'debug' });
    expect(out.lines.filter((l) => l.source === 'sofia-sip').every((l) => l.level === 'debug' && !l.message.includes('\n'))).toBe(true);

    await gateway.close();
    const after = out.lines.length;
    // Another gateway's traffic (Sofia's log is one per process) no longer reaches the closed one.
    const other = await loggingGateway();
    expect((await postSoap(other.endpoint, GET_STATUS, basicAuth('acme', PASSWORD))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 100));
    expect(out.lines.length).toBe(after);
    expect(other.out.lines.filter((l) => l.source === 'sofia-sip')).toEqual([]);
  });

  test("the SIP stack's startup lines (agent creation, transport binds) are written too", async () => {
    const { gateway, out } = await loggingGateway({ extraYaml: 'logging:\n  level: debug\n  sofiaLevel: 9\n' });
    const { sipPort } = gateway.core;
    const bound = () => out.lines.find((l) => l.source === 'sofia-sip' && l.message.startsWith('nta: bound to (') && l.message.includes(`:${sipPort};`));
    const deadline = Date.now() + 5000;
    while (!bound() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(bound()).toMatchObject({ level: 'debug' });
    expect(out.lines.some((l) => l.source === 'sofia-sip' && l.message.startsWith('nta_agent_create: '))).toBe(true);
  });

  test('at a logging.level above the mapped one, Sofia lines are not written', async () => {
    const { out, endpoint } = await loggingGateway({ extraYaml: 'logging:\n  level: info\n  sofiaLevel: 9\n' });
    expect((await postSoap(endpoint, GET_STATUS, basicAuth('acme', PASSWORD))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 100));
    expect(out.lines.filter((l) => l.source === 'sofia-sip')).toEqual([]);
    expect(requestLines(out)).toHaveLength(1);
  });
});
