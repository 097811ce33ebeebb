'use strict';
// Cost of what issue 5 put in front of every request, on the JS thread: authenticating a Basic
// request whose password was verified before (the verified-credential cache), and one policy
// decision (NativeCore.evaluatePolicy) for getStatus and for a 10-target getStatusForGroup.
//   node bench/policy.js [--iterations 200000]
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const native = require('../js/native');
const { createAuthenticator } = require('../js/auth/authenticator');
const { hashPassword } = require('../js/auth/passwordHash');

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '200000' } } });
const N = Number(values.iterations);

async function perCall(label, fn) {
  for (let i = 0; i < 1000; i++) await fn(); // warm-up (JIT, caches)
  const started = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await fn();
  const us = Number(process.hrtime.bigint() - started) / 1e3 / N;
  console.log(`${label}: ${us.toFixed(2)} µs per call`);
  return us;
}

async function main() {
  const hash = await hashPassword('bench-password');
  const authenticator = createAuthenticator({
    authentication: { required: true, realm: 'bench', tokenMaxAgeSec: 300, verifiedCacheSec: 300 },
    requesters: { bench: { passwordHash: hash, digestSecret: '' } },
  });
  const event = { headers: { authorization: `Basic ${Buffer.from('bench:bench-password').toString('base64')}` } };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'px-bench-policy-'));
  const core = new native.NativeCore({
    name: 'bench-policy.yaml',
    text: `sip:\n  port: 0\nnotifications:\n  database: ${dir}/notifications.db\nusage:\n  database: ${dir}/usage.db\n`
      + 'policy:\n  maxInFlight: 100000\n  pacer: { limit: 1000000000, windowMs: 1000 }\n'
      + '  privacy:\n    optedOut: ["sip:hidden@example.test", "tel:+4930555*"]\n'
      + '  addressPlan:\n    telPatterns: [\'^\\+\\d{6,15}$\']\n'
      + '  trafficShaping:\n    presenceServer: { ratePerSec: 1000000, burst: 1000000 }\n',
  });
  const group = Array.from({ length: 10 }, (_, i) => `sip:user${i}@example.test`);
  try {
    await perCall('authenticate (Basic, verified before)', () => authenticator.authenticate(event, null));
    await perCall('evaluatePolicy + release, getStatus', () => {
      core.releasePolicy(core.evaluatePolicy('bench', 'getStatus', ['sip:alice@example.test']).admission);
    });
    await perCall('evaluatePolicy + release, getStatusForGroup of 10', () => {
      core.releasePolicy(core.evaluatePolicy('bench', 'getStatusForGroup', group).admission);
    });
  } finally {
    await core.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
