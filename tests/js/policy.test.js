'use strict';
// The service policy end to end: one test per row of the policy table (docs/policy.md), each
// through a real SOAP call of an authenticated requester to a gateway in front of a real Kamailio,
// asserting the fault and the usage record; the pacer and traffic shaping windows in real time;
// admission control against a presence server that does not answer; the outcome counters.
const dgram = require('node:dgram');
const { startKamailio, freePort } = require('../../scripts/kamailio/kamailio');
const sip = require('../support/sip');
const { startGateway, postSoap, envelope, tempDir, testPasswordHash, basicAuth } = require('../support/gateway');

const TEAM = 'glmgroup:team@example.test';
const PASSWORD = 'correct horse battery staple';
const REQUESTERS = ['acme', 'closed', 'telOnly', 'german', 'noGroups', 'upToReject', 'upToPartial', 'private', 'paced'];

let kamailio;
let presencePort;
let fixture;

const basic = (name, password = PASSWORD) => basicAuth(name, password);

const getStatusBody = (address) => envelope(
  address === undefined ? '<loc:getStatus/>' : `<loc:getStatus><loc:address>${address}</loc:address></loc:getStatus>`,
);
const groupBody = (addresses) => envelope(
  `<loc:getStatusForGroup>${addresses.map((a) => `<loc:addresses>${a}</loc:addresses>`).join('')}</loc:getStatusForGroup>`,
);

/** The policy of each requester of the main gateway (indented under requesters.<name>). */
const REQUESTER_POLICY = {
  acme: '',
  closed: `
      services:
        terminalStatus:
          operations:
            getStatus:
              enabled: false`,
  telOnly: `
      allowedSchemes: [tel]`,
  german: `
      addressPlan:
        countryCodes: ["49"]`,
  noGroups: `
      groupsAllowed: false`,
  upToReject: `
      processUpTo: { limit: 2, mode: reject }`,
  upToPartial: `
      processUpTo: { limit: 2, mode: partial }`,
  private: `
      privacy:
        allowedTargets: ["sip:alice@example.test", "sip:bob@*"]`,
  paced: `
      pacer: { limit: 3, windowMs: 1500 }`,
};

function requestersYaml(names) {
  return `requesters:\n${names.map((name) => `  ${name}:
    passwordHash: "${testPasswordHash(PASSWORD)}"${REQUESTER_POLICY[name] ? `\n    policy:${REQUESTER_POLICY[name]}` : ''}
`).join('')}`;
}

/** Sends a request as `requester` and returns the reply and the usage records of its GLOBALID. */
async function call(endpoint, gateway, requester, body) {
  const reply = await postSoap(endpoint, body, requester ? basic(requester) : {});
  const globalId = reply.headers.get('x-parlayx-global-id');
  const records = globalId ? await gateway.usage.query({ globalId }) : [];
  return { reply, records };
}

/** messageId and variables of the Parlay X fault in a SOAP reply. */
function faultOf(text) {
  const messageId = /<messageId>([^<]*)<\/messageId>/.exec(text);
  const variables = [...text.matchAll(/<variables>([^<]*)<\/variables>/g)].map((m) => m[1]);
  return { messageId: messageId && messageId[1], variables };
}

beforeAll(async () => {
  presencePort = await freePort();
  kamailio = await startKamailio({ sipPort: presencePort, workDir: tempDir('px-kamailio-') });
  const server = { host: '127.0.0.1', port: presencePort };
  for (const [presentity, basicStatus] of [['sip:alice@example.test', 'open'], ['sip:bob@example.test', 'closed'],
    ['sip:carol@example.test', 'open'], ['sip:hidden@example.test', 'open']]) {
    expect((await sip.publish({ server, presentity, basic: basicStatus })).status).toBe(200);
  }
  fixture = await startGateway({
    presencePort,
    authYaml: 'authentication:\n  required: true\n',
    maxTargets: 4,
    policyYaml: '  privacy:\n    optedOut: ["sip:hidden@example.test"]\n',
    extraYaml: `groups:
  schemes: [glmgroup]
  members:
    "${TEAM}": [sip:alice@example.test, sip:bob@example.test, sip:carol@example.test]
${requestersYaml(REQUESTERS)}`,
  });
}, 30000);

afterAll(async () => {
  if (fixture) await fixture.gateway.close();
  if (kamailio) await kamailio.stop();
});

const send = (requester, body) => call(fixture.endpoint, fixture.gateway, requester, body);

describe('each check of the policy table answers its fault and records its status code', () => {
  // [row, requester, body, HTTP status, messageId, variables, STATUSCODE, ERROR_TYPE]
  test.each([
    ['service disabled', 'closed', getStatusBody('sip:alice@example.test'), 'SVC0001', 8, 'ServiceException'],
    ['scheme not allowed', 'telOnly', getStatusBody('sip:alice@example.test'), 'SVC0002', 10, 'ServiceException'],
    ['address plan', 'german', getStatusBody('tel:+15550001'), 'SVC0002', 2, 'ServiceException'],
    ['malformed request', 'acme', getStatusBody(), 'SVC0002', 13, 'ServiceException'],
    ['group addresses not allowed', 'noGroups', groupBody([TEAM]), 'POL0006', 14, 'PolicyException'],
    ['group cannot be resolved', 'acme', groupBody(['glmgroup:nobody@example.test']), 'SVC0002', 15, 'ServiceException'],
    ['too many targets after expansion', 'acme', groupBody([TEAM, 'sip:dave@example.test', 'sip:erin@example.test']),
      'POL0003', 3, 'PolicyException'],
    ['more than process-up-to (reject)', 'upToReject', groupBody([TEAM]), 'POL0003', 6, 'PolicyException'],
    ['target opted out', 'acme', getStatusBody('sip:hidden@example.test'), 'POL0002', 1, 'PolicyException'],
    ['target not on the requester\'s allow-list', 'private', getStatusBody('sip:carol@example.test'), 'POL0002', 1,
      'PolicyException'],
  ])('%s (%s)', async (_row, requester, body, messageId, statusCode, errorType) => {
    const { reply, records } = await send(requester, body);
    expect(reply.status).toBe(500);
    expect(faultOf(reply.text).messageId).toBe(messageId);
    expect(records).toHaveLength(1);
    expect(records[0].statusCode).toBe(statusCode);
    expect(records[0].attributes).toMatchObject({ REQUESTER: requester, FAILURE_REASON: messageId, ERROR_TYPE: errorType });
    expect(records[0].attributes.FAILURE_DETAIL.length).toBeGreaterThan(0);
  });

  test('the fault names the refused part or target', async () => {
    expect(faultOf((await send('telOnly', getStatusBody('sip:alice@example.test'))).reply.text).variables).toEqual(['address']);
    expect(faultOf((await send('noGroups', groupBody([TEAM]))).reply.text).variables).toEqual(['addresses']);
    expect(faultOf((await send('acme', getStatusBody('sip:hidden@example.test'))).reply.text).variables)
      .toEqual(['sip:hidden@example.test']);
  });

  test('the same requests of an unrestricted requester succeed (the refusals above are the policy\'s)', async () => {
    const { reply, records } = await send('acme', getStatusBody('sip:alice@example.test'));
    expect(reply.status).toBe(200);
    expect(reply.text).toContain('<ns:result>Reachable</ns:result>');
    expect(records.map((r) => [r.statusCode, r.attributes.REQUESTER])).toEqual([[0, 'acme']]);
    expect((await send('acme', groupBody([TEAM]))).reply.status).toBe(200);
    expect((await send('german', getStatusBody('tel:+4930123456'))).reply.status).toBe(200);
  });

  test('process-up-to in partial mode: the first N are retrieved, the rest NotRetrieved, STATUSCODE 6', async () => {
    const { reply, records } = await send('upToPartial', groupBody([TEAM]));
    expect(reply.status).toBe(200);
    const entries = [...reply.text.matchAll(/<address>([^<]*)<\/address><reportStatus>([^<]*)<\/reportStatus>/g)]
      .map((m) => [m[1], m[2]]);
    expect(entries).toEqual([
      ['sip:alice@example.test', 'Retrieved'], ['sip:bob@example.test', 'Retrieved'], ['sip:carol@example.test', 'NotRetrieved'],
    ]);
    expect(records).toHaveLength(1);
    expect(records[0].statusCode).toBe(6);
    expect(records[0].attributes.FAILURE_REASON).toBeUndefined();
  });
});

describe('in a group request, address and privacy failures only affect their own entries', () => {
  test('a target outside the address plan is an Error entry with its own record (STATUSCODE 2)', async () => {
    const { reply, records } = await send('german', groupBody(['tel:+4930123456', 'tel:+15550001']));
    expect(reply.status).toBe(200);
    expect(reply.text).toMatch(/<address>tel:\+4930123456<\/address><reportStatus>Retrieved<\/reportStatus>/);
    expect(reply.text).toMatch(/<address>tel:\+15550001<\/address><reportStatus>Error<\/reportStatus><errorInformation><messageId>SVC0002<\/messageId>/);
    const byStatus = Object.fromEntries(records.map((r) => [r.statusCode, r]));
    expect(records).toHaveLength(2);
    expect(byStatus[0].attributes.TARGET).toBe('tel:+4930123456,tel:+15550001');
    expect(byStatus[2].attributes).toMatchObject({ TARGET: 'tel:+15550001', FAILURE_REASON: 'SVC0002', REQUESTER: 'german' });
  });

  test('a target the requester may not see is an Error entry with POL0002 and its own record (STATUSCODE 1)', async () => {
    const { reply, records } = await send('private', groupBody([TEAM]));
    expect(reply.status).toBe(200);
    expect(reply.text).toMatch(/<address>sip:alice@example.test<\/address><reportStatus>Retrieved<\/reportStatus><currentStatus>Reachable/);
    expect(reply.text).toMatch(/<address>sip:bob@example.test<\/address><reportStatus>Retrieved<\/reportStatus><currentStatus>Unreachable/);
    expect(reply.text).toMatch(/<address>sip:carol@example.test<\/address><reportStatus>Error<\/reportStatus><errorInformation><messageId>POL0002<\/messageId>/);
    expect(records.map((r) => r.statusCode).sort()).toEqual([0, 1]);
    expect(records.find((r) => r.statusCode === 1).attributes).toMatchObject({
      TARGET: 'sip:carol@example.test', FAILURE_REASON: 'POL0002', ERROR_TYPE: 'PolicyException',
    });
  });
});

describe('pacer (real time)', () => {
  test('weight by targets within the window, FAILED_PACER beyond it, admitted again once the window passed', async () => {
    // limit 3 per 1500 ms: a group of two weighs 2, a getStatus 1, the next one is over.
    expect((await send('paced', groupBody(['sip:alice@example.test', 'sip:bob@example.test']))).reply.status).toBe(200);
    expect((await send('paced', getStatusBody('sip:alice@example.test'))).reply.status).toBe(200);
    const refused = await send('paced', getStatusBody('sip:alice@example.test'));
    expect(refused.reply.status).toBe(500);
    expect(faultOf(refused.reply.text).messageId).toBe('POL0001');
    expect(refused.records[0]).toMatchObject({ statusCode: 4 });
    expect(refused.records[0].attributes).toMatchObject({ FAILURE_REASON: 'POL0001', ERROR_TYPE: 'PolicyException' });
    // Other requesters are not paced by this requester's rate.
    expect((await send('acme', getStatusBody('sip:alice@example.test'))).reply.status).toBe(200);
    // Two whole windows later the sliding estimate is back to zero.
    await new Promise((resolve) => setTimeout(resolve, 3100));
    expect((await send('paced', getStatusBody('sip:alice@example.test'))).reply.status).toBe(200);
  });
});

describe('traffic shaping toward the presence server (real time)', () => {
  let shaped;
  beforeAll(async () => {
    shaped = await startGateway({
      presencePort,
      policyYaml: '  trafficShaping:\n    presenceServer: { ratePerSec: 4, burst: 3 }\n',
    });
  });
  afterAll(async () => { if (shaped) await shaped.gateway.close(); });

  test('a burst takes the tokens, the next request is FAILED_TRAFFIC_SHAPING, a token comes back after 1/rate s', async () => {
    const through = (body) => call(shaped.endpoint, shaped.gateway, null, body);
    expect((await through(groupBody(['sip:alice@example.test', 'sip:bob@example.test', 'sip:carol@example.test']))).reply.status)
      .toBe(200);
    const refused = await through(getStatusBody('sip:alice@example.test'));
    expect(refused.reply.status).toBe(500);
    expect(faultOf(refused.reply.text).messageId).toBe('SVC0001');
    expect(refused.records[0].statusCode).toBe(16);
    const statsBefore = shaped.gateway.core.stats().started;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await through(getStatusBody('sip:alice@example.test'))).reply.status).toBe(200);
    // The refused request never reached the network: one fetch for the admitted one only.
    expect(shaped.gateway.core.stats().started - statsBefore).toBe(1);
  });
});

describe('admission control', () => {
  let sink;
  let busy;
  beforeAll(async () => {
    // A presence server that never answers keeps the first request in flight for fetchTimeoutMs.
    sink = dgram.createSocket('udp4');
    const port = await freePort();
    await new Promise((resolve) => sink.bind(port, '127.0.0.1', resolve));
    busy = await startGateway({ presencePort: port, fetchTimeoutMs: 1500, policyYaml: '  maxInFlight: 1\n' });
  });
  afterAll(async () => {
    if (busy) await busy.gateway.close();
    if (sink) await new Promise((resolve) => sink.close(resolve));
  });

  test('a request above maxInFlight is FAILED_ADMISSION_CONTROL (SVC0001); capacity returns when the first ends', async () => {
    const through = (body) => call(busy.endpoint, busy.gateway, null, body);
    const first = through(getStatusBody('sip:alice@example.test'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const second = await through(getStatusBody('sip:bob@example.test'));
    expect(second.reply.status).toBe(500);
    expect(faultOf(second.reply.text).messageId).toBe('SVC0001');
    expect(second.records[0].statusCode).toBe(7);
    const done = await first;
    expect(done.records[0].statusCode).toBe(11); // the fetch timed out: FAILED_OPERATION
    expect(busy.gateway.core.stats().policyInFlight).toBe(0);
    const third = through(getStatusBody('sip:carol@example.test'));
    expect((await third).records[0].statusCode).toBe(11); // admitted (and timed out again)
  });
});

describe('outcome counters per requester, service, operation and outcome', () => {
  test('count what happened to each requester', async () => {
    const before = fixture.gateway.policyCounters({ requester: 'telOnly' });
    const countOf = (rows, outcome) => (rows.find((r) => r.operation === 'getStatus' && r.outcome === outcome && r.level === 'request') || { count: 0 }).count;
    await send('telOnly', getStatusBody('sip:alice@example.test'));
    await send('telOnly', getStatusBody('tel:+4930123456'));
    const after = fixture.gateway.policyCounters({ requester: 'telOnly' });
    expect(countOf(after, 'UNKNOWN_SCHEME') - countOf(before, 'UNKNOWN_SCHEME')).toBe(1);
    expect(countOf(after, 'VALID') - countOf(before, 'VALID')).toBe(1);
    expect(after.every((r) => r.requester === 'telOnly' && r.service === 'terminalStatus')).toBe(true);
  });

  test('failed authentication is counted as UNAUTHENTICATED under the claimed name', async () => {
    const reply = await postSoap(fixture.endpoint, getStatusBody('sip:alice@example.test'), basic('acme', 'wrong'));
    expect(reply.status).toBe(401);
    const rows = fixture.gateway.policyCounters({ requester: 'acme' });
    expect(rows.find((r) => r.outcome === 'UNAUTHENTICATED' && r.operation === 'getStatus').count).toBeGreaterThanOrEqual(1);
  });
});
