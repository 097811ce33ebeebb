'use strict';
// getStatusForGroup through a resource list server (RFC 4662, presence.resourceLists): a real
// Kamailio with rls (scripts/kamailio/rls.cfg.template) holding the group's list in its xcap
// table, members' presence set by real PUBLISH. One gateway fetches the group with one list
// SUBSCRIBE, another one per terminal; their answers must be the same. SUBSCRIBEs are counted
// on the wire (Kamailio's px-wire trace, by the gateway's source port) and in the gateway's stats.
const { startKamailio, freePort } = require('../../scripts/kamailio/kamailio');
const sip = require('../support/sip');
const { putResourceLists } = require('../support/rls');
const { startGateway, tempDir } = require('../support/gateway');
const { startAppEndpoint } = require('../support/appEndpoint');

const GROUP = 'glmgroup:big@example.test';
const LIST = 'sip:big@example.test';
// rls finds the list among the rls-services of the watcher (sip.watcherUri, the default here).
const WATCHER = 'sip:parlayx-gateway@127.0.0.1';
const MEMBERS = Array.from({ length: 100 }, (_, i) => `sip:m${String(i).padStart(3, '0')}@example.test`);
// Notifications on a group: a list of its own, with members no other test touches.
const TEN_GROUP = 'glmgroup:ten@example.test';
const TEN_LIST = 'sip:ten@example.test';
const TEN = Array.from({ length: 10 }, (_, i) => `sip:n${String(i).padStart(2, '0')}@example.test`);

let kamailio;
let server;
let viaList;
let perTerminal;

function groupYaml() {
  return `groups:
  schemes: [glmgroup]
  members:
    "${GROUP}": [${MEMBERS.join(', ')}]
    "glmgroup:nolist@example.test": [sip:m000@example.test, sip:m001@example.test]
    "${TEN_GROUP}": [${TEN.join(', ')}]
`;
}

function wireSubscribes(fromPort) {
  return kamailio.logs().split('\n').filter((l) => l.includes('px-wire: SUBSCRIBE') && l.includes(`:${fromPort} `));
}

function byAddress(list) {
  return Object.fromEntries(list.map((s) => [s.address, s.reportStatus === 'Retrieved' ? s.currentStatus : s.reportStatus]));
}

beforeAll(async () => {
  const port = await freePort();
  kamailio = await startKamailio({ sipPort: port, template: 'rls', workDir: tempDir('px-kamailio-rls-') });
  server = { host: '127.0.0.1', port };
  putResourceLists(kamailio, WATCHER, [{ uri: LIST, members: MEMBERS }, { uri: TEN_LIST, members: TEN }]);
  for (const member of TEN) {
    expect((await sip.publish({ server, presentity: member, basic: 'open' })).status).toBe(200);
  }
  // 95 published (a mix of Reachable, Busy, Unreachable), 5 never published.
  for (let i = 0; i < 95; i += 1) {
    const basic = i % 7 === 3 ? 'closed' : 'open';
    const activities = i % 5 === 1 ? ['on-the-phone'] : undefined;
    const published = await sip.publish({ server, presentity: MEMBERS[i], basic, activities });
    expect(published.status).toBe(200);
  }
  viaList = await startGateway({
    presencePort: port,
    maxTargets: 200,
    extraYaml: groupYaml(),
    presenceYaml: `  resourceLists:\n    enabled: true\n    listUriTemplate: "sip:{user}@{host}"\n    fetchTimeoutMs: 8000\n    settleMs: 1500\n`,
    notificationsYaml: '  minFrequencyMs: 0\n',
  });
  perTerminal = await startGateway({ presencePort: port, maxTargets: 200, extraYaml: groupYaml() });
}, 60000);

afterAll(async () => {
  if (viaList) await viaList.gateway.close();
  if (perTerminal) await perTerminal.gateway.close();
  if (kamailio) await kamailio.stop();
});

describe('getStatusForGroup of a 100-member group via the RLS', () => {
  test('is answered by ONE SUBSCRIBE, with the statuses of the per-terminal path', async () => {
    const listPort = viaList.gateway.core.sipPort;
    const before = wireSubscribes(listPort).length;
    const listed = await viaList.gateway.terminalStatus.getStatusForGroup([GROUP]);
    const wire = wireSubscribes(listPort).slice(before);
    // ONE initial SUBSCRIBE, to the list (Supported: eventlist), none to any member; the only
    // other one is the list dialog's Expires: 0 (in the dialog: to the RLS's Contact), sent
    // after the answer.
    expect(wire.filter((l) => /SUBSCRIBE sip:m\d+@/.test(l))).toEqual([]);
    expect(wire.filter((l) => /SUBSCRIBE sip:big@example\.test .*supported=eventlist/.test(l))).toHaveLength(1);
    expect(wire.length).toBeLessThanOrEqual(2);
    const stats = viaList.gateway.core.stats();
    expect(stats).toMatchObject({ listFetches: 1, membersFromLists: 100, memberFallbacks: 0, started: 0 });

    const direct = await perTerminal.gateway.terminalStatus.getStatusForGroup([GROUP]);
    expect(listed).toHaveLength(100);
    expect(byAddress(listed)).toEqual(byAddress(direct));
    const counts = {};
    for (const s of listed) counts[s.currentStatus] = (counts[s.currentStatus] || 0) + 1;
    expect(counts.Busy).toBeGreaterThan(0);
    expect(counts.Unreachable).toBeGreaterThanOrEqual(5);
    expect(counts.Reachable).toBeGreaterThan(0);
  }, 30000);

  test('a group without a list is fetched per terminal', async () => {
    const before = viaList.gateway.core.stats().started;
    const result = await viaList.gateway.terminalStatus.getStatusForGroup(['glmgroup:nolist@example.test']);
    expect(result.map((s) => s.reportStatus)).toEqual(['Retrieved', 'Retrieved']);
    expect(viaList.gateway.core.stats().started - before).toBe(2);
  }, 20000);
});

describe('fallback', () => {
  test('against a presence server without rls, members are fetched per terminal', async () => {
    const port = await freePort();
    const plain = await startKamailio({ sipPort: port, workDir: tempDir('px-kamailio-plain-') });
    let gw;
    try {
      const plainServer = { host: '127.0.0.1', port };
      await sip.publish({ server: plainServer, presentity: MEMBERS[0], basic: 'open' });
      await sip.publish({ server: plainServer, presentity: MEMBERS[1], basic: 'open', activities: ['busy'] });
      gw = await startGateway({
        presencePort: port,
        maxTargets: 200,
        extraYaml: `groups:\n  schemes: [glmgroup]\n  members:\n    "glmgroup:two@example.test": [${MEMBERS[0]}, ${MEMBERS[1]}, ${MEMBERS[2]}]\n`,
        presenceYaml: '  resourceLists:\n    enabled: true\n    listUriTemplate: "sip:{user}@{host}"\n',
      });
      const result = await gw.gateway.terminalStatus.getStatusForGroup(['glmgroup:two@example.test']);
      expect(result.map((s) => s.currentStatus)).toEqual(['Reachable', 'Busy', 'Unreachable']);
      const stats = gw.gateway.core.stats();
      expect(stats.listFallbacks).toBe(1);
      expect(stats.memberFallbacks).toBe(3);
      expect(stats.started).toBe(3);
    } finally {
      if (gw) await gw.gateway.close();
      await plain.stop();
    }
  }, 30000);
});

describe('startNotification on a group via the RLS', () => {
  async function waitUntil(predicate, what, timeoutMs = 10000) {
    const until = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  test('holds ONE list subscription, notifies exactly the changed member, and ends the dialog', async () => {
    const app = await startAppEndpoint();
    const listPort = viaList.gateway.core.sipPort;
    const before = wireSubscribes(listPort).length;
    try {
      await viaList.gateway.startNotification({
        reference: { endpoint: app.url, correlator: 'rls-1', interfaceName: 'TerminalStatusNotification' },
        addresses: [TEN_GROUP],
        criteria: [],
        checkImmediate: false,
        frequency: { metric: 'Millisecond', units: 0 },
      });
      // Every member's baseline comes from the list's full state.
      const notification = () => viaList.gateway.core.listNotifications().find((n) => n.correlator === 'rls-1');
      await waitUntil(() => notification().addresses.every((a) => a.lastSeen === 'Reachable'), 'the baselines');
      let wire = wireSubscribes(listPort).slice(before);
      expect(wire.filter((l) => /SUBSCRIBE sip:n\d+@/.test(l))).toEqual([]);
      expect(wire.filter((l) => /SUBSCRIBE sip:ten@example\.test .*supported=eventlist/.test(l))).toHaveLength(1);
      expect(wire).toHaveLength(1);
      expect(app.received).toEqual([]);

      // One member changes: a partial-state NOTIFY, exactly that member's statusNotification.
      expect((await sip.publish({ server, presentity: TEN[3], basic: 'open', activities: ['on-the-phone'] })).status).toBe(200);
      const [changed] = await app.waitFor('rls-1', 1, 8000);
      expect(changed).toMatchObject({ kind: 'statusNotification', statuses: [{ address: TEN[3], status: 'Busy' }] });
      // The RLS batches NOTIFYs (waitn_time 1 s): wait past the next one; nothing else comes.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(app.received).toHaveLength(1);
      // No member was watched on its own (no per-member SUBSCRIBE on the wire either).
      expect(wireSubscribes(listPort).slice(before).filter((l) => /SUBSCRIBE sip:n\d+@/.test(l))).toEqual([]);

      // endNotification ends the list dialog: Expires: 0 in the dialog (to the RLS's Contact).
      const sent = wireSubscribes(listPort).length;
      await viaList.gateway.endNotification('rls-1');
      await waitUntil(() => wireSubscribes(listPort).length > sent, 'the Expires: 0');
      wire = wireSubscribes(listPort).slice(sent);
      expect(wire).toHaveLength(1);
      expect(wire[0]).toMatch(/ expires=0$/);
      expect(wire[0]).not.toMatch(/SUBSCRIBE sip:n\d+@/);
    } finally {
      await app.close();
    }
  }, 40000);
});
