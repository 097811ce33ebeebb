'use strict';
// The admin listener (issue 16, Operations): /metrics values after known traffic, /healthz,
// /readyz against a real Kamailio presence server that is stopped and started again, and the
// separation from the SOAP port.
const { startKamailio, freePort } = require('../../scripts/kamailio/kamailio');
const sip = require('../support/sip');
const { startGateway, postSoap, envelope, tempDir } = require('../support/gateway');

const FETCH_TIMEOUT_MS = 500;
let presencePort;
let kamailio;
let fixture;
let admin;

/** The value of one sample of the Prometheus text, 0 when absent. */
function sample(text, name, labels = {}) {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] || '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return 0;
}

async function metrics() {
  const response = await fetch(`${admin.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.text();
}

async function readyz() {
  const response = await fetch(`${admin.url}/readyz`);
  return { status: response.status, body: await response.json() };
}

/** Polls /readyz until it answers `status` (the probe result is cached for the fetch timeout). */
async function readyzUntil(status, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await readyz();
    if (answer.status === status || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function startPresence() {
  kamailio = await startKamailio({ sipPort: presencePort, workDir: tempDir('px-kamailio-') });
  const published = await sip.publish({ server: { host: '127.0.0.1', port: presencePort }, presentity: 'sip:alice@example.test', basic: 'open' });
  expect(published.status).toBe(200);
}

beforeAll(async () => {
  presencePort = await freePort();
  await startPresence();
  fixture = await startGateway({
    presencePort,
    fetchTimeoutMs: FETCH_TIMEOUT_MS,
    extraYaml: 'admin:\n  enabled: true\n  host: 127.0.0.1\n  port: 0\n',
  });
  admin = fixture.gateway.adminAddress();
}, 30000);

afterAll(async () => {
  if (fixture) await fixture.gateway.close();
  if (kamailio) await kamailio.stop();
});

describe('admin listener', () => {
  test('listens on its own port; the SOAP port serves no admin endpoint', async () => {
    const soap = fixture.gateway.address();
    expect(admin.host).toBe('127.0.0.1');
    expect(admin.port).not.toBe(soap.port);
    for (const path of ['/metrics', '/healthz', '/readyz']) {
      expect((await fetch(`http://127.0.0.1:${soap.port}${path}`)).status).toBe(404);
    }
    const health = await fetch(`${admin.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect((await fetch(`${admin.url}/nothing`)).status).toBe(404);
    const post = await fetch(`${admin.url}/metrics`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  test('metrics count known traffic: 3 getStatus over SOAP, their SIP fetches and usage records', async () => {
    const before = await metrics();
    for (let i = 0; i < 3; i++) {
      const { status, text } = await postSoap(fixture.endpoint, envelope('<loc:getStatus><loc:address>sip:alice@example.test</loc:address></loc:getStatus>'));
      expect(status).toBe(200);
      expect(text).toContain('Reachable');
    }
    // One refused by the policy (its address plan: a scheme that is not tel/sip/sips, SVC0002).
    const refused = await postSoap(fixture.endpoint, envelope('<loc:getStatus><loc:address>mailto:x@example.test</loc:address></loc:getStatus>'));
    expect(refused.status).toBe(500);
    const after = await metrics();
    const getStatus = { api: 'parlayx-terminal-status', operation: 'getStatus' };
    const delta = (name, labels) => sample(after, name, labels) - sample(before, name, labels);

    expect(delta('parlayx_requests_total', { ...getStatus, outcome: 'VALID' })).toBe(3);
    expect(delta('parlayx_request_duration_seconds_count', { ...getStatus, outcome: 'VALID' })).toBe(3);
    // A loopback fetch from Kamailio takes well under the fetch timeout.
    expect(sample(after, 'parlayx_request_duration_seconds_bucket', { ...getStatus, outcome: 'VALID', le: '0.5' })).toBe(3);
    expect(delta('parlayx_requests_total', { ...getStatus, outcome: 'UNKNOWN_SCHEME' })).toBe(1);
    expect(delta('parlayx_sip_fetches_started_total')).toBe(3);
    expect(delta('parlayx_sip_fetches_completed_total')).toBe(3);
    expect(delta('parlayx_sip_fetch_timeouts_total')).toBe(0);
    expect(sample(after, 'parlayx_sip_fetches_in_flight')).toBe(0);
    expect(delta('parlayx_usage_rows_written_total')).toBe(4);
    expect(delta('parlayx_usage_commits_total')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'parlayx_usage_write_errors_total')).toBe(0);
    // The usage store's commit latency: one observation per committed transaction, measured by
    // its writer thread; a loopback durable commit takes well under 10 s.
    const commits = delta('parlayx_usage_commits_total');
    for (const name of ['parlayx_usage_commit_wait_seconds', 'parlayx_usage_commit_duration_seconds']) {
      expect(delta(`${name}_count`)).toBe(commits);
      expect(sample(after, `${name}_count`)).toBeGreaterThan(0);
      expect(sample(after, `${name}_bucket`, { le: '+Inf' })).toBe(sample(after, `${name}_count`));
      expect(sample(after, `${name}_bucket`, { le: '10' })).toBe(sample(after, `${name}_count`));
      expect(delta(`${name}_sum`)).toBeGreaterThan(0);
    }
    // A transaction's wait includes its writing.
    expect(sample(after, 'parlayx_usage_commit_wait_seconds_sum'))
      .toBeGreaterThanOrEqual(sample(after, 'parlayx_usage_commit_duration_seconds_sum'));
    expect(after).toMatch(/^# TYPE parlayx_usage_commit_wait_seconds histogram$/m);
    expect(delta('parlayx_policy_outcomes_total', { service: 'terminalStatus', operation: 'getStatus', outcome: 'VALID', level: 'request' })).toBe(3);
    expect(delta('parlayx_policy_outcomes_total', { service: 'terminalStatus', operation: 'getStatus', outcome: 'UNKNOWN_SCHEME', level: 'request' })).toBe(1);
    // Process metrics and the event-loop delay of prom-client's default collectors.
    expect(after).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(after).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);
    expect(after).toMatch(/^parlayx_delivery_queue_depth 0$/m);
    // The gateway's own registry: the process-wide default one stays empty.
    expect(await require('prom-client').register.metrics()).not.toContain('parlayx_');
  });

  test('/readyz: 200 with a reachable presence server, 503 once it stops, 200 when it is back', async () => {
    const up = await readyzUntil(200);
    expect(up.status).toBe(200);
    expect(up.body).toMatchObject({
      ready: true, reasons: [],
      checks: { shuttingDown: false, usageStoreWritable: true, presenceServerReachable: true, clusterMember: true },
    });

    // The probe is cached for the fetch timeout: a burst of /readyz sends at most one fetch.
    const started = sample(await metrics(), 'parlayx_sip_fetches_started_total');
    await Promise.all(Array.from({ length: 10 }, () => readyz()));
    expect(sample(await metrics(), 'parlayx_sip_fetches_started_total') - started).toBeLessThanOrEqual(1);

    await kamailio.stop();
    kamailio = null;
    const down = await readyzUntil(503);
    expect(down.status).toBe(503);
    expect(down.body.ready).toBe(false);
    expect(down.body.checks.presenceServerReachable).toBe(false);
    expect(down.body.reasons.join(' ')).toMatch(/presence server/);
    // Alive all the same.
    expect((await fetch(`${admin.url}/healthz`)).status).toBe(200);

    await startPresence();
    const back = await readyzUntil(200);
    expect(back.status).toBe(200);
    expect(back.body.checks.presenceServerReachable).toBe(true);
  }, 40000);
});

describe('readiness rules', () => {
  const { Readiness, answered } = require('../../js/admin/readiness');

  test('a presence probe counts as an answer when the server answered, not on timeout, 408 or 5xx', () => {
    expect(answered({ kind: 'status', sipStatus: 200 })).toBe(true);
    expect(answered({ kind: 'badDocument', sipStatus: 0 })).toBe(true);
    expect(answered({ kind: 'sipError', sipStatus: 404 })).toBe(true);
    expect(answered({ kind: 'sipError', sipStatus: 408 })).toBe(false);
    expect(answered({ kind: 'sipError', sipStatus: 503 })).toBe(false);
    expect(answered({ kind: 'sipError', sipStatus: 0 })).toBe(false);
    expect(answered({ kind: 'timeout', sipStatus: 0 })).toBe(false);
    expect(answered({ kind: 'shutdown', sipStatus: 0 })).toBe(false);
  });

  test('the usage store is not writable while appends fail and nothing commits; a commit clears it', async () => {
    const stats = { writeErrors: 0, commits: 5 };
    const core = { fetchStatus: async () => ({ kind: 'status', sipStatus: 200 }), stats: () => ({}) };
    const readiness = new Readiness({
      core, usage: { stats: () => ({ ...stats }) },
      config: { sip: { watcherUri: 'sip:gw@example.test' }, presence: { fetchTimeoutMs: 1000 } },
    });
    expect((await readiness.check()).ready).toBe(true);
    stats.writeErrors = 2;
    const failing = await readiness.check();
    expect(failing.ready).toBe(false);
    expect(failing.checks.usageStoreWritable).toBe(false);
    // Still failing on the next look: no commit since.
    expect((await readiness.check()).checks.usageStoreWritable).toBe(false);
    stats.commits = 6;
    expect((await readiness.check()).ready).toBe(true);
  });
});
