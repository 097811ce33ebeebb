'use strict';
// Groups from an XDMS (groups.xcap): RFC 4826 resource lists PUT over XCAP to a real Kamailio
// (xcap_server over xhttp, HTTP Digest required: scripts/kamailio/xcap.cfg.template), resolved by
// the gateway for getStatusForGroup and startNotification against the same Kamailio's presence.
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { startKamailio } = require('../../scripts/kamailio/kamailio');
const { parseChallenge, authorization } = require('../../js/xcapGroups');
const sip = require('../support/sip');
const { startGateway, tempDir, testPasswordHash } = require('../support/gateway');

const PASSWORD = 'xdms-secret';
const GW_DOC = '/xcap-root/resource-lists/users/sip:gw@example.test/index';
const BOB_DOC = '/xcap-root/resource-lists/users/sip:bob@example.test/index';
const CACHE_SEC = 2;
const TIMEOUT_MS = 400;

let kamailio;
let fixture;
let lonely; // a gateway whose XDMS accepts connections and never answers
let silent;
const silentSockets = new Set();

function resourceLists(lists) {
  return `<?xml version="1.0" encoding="UTF-8"?>
<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists">${lists}</resource-lists>`;
}

/** PUT of a document over XCAP, answering the Digest challenge. */
async function putDocument(docPath, body) {
  const url = `http://127.0.0.1:${kamailio.sipPort}${docPath}`;
  const headers = { 'Content-Type': 'application/resource-lists+xml' };
  let res = await fetch(url, { method: 'PUT', body, headers });
  if (res.status === 401) {
    const auth = authorization(parseChallenge(res.headers.get('www-authenticate')), docPath, 'tester', PASSWORD, 'PUT');
    res = await fetch(url, { method: 'PUT', body, headers: { ...headers, Authorization: auth } });
  }
  expect(res.status).toBe(200);
}

function friendsDocument(extra = '') {
  const bobFriends = `http://127.0.0.1:${kamailio.sipPort}${BOB_DOC}/~~/resource-lists/list%5b@name=%22mates%22%5d`;
  return resourceLists(`
  <list name="friends">
    <display-name>Friends</display-name>
    <entry uri="sip:alice@example.test"/>
    <list name="work"><entry uri="sip:carol@example.test"/></list>
    <external anchor="${bobFriends}"/>${extra}
  </list>
  <list name="flat"><entry uri="sip:alice@example.test"/><entry uri="sip:carol@example.test"/></list>
  <list name="loop"><external anchor="http://127.0.0.1:${kamailio.sipPort}${GW_DOC}/~~/resource-lists/list%5b@name=%22loop%22%5d"/></list>`);
}

function entriesOf(result) {
  return Object.fromEntries(result.map((e) => [e.address, e.reportStatus === 'Retrieved' ? e.currentStatus : e.reportStatus]));
}

async function refusal(promise) {
  const started = Date.now();
  const error = await promise.then(() => null, (e) => e);
  return { error, ms: Date.now() - started };
}

beforeAll(async () => {
  kamailio = await startKamailio({ template: 'xcap', xcapPassword: PASSWORD, workDir: tempDir('px-kam-xcap-') });
  const server = { host: '127.0.0.1', port: kamailio.sipPort };
  for (const [presentity, basic, activities] of [
    ['sip:alice@example.test', 'open', undefined],
    ['sip:carol@example.test', 'closed', undefined],
    ['sip:dave@example.test', 'open', ['on-the-phone']],
    ['sip:erin@example.test', 'open', undefined],
  ]) {
    expect((await sip.publish({ server, presentity, basic, activities })).status).toBe(200);
  }
  await putDocument(BOB_DOC, resourceLists('<list name="mates"><entry uri="sip:dave@example.test"/></list>'));
  await putDocument(GW_DOC, friendsDocument());

  const dir = tempDir('px-xcap-');
  const passwordFile = path.join(dir, 'xcap-password');
  fs.writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  fixture = await startGateway({
    presencePort: kamailio.sipPort,
    extraYaml: `groups:
  schemes: [glmgroup]
  members:
    "glmgroup:yaml": [sip:erin@example.test]
  xcap:
    root: http://127.0.0.1:${kamailio.sipPort}/xcap-root
    user: sip:gw@example.test
    timeoutMs: 2000
    cacheSec: ${CACHE_SEC}
    maxDepth: 3
    username: gateway
    passwordFile: ${passwordFile}
requesters:
  flatOnly:
    passwordHash: "${testPasswordHash('flat-only-secret')}"
    policy:
      nestedGroupsAllowed: false
`,
  });

  silent = net.createServer((socket) => {
    silentSockets.add(socket);
    socket.on('close', () => silentSockets.delete(socket));
  });
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  lonely = await startGateway({
    presencePort: kamailio.sipPort,
    extraYaml: `groups:
  xcap:
    root: http://127.0.0.1:${silent.address().port}/xcap-root
    user: sip:gw@example.test
    timeoutMs: ${TIMEOUT_MS}
`,
  });
}, 30000);

afterAll(async () => {
  if (fixture) await fixture.gateway.close();
  if (lonely) await lonely.gateway.close();
  for (const socket of silentSockets) socket.destroy();
  if (silent) await new Promise((resolve) => silent.close(resolve));
  if (kamailio) await kamailio.stop();
});

describe('groups from the XDMS', () => {
  test('getStatusForGroup answers exactly the members: entries, a nested list, an external list', async () => {
    const result = await fixture.gateway.getStatusForGroup(['glmgroup:friends', 'glmgroup:yaml']);
    expect(entriesOf(result)).toEqual({
      'sip:alice@example.test': 'Reachable',
      'sip:carol@example.test': 'Unreachable',
      'sip:dave@example.test': 'Busy',
      'sip:erin@example.test': 'Reachable', // the YAML group beside the XCAP one
    });
  });

  test('startNotification on an XCAP group watches exactly its members', async () => {
    const correlator = 'xcap-friends';
    await fixture.gateway.startNotification({
      reference: { endpoint: 'http://127.0.0.1:9/never', correlator, interfaceName: 'TerminalStatusNotification' },
      addresses: ['glmgroup:friends'],
      criteria: [],
      checkImmediate: false,
      frequency: { metric: 'Minute', units: 1 },
    }, {});
    const n = fixture.gateway.notifications.list().find((x) => x.correlator === correlator);
    expect(n.addresses.map((a) => a.address).sort()).toEqual([
      'sip:alice@example.test', 'sip:carol@example.test', 'sip:dave@example.test']);
    await fixture.gateway.endNotification(correlator, {});
  });

  test('a member added to the list shows up only after the cache lifetime', async () => {
    await fixture.gateway.getStatusForGroup(['glmgroup:friends']); // cached now
    const cachedAt = Date.now();
    await putDocument(GW_DOC, friendsDocument('\n    <entry uri="sip:erin@example.test"/>'));
    const before = entriesOf(await fixture.gateway.getStatusForGroup(['glmgroup:friends']));
    if (Date.now() - cachedAt < CACHE_SEC * 1000) expect(before['sip:erin@example.test']).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, CACHE_SEC * 1000 + 100));
    const after = entriesOf(await fixture.gateway.getStatusForGroup(['glmgroup:friends']));
    expect(after['sip:erin@example.test']).toBe('Reachable');
    expect(Object.keys(after)).toHaveLength(4);
  });

  test('a list that is missing or contains itself is UNRESOLVED_GROUPS (15) with its record', async () => {
    for (const group of ['glmgroup:nobody', 'glmgroup:loop']) {
      const globalId = `xcap-${group.slice(9)}`;
      const { error } = await refusal(fixture.gateway.getStatusForGroup([group], { globalId }));
      expect(error).toMatchObject({ messageId: 'SVC0002', usageStatus: 15 });
      const records = await fixture.gateway.usage.query({ globalId });
      expect(records.map((r) => r.statusCode)).toEqual([15]);
    }
  });

  test('an XDMS that does not answer is UNRESOLVED_GROUPS (15) within groups.xcap.timeoutMs', async () => {
    const { error, ms } = await refusal(lonely.gateway.getStatusForGroup(['glmgroup:friends'], { globalId: 'xcap-silent' }));
    expect(error).toMatchObject({ messageId: 'SVC0002', usageStatus: 15 });
    expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    expect(ms).toBeLessThan(TIMEOUT_MS + 400);
    expect((await lonely.gateway.usage.query({ globalId: 'xcap-silent' })).map((r) => r.statusCode)).toEqual([15]);
  });

  test('nestedGroupsAllowed false: a nested list is POL0007 GROUPS_NOT_ALLOWED (14) with its record, a flat list is answered', async () => {
    const options = (globalId) => ({ requester: 'flatOnly', globalId });
    // friends holds a nested <list> and an <external>: refused for getStatusForGroup and startNotification.
    const { error } = await refusal(fixture.gateway.getStatusForGroup(['sip:erin@example.test', 'glmgroup:friends'], options('xcap-nested')));
    expect(error).toMatchObject({
      messageId: 'POL0007', usageStatus: 14, variables: ['addresses'],
      text: 'Nested groups specified in message part addresses not allowed',
    });
    const records = await fixture.gateway.usage.query({ globalId: 'xcap-nested' });
    expect(records.map((r) => r.statusCode)).toEqual([14]);
    expect(records[0].attributes).toMatchObject({ REQUESTER: 'flatOnly', FAILURE_REASON: 'POL0007', ERROR_TYPE: 'PolicyException' });

    const start = await refusal(fixture.gateway.startNotification({
      reference: { endpoint: 'http://127.0.0.1:9/never', correlator: 'xcap-nested-n', interfaceName: 'TerminalStatusNotification' },
      addresses: ['glmgroup:friends'],
      criteria: [],
      checkImmediate: false,
      frequency: { metric: 'Minute', units: 1 },
    }, options('xcap-nested-n')));
    expect(start.error).toMatchObject({ messageId: 'POL0007', usageStatus: 14 });
    expect((await fixture.gateway.usage.query({ globalId: 'xcap-nested-n' })).map((r) => r.statusCode)).toEqual([14]);

    // A flat XCAP list and a YAML group are answered for the same requester.
    expect(entriesOf(await fixture.gateway.getStatusForGroup(['glmgroup:flat', 'glmgroup:yaml'], options('xcap-flat')))).toEqual({
      'sip:alice@example.test': 'Reachable',
      'sip:carol@example.test': 'Unreachable',
      'sip:erin@example.test': 'Reachable',
    });
    expect((await fixture.gateway.usage.query({ globalId: 'xcap-flat' })).map((r) => r.statusCode)).toEqual([0]);
    // The default (true) still resolves the nested list for everyone else.
    expect(Object.keys(entriesOf(await fixture.gateway.getStatusForGroup(['glmgroup:friends'])))).toContain('sip:dave@example.test');
  });

  test('groups not allowed stay GROUPS_NOT_ALLOWED (14) at once, without asking the XDMS', async () => {
    const { error, ms } = await refusal(lonely.gateway.getStatus('glmgroup:friends', { globalId: 'xcap-14' }));
    expect(error).toMatchObject({ messageId: 'POL0006', usageStatus: 14 });
    expect(ms).toBeLessThan(TIMEOUT_MS / 2);
    expect(silentSockets.size).toBeLessThanOrEqual(1); // only the earlier request's connection
  });
});
