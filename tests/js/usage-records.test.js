'use strict';
// Usage records of real getStatus / getStatusForGroup calls (Kamailio presence server, real
// HTTP, a real SQLite file): the exact record per outcome, segmentation, the CLI export, and
// durability across SIGKILL.
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const native = require('../../js/native');
const { UsageLog } = require('../../js/usage');
const { startKamailio, freePort } = require('../../scripts/kamailio/kamailio');
const sip = require('../support/sip');
const { startGateway, postSoap, envelope, tempDir } = require('../support/gateway');

const CLI = path.join(__dirname, '..', '..', 'js', 'cli.js');
let kamailio;
let fixture;

function getStatusBody(address) {
  return envelope(`<loc:getStatus><loc:address>${address}</loc:address></loc:getStatus>`);
}
function groupBody(addresses) {
  return envelope(`<loc:getStatusForGroup>${addresses.map((a) => `<loc:addresses>${a}</loc:addresses>`).join('')}</loc:getStatusForGroup>`);
}

/** Sends a request and returns the usage records sharing its GLOBALID. */
async function recordsOf(body) {
  const reply = await postSoap(fixture.endpoint, body);
  const globalId = reply.headers.get('x-parlayx-global-id');
  expect(globalId).toMatch(/^[0-9a-f-]{36}$/);
  return { reply, records: await fixture.gateway.usage.query({ globalId }) };
}

beforeAll(async () => {
  const port = await freePort();
  kamailio = await startKamailio({ sipPort: port, workDir: tempDir('px-kamailio-') });
  await sip.publish({ server: { host: '127.0.0.1', port }, presentity: 'sip:alice@example.test', basic: 'open' });
  fixture = await startGateway({
    presencePort: port,
    maxTargets: 3,
    usageYaml: '  maxServiceDataBytes: 128\n',
  });
}, 30000);

afterAll(async () => {
  if (fixture) await fixture.gateway.close();
  if (kamailio) await kamailio.stop();
});

describe('one record per operation, with the status code and attributes of the source', () => {
  test('getStatus that succeeds: VALID with REQUESTER, RESPONSE_TIME, START_TIME, SERVICE, TARGET', async () => {
    const before = Date.now();
    const { reply, records } = await recordsOf(getStatusBody('sip:alice@example.test'));
    expect(reply.status).toBe(200);
    expect(records).toHaveLength(1);
    const [r] = records;
    expect(r).toMatchObject({ eventType: 'getStatus', statusCode: 0, status: 'VALID', service: 'PX_TS_SIP' });
    expect(r.host.length).toBeGreaterThan(0);
    expect(Object.keys(r.attributes)).toEqual(['REQUESTER', 'RESPONSE_TIME', 'START_TIME', 'SERVICE', 'TARGET']);
    expect(r.attributes.TARGET).toBe('sip:alice@example.test');
    expect(r.attributes.SERVICE).toBe('PX_TS_SIP');
    expect(Number(r.attributes.RESPONSE_TIME)).toBeGreaterThanOrEqual(0);
    expect(Date.parse(r.attributes.START_TIME)).toBeGreaterThanOrEqual(before - 5);
    expect(r.recordTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  test.each([
    ['an invalid address', 13, 'SVC0002', 'ServiceException', getStatusBody('not a uri')],
    ['an unknown scheme', 10, 'SVC0002', 'ServiceException', getStatusBody('mailto:alice@example.test')],
    ['a group in getStatus', 14, 'POL0006', 'PolicyException', getStatusBody('glmgroup:team')],
    ['a presence server 404', 11, 'SVC0001', 'ServiceException', getStatusBody('sip:x@elsewhere.test')],
    ['too many targets', 3, 'POL0003', 'PolicyException', groupBody(['sip:a@example.test', 'sip:b@example.test', 'sip:c@example.test', 'sip:d@example.test'])],
    ['an unknown group', 15, 'SVC0002', 'ServiceException', groupBody(['glmgroup:nobody'])],
  ])('%s: STATUSCODE %i with FAILURE_REASON %s (%s)', async (_name, statusCode, messageId, kind, body) => {
    const { reply, records } = await recordsOf(body);
    expect(reply.status).toBe(500);
    expect(records).toHaveLength(1);
    expect(records[0].statusCode).toBe(statusCode);
    expect(records[0].attributes).toMatchObject({ FAILURE_REASON: messageId, ERROR_TYPE: kind });
    expect(records[0].attributes.FAILURE_DETAIL.length).toBeGreaterThan(0);
  });

  test('getStatusForGroup: TARGET lists the terminals; a long SERVICEDATA is segmented and reassembled', async () => {
    const addresses = ['sip:alice@example.test', `sip:${'b'.repeat(60)}@example.test`, `sip:${'c'.repeat(60)}@example.test`];
    const { reply, records } = await recordsOf(groupBody(addresses));
    expect(reply.status).toBe(200);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ eventType: 'getStatusForGroup', statusCode: 0 });
    expect(records[0].attributes.TARGET).toBe(addresses.join(','));
    const rows = execFileSync('sqlite3', [fixture.usageDatabase,
      `SELECT SEGMENT, length(SERVICEDATA) FROM USAGE_RECORD WHERE RECORDID='${records[0].recordId}' ORDER BY SEGMENT`],
    { encoding: 'utf8' }).trim().split('\n').map((line) => line.split('|').map(Number));
    expect(rows.length).toBeGreaterThan(1);
    rows.forEach(([segment, length], i) => {
      expect(segment).toBe(i);
      expect(length).toBeLessThanOrEqual(128);
    });
  });

  test('the CLI exports the records as CSV and JSON', async () => {
    const { records } = await recordsOf(getStatusBody('sip:alice@example.test'));
    const config = path.join(tempDir('px-export-'), 'export.yaml');
    fs.writeFileSync(config, `usage:\n  database: ${fixture.usageDatabase}\n`);
    const csv = execFileSync(process.execPath, [CLI, 'usage', 'export', '--config', config, '--global-id', records[0].globalId], { encoding: 'utf8' });
    const lines = csv.trim().split('\r\n');
    expect(lines[0]).toBe('RECORDID,GLOBALID,SERVICE,HOST,EVENTTYPE,RECORDTIME,STATUSCODE,SERVICEDATA');
    expect(lines).toHaveLength(2);
    expect(lines[1].startsWith(`${records[0].recordId},${records[0].globalId},PX_TS_SIP,`)).toBe(true);
    const json = JSON.parse(execFileSync(process.execPath, [CLI, 'usage', 'export', '--config', config, '--format', 'json',
      '--from', new Date(Date.now() - 60000).toISOString(), '--event-type', 'getStatus'], { encoding: 'utf8' }));
    expect(json.length).toBeGreaterThanOrEqual(5);
    expect(json.every((r) => r.eventType === 'getStatus')).toBe(true);
    expect(json.map((r) => r.recordId)).toContain(records[0].recordId);
  });
});

test('durable mode: a gateway killed with SIGKILL after N answered requests leaves N records', async () => {
  const dir = tempDir('px-sigkill-');
  const database = path.join(dir, 'usage.db');
  const httpPort = await freePort();
  const config = path.join(dir, 'gateway.yaml');
  fs.writeFileSync(config, `http:\n  port: ${httpPort}\nsip:\n  port: 0\n  presenceServerUri: "sip:127.0.0.1:${await freePort()}"\n`
    + `usage:\n  database: ${database}\n  durability: durable\nauthentication:\n  required: false\n`
    // calls.port 0: the default AS port 5090 would collide with another test file's gateway.
    + 'calls:\n  port: 0\n');
  const child = spawn(process.execPath, [CLI, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`gateway exited with ${code}`)));
      child.stdout.on('data', (chunk) => { if (String(chunk).includes('parlayx-gateway started')) resolve(); });
    });
    const endpoint = `http://127.0.0.1:${httpPort}/parlayx/TerminalStatusService/services/TerminalStatus`;
    let answered = 0;
    // Answers in parallel batches; every answered request must have its record on disk.
    for (let batch = 0; batch < 10; batch += 1) {
      const replies = await Promise.all(Array.from({ length: 20 }, () => postSoap(endpoint, getStatusBody('tel:+15550199'))));
      answered += replies.filter((r) => r.status === 500 && r.text.includes('SVC0001')).length;
    }
    expect(answered).toBe(200);
  } finally {
    child.kill('SIGKILL');
    await new Promise((resolve) => (child.exitCode !== null || child.signalCode ? resolve() : child.once('exit', resolve)));
  }
  const usage = new UsageLog(new native.UsageDatabase({ text: `usage:\n  database: ${database}\n`, name: 'reader.yaml' }));
  try {
    const records = await usage.query({ eventType: 'getStatus' });
    expect(records).toHaveLength(200);
    expect(new Set(records.map((r) => r.globalId)).size).toBe(200);
    expect(records.every((r) => r.statusCode === 11)).toBe(true);
  } finally {
    await usage.close();
  }
});
