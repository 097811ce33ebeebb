'use strict';
// Per-requester notification limits end to end (docs/policy.md "Notification limits"): two
// authenticated requesters whose policies tighten different limits of the notifications section
// send SOAP startNotification requests to a gateway in front of a real Kamailio. Each is refused
// with the fault and usage record of the limit it breaks while the other, whose limits allow the
// same request, is accepted; a request without duration gets its requester's default duration.
const http = require('node:http');
const { startKamailio, freePort } = require('../../scripts/kamailio/kamailio');
const sip = require('../support/sip');
const { startGateway, postSoap, envelope, tempDir, testPasswordHash, basicAuth } = require('../support/gateway');

const NM_NS = 'http://www.csapi.org/schema/parlayx/terminal_status/notification_manager/v2_3/local';
const PATH = '/TerminalStatusNotificationManagerService/services/TerminalStatusNotificationManager';
const PARTS = ['reference', 'addresses', 'criteria', 'checkImmediate', 'frequency', 'duration', 'count'];
const PASSWORD = 'correct horse battery staple';
const ALICE = 'sip:alice@example.test';
const BOB = 'sip:bob@example.test';

// The global level: the notifications section.
const NOTIFICATIONS_YAML = `  maxDurationSec: 7200
  defaultDurationSec: 1800
  minFrequencyMs: 1000
  unlimitedCountAllowed: true
  maxCount: 100
  busyCriteriaAllowed: true
`;

// shortLived limits duration and count at its own level; slowWatcher limits frequency, Busy and
// the number of addresses at its terminalStatus service and startNotification operation.
const REQUESTERS_YAML = `requesters:
  shortLived:
    passwordHash: "${testPasswordHash(PASSWORD)}"
    policy:
      notifications:
        maxDurationSec: 600
        defaultDurationSec: 120
        unlimitedCountAllowed: false
        maxCount: 5
  slowWatcher:
    passwordHash: "${testPasswordHash(PASSWORD)}"
    policy:
      services:
        terminalStatus:
          notifications:
            minFrequencyMs: 60000
          operations:
            startNotification:
              maxTargets: 1
              notifications:
                busyCriteriaAllowed: false
`;

let kamailio;
let application;
let fixture;
let manager;
let correlators = 0;

function timeMetric(part, metric, units) {
  return `<loc:${part}><metric>${metric}</metric><units>${units}</units></loc:${part}>`;
}

/** A startNotification body: a valid request, any part replaced by its XML in `parts`. */
function startBody(parts = {}) {
  correlators += 1;
  const all = {
    reference: `<loc:reference><endpoint>${application.url}</endpoint><interfaceName>TerminalStatusNotification</interfaceName>`
      + `<correlator>limits-${correlators}</correlator></loc:reference>`,
    addresses: `<loc:addresses>${ALICE}</loc:addresses>`,
    criteria: '',
    checkImmediate: '<loc:checkImmediate>false</loc:checkImmediate>',
    frequency: timeMetric('frequency', 'Minute', 1),
    duration: timeMetric('duration', 'Minute', 5),
    count: '<loc:count>5</loc:count>',
    ...parts,
  };
  return envelope(`<loc:startNotification>${PARTS.map((p) => all[p]).join('')}</loc:startNotification>`, { localNs: NM_NS });
}

/** startNotification as `requester`: the reply, its Parlay X fault (if any) and its usage records. */
async function start(requester, parts) {
  const reply = await postSoap(manager, startBody(parts), basicAuth(requester, PASSWORD));
  const globalId = reply.headers.get('x-parlayx-global-id');
  const messageId = /<messageId>([^<]*)<\/messageId>/.exec(reply.text);
  const fault = messageId && {
    messageId: messageId[1],
    variables: [...reply.text.matchAll(/<variables>([^<]*)<\/variables>/g)].map((m) => m[1]),
  };
  const records = globalId ? await fixture.gateway.usage.query({ globalId }) : [];
  return { reply, fault, records };
}

function expectAccepted({ reply, fault, records }, requester) {
  expect(fault).toBeNull();
  expect(reply.status).toBe(200);
  expect(records).toHaveLength(1);
  expect(records[0]).toMatchObject({ eventType: 'startNotification', statusCode: 0 });
  expect(records[0].attributes.REQUESTER).toBe(requester);
}

beforeAll(async () => {
  const port = await freePort();
  kamailio = await startKamailio({ sipPort: port, workDir: tempDir('px-kamailio-') });
  const server = { host: '127.0.0.1', port };
  expect((await sip.publish({ server, presentity: ALICE, basic: 'open' })).status).toBe(200);
  expect((await sip.publish({ server, presentity: BOB, basic: 'closed' })).status).toBe(200);
  // The application's endpoint; checkImmediate is false, so it is only named, never called.
  const app = http.createServer((req, res) => res.end());
  await new Promise((resolve) => app.listen(0, '127.0.0.1', resolve));
  application = {
    url: `http://127.0.0.1:${app.address().port}/app/TerminalStatusNotification`,
    close: () => new Promise((resolve) => app.close(resolve)),
  };
  fixture = await startGateway({
    presencePort: port,
    authYaml: 'authentication:\n  required: true\n',
    notificationsYaml: NOTIFICATIONS_YAML,
    extraYaml: REQUESTERS_YAML,
  });
  manager = `${fixture.url}${PATH}`;
}, 30000);

afterAll(async () => {
  if (fixture) await fixture.gateway.close();
  if (application) await application.close();
  if (kamailio) await kamailio.stop();
});

// [what, refused requester, the other (accepted), messageId, variables, STATUSCODE, parts]
test.each([
  ['a duration above the requester\'s maxDurationSec', 'shortLived', 'slowWatcher', 'POL0001',
    ['duration longer than the maximum of 600 seconds'], 13, { duration: timeMetric('duration', 'Minute', 11) }],
  ['no count when the requester may not ask for unlimited notifications', 'shortLived', 'slowWatcher', 'POL0004', [], 13,
    { count: '' }],
  ['a count above the requester\'s maxCount', 'shortLived', 'slowWatcher', 'POL0005', [], 13,
    { count: '<loc:count>6</loc:count>' }],
  ['a frequency below the requester\'s service minFrequencyMs', 'slowWatcher', 'shortLived', 'POL0009', [], 13,
    { frequency: timeMetric('frequency', 'Second', 10) }],
  ['Busy when the requester\'s operation does not allow it', 'slowWatcher', 'shortLived', 'POL0001',
    ['Busy is not supported as a criterion'], 13, { criteria: '<loc:criteria>Busy</loc:criteria>' }],
  ['more addresses than the requester\'s operation maxTargets', 'slowWatcher', 'shortLived', 'POL0003', ['addresses'], 3,
    { addresses: `<loc:addresses>${ALICE}</loc:addresses><loc:addresses>${BOB}</loc:addresses>` }],
])('%s: %s is refused, %s accepted', async (_what, refused, accepted, messageId, variables, statusCode, parts) => {
  const no = await start(refused, parts);
  expect(no.reply.status).toBe(500);
  expect(no.fault).toEqual({ messageId, variables });
  expect(no.reply.text).toContain('PolicyException');
  expect(no.records).toHaveLength(1);
  expect(no.records[0]).toMatchObject({ eventType: 'startNotification', statusCode, service: 'PX_TS_SIP' });
  expect(no.records[0].attributes).toMatchObject({ REQUESTER: refused, FAILURE_REASON: messageId, ERROR_TYPE: 'PolicyException' });
  // A refused request leaves no notification behind.
  expect(fixture.gateway.notifications.list({ requester: refused })
    .filter((n) => n.correlator === `limits-${correlators}`)).toEqual([]);

  expectAccepted(await start(accepted, parts), accepted);
});

test('a request without duration gets its requester\'s default duration', async () => {
  const before = Date.now();
  const short = await start('shortLived', { duration: '' });
  const slow = await start('slowWatcher', { duration: '' });
  const after = Date.now();
  expectAccepted(short, 'shortLived');
  expectAccepted(slow, 'slowWatcher');
  // shortLived's own default (120 s); slowWatcher sets none and gets the section's (1800 s).
  expect(short.records[0].attributes.DURATION).toBe('120000');
  expect(slow.records[0].attributes.DURATION).toBe('1800000');
  for (const [{ records }, ms] of [[short, 120000], [slow, 1800000]]) {
    const expiresAt = Date.parse(records[0].attributes.NOTIFICATION_EXPIRES_AT);
    expect(expiresAt).toBeGreaterThanOrEqual(before + ms - 1000);
    expect(expiresAt).toBeLessThanOrEqual(after + ms + 1000);
  }
});

test('a duration of 0 units is the default duration too', async () => {
  const zero = await start('shortLived', { duration: timeMetric('duration', 'Hour', 0) });
  expectAccepted(zero, 'shortLived');
  expect(zero.records[0].attributes.DURATION).toBe('120000');
});
