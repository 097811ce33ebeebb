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

const GROUP = 'glmgroup:big@example.test';
const LIST = 'sip:big@example.test';
// rls finds the list among the rls-services of the watcher (sip.watcherUri, the default here).
const WATCHER = 'sip:parlayx-gateway@127.0.0.1';
const MEMBERS = Array.from({ length: 100 }, (_, i) => `sip:m${String(i).padStart(3, '0')}@example.test`);

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
  putResourceLists(kamailio, WATCHER, [{ uri: LIST, members: MEMBERS }]);
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
