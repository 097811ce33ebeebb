'use strict';
// getStatusForGroup of a 100-member group via a resource list server (one RFC 4662 list
// SUBSCRIBE, presence.resourceLists) vs 100 single fetches, in one run against one Kamailio with
// rls (scripts/kamailio/rls.cfg.template): latency per group and the gateway's CPU per group
// (/proc, bench/procstat.js: this process, which runs the gateway).
// Usage: node bench/rls.js [--groups 10] [--members 100]
const { startKamailio, freePort } = require('../scripts/kamailio/kamailio');
const sip = require('../scripts/kamailio/sip-client');
const { putResourceLists } = require('../tests/support/rls');
const { startGateway, tempDir } = require('../tests/support/gateway');
const { cpuSeconds } = require('./procstat');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure(label, service, group, groups) {
  const latencies = [];
  const cpu0 = cpuSeconds(process.pid);
  for (let i = 0; i < groups; i += 1) {
    const t0 = process.hrtime.bigint();
    const result = await service.getStatusForGroup([group]);
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (result.some((s) => s.reportStatus !== 'Retrieved')) throw new Error(`${label}: not all retrieved`);
  }
  const cpu = cpuSeconds(process.pid) - cpu0;
  latencies.sort((a, b) => a - b);
  return {
    mode: label,
    groups,
    latencyMsP50: Math.round(percentile(latencies, 50)),
    latencyMsMax: Math.round(latencies[latencies.length - 1]),
    gatewayCpuMsPerGroup: Number(((cpu * 1000) / groups).toFixed(2)),
  };
}

async function main() {
  const groups = arg('groups', 10);
  const n = arg('members', 100);
  const members = Array.from({ length: n }, (_, i) => `sip:b${i}@example.test`);
  const port = await freePort();
  const kamailio = await startKamailio({ sipPort: port, template: 'rls', workDir: tempDir('px-bench-rls-') });
  const server = { host: '127.0.0.1', port };
  const gateways = [];
  try {
    putResourceLists(kamailio, 'sip:parlayx-gateway@127.0.0.1', [{ uri: 'sip:team@example.test', members }]);
    for (let i = 0; i < n; i += 1) {
      await sip.publish({ server, presentity: members[i], basic: i % 3 ? 'open' : 'closed', activities: i % 4 ? undefined : ['busy'] });
    }
    const groupsYaml = `groups:\n  schemes: [glmgroup]\n  members:\n    "glmgroup:team@example.test": [${members.join(', ')}]\n`;
    const viaList = await startGateway({
      presencePort: port, maxTargets: n, extraYaml: groupsYaml,
      presenceYaml: '  resourceLists:\n    enabled: true\n    listUriTemplate: "sip:{user}@{host}"\n    fetchTimeoutMs: 8000\n',
    });
    gateways.push(viaList);
    const single = await startGateway({ presencePort: port, maxTargets: n, extraYaml: groupsYaml, fetchTimeoutMs: 3000 });
    gateways.push(single);
    // One warm-up each.
    await viaList.gateway.terminalStatus.getStatusForGroup(['glmgroup:team@example.test']);
    await single.gateway.terminalStatus.getStatusForGroup(['glmgroup:team@example.test']);
    const rows = [
      await measure('rls (1 list SUBSCRIBE)', viaList.gateway.terminalStatus, 'glmgroup:team@example.test', groups),
      await measure(`single fetches (${n} SUBSCRIBEs)`, single.gateway.terminalStatus, 'glmgroup:team@example.test', groups),
    ];
    console.table(rows);
  } finally {
    for (const g of gateways) await g.gateway.close();
    await kamailio.stop();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
