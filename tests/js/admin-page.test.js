'use strict';
// The admin page (issue 16, Operations): GET /admin/ on the admin listener behind admin.users'
// credentials, driven in headless Chromium (Debian's /usr/bin/chromium through playwright-core)
// against a real gateway, a real Kamailio presence server and a real application endpoint, all
// on loopback. Real getStatus requests must show in the plots; a notification started over SOAP
// must be listed and its Terminate button must end it (the application gets statusError); the
// usage search must find the records and the CSV export must download them. The JSON endpoints
// are also tested without a browser. A Chromium that cannot start fails the file (no skip).
const fs = require('node:fs');
const { chromium } = require('playwright-core');
const { startKamailio } = require('../../scripts/kamailio/kamailio');
const sip = require('../support/sip');
const { startAppEndpoint } = require('../support/appEndpoint');
const { startGateway, postSoap, envelope, tempDir, testPasswordHash, basicAuth } = require('../support/gateway');
const { csvCell } = require('../../js/admin/page');
const { quantileBound } = require('../../js/admin/history');

const CHROMIUM = process.env.PARLAYX_CHROMIUM || '/usr/bin/chromium';
const USER = 'ops';
const PASSWORD = 'correct horse battery staple';
const NM_NS = 'http://www.csapi.org/schema/parlayx/terminal_status/notification_manager/v2_3/local';
const MANAGER_PATH = '/TerminalStatusNotificationManagerService/services/TerminalStatusNotificationManager';
const ALICE = 'sip:alice@example.test';
const BOB = 'sip:bob@example.test';
const CAROL = 'sip:carol@example.test';

let kamailio;
let fixture;
let admin;
let app;
let browser;
const cleanups = [];

function adminYaml(extra = '') {
  return `admin:\n  enabled: true\n  host: 127.0.0.1\n  port: 0\n  users:\n    ${USER}:\n      passwordHash: "${testPasswordHash(PASSWORD)}"\n${extra}`;
}

/** Waits until the element `selector` shows text matching `pattern` (the page polls every few seconds). */
function shows(page, selector, pattern, timeout = 15000) {
  return page.locator(selector).filter({ hasText: pattern }).waitFor({ timeout });
}

function getStatus(address) {
  return postSoap(fixture.endpoint, envelope(`<loc:getStatus><loc:address>${address}</loc:address></loc:getStatus>`));
}

async function startOverSoap(correlator, address) {
  const reply = await postSoap(`${fixture.url}${MANAGER_PATH}`, envelope(`<loc:startNotification>
  <loc:reference><endpoint>${app.url}</endpoint><interfaceName>TerminalStatusNotification</interfaceName><correlator>${correlator}</correlator></loc:reference>
  <loc:addresses>${address}</loc:addresses>
  <loc:checkImmediate>true</loc:checkImmediate>
  <loc:frequency><metric>Second</metric><units>1</units></loc:frequency>
  <loc:duration><metric>Second</metric><units>600</units></loc:duration>
</loc:startNotification>`, { localNs: NM_NS }));
  expect({ status: reply.status, text: reply.status === 200 ? '' : reply.text }).toEqual({ status: 200, text: '' });
}

const auth = () => basicAuth(USER, PASSWORD);

/** A browser page logged in as the admin user; console errors (CSP violations included) collected. */
async function adminPage() {
  const context = await browser.newContext({ httpCredentials: { username: USER, password: PASSWORD }, acceptDownloads: true });
  cleanups.push(() => context.close());
  const page = await context.newPage();
  const errors = [];
  page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
  page.on('pageerror', (error) => errors.push(String(error)));
  page.on('dialog', (dialog) => dialog.accept());
  const response = await page.goto(`${admin.url}/admin/`);
  expect(response.status()).toBe(200);
  return { page, errors };
}

beforeAll(async () => {
  // Fails, never skips, when Chromium is missing or cannot start.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  kamailio = await startKamailio({ workDir: tempDir('px-kamailio-') });
  const server = { host: '127.0.0.1', port: kamailio.sipPort };
  await sip.presentity(server, ALICE).set('Reachable');
  await sip.presentity(server, BOB).set('Busy');
  await sip.presentity(server, CAROL).set('Unreachable');
  app = await startAppEndpoint();
  fixture = await startGateway({ presencePort: kamailio.sipPort, extraYaml: adminYaml() });
  admin = fixture.gateway.adminAddress();
}, 60000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  if (browser) await browser.close();
  if (fixture) await fixture.gateway.close();
  if (app) await app.close();
  if (kamailio) await kamailio.stop();
});

describe('admin page in headless Chromium', () => {
  test('the page and its API need the admin credentials (401 with a Basic challenge); the probes do not', async () => {
    for (const path of ['/admin/', '/admin/admin.js', '/admin/api/summary', '/admin/api/usage?format=csv']) {
      const response = await fetch(`${admin.url}${path}`);
      expect({ path, status: response.status }).toEqual({ path, status: 401 });
      expect(response.headers.get('www-authenticate')).toBe('Basic realm="parlayx-gateway admin", charset="UTF-8"');
    }
    const wrong = await fetch(`${admin.url}/admin/`, { headers: basicAuth(USER, 'wrong') });
    expect(wrong.status).toBe(401);
    // A requester is not an admin user.
    expect((await fetch(`${admin.url}/admin/`, { headers: basicAuth('nobody', PASSWORD) })).status).toBe(401);
    for (const path of ['/healthz', '/metrics']) expect((await fetch(`${admin.url}${path}`)).status).toBe(200);
    // The browser without credentials gets the 401 too.
    const context = await browser.newContext();
    cleanups.push(() => context.close());
    const page = await context.newPage();
    // Chromium answers the challenge with nothing and shows no page.
    await expect(page.goto(`${admin.url}/admin/`)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
    expect(await page.locator('#traffic').count()).toBe(0);
    // The page is only on the admin listener.
    expect((await fetch(`${fixture.url.replace(/\/parlayx$/, '')}/admin/`, { headers: auth() })).status).toBe(404);
  });

  test('the plots show the real getStatus traffic: rate, status mix and STATUSCODE mix', async () => {
    for (const address of [ALICE, ALICE, ALICE, BOB, BOB, CAROL]) {
      const { status, text } = await getStatus(address);
      expect(status).toBe(200);
      expect(text).toMatch(/Reachable|Busy|Unreachable/);
    }
    expect((await getStatus('mailto:x@example.test')).status).toBe(500);

    const { page, errors } = await adminPage();
    // The samples are taken every 2 s: the page shows them within a few polls.
    await shows(page, '#totals-status', /Reachable: 3 · Unreachable: 1 · Busy: 2/);
    await shows(page, '#totals-outcome', /VALID: 6/);
    expect(await page.textContent('#totals-outcome')).toContain('UNKNOWN_SCHEME: 1');
    expect(await page.textContent('#totals-rate')).toMatch(/Requests in the last 10 min: 7 /);
    expect(await page.textContent('#totals-rate')).toMatch(/mean latency: \d+\.\d ms/);
    // Each plot is a drawn uPlot canvas with points above zero, and its legend names the series.
    for (const id of ['chart-rate', 'chart-status', 'chart-outcome']) {
      expect(await page.locator(`#${id} canvas`).count()).toBe(1);
      expect(Number(await page.getAttribute(`#${id}`, 'data-nonzero'))).toBeGreaterThan(0);
    }
    expect(await page.textContent('#chart-status .u-legend')).toMatch(/Reachable[\s\S]*Unreachable[\s\S]*Busy/);
    expect(await page.textContent('#chart-outcome .u-legend')).toMatch(/VALID[\s\S]*UNKNOWN_SCHEME/);
    await page.screenshot({ path: `${fixture.stateDir}/admin-page.png`, fullPage: true });
    if (process.env.PARLAYX_SCREENSHOT) fs.copyFileSync(`${fixture.stateDir}/admin-page.png`, process.env.PARLAYX_SCREENSHOT);
    expect(fs.statSync(`${fixture.stateDir}/admin-page.png`).size).toBeGreaterThan(10000);
    // No script error and no Content-Security-Policy violation.
    expect(errors).toEqual([]);
  });

  test('the registry lists a notification started over SOAP; Terminate ends it and the application gets statusError', async () => {
    await startOverSoap('admin-page-1', ALICE);
    // checkImmediate: the first statusNotification shows the subscription is up.
    await app.waitFor('admin-page-1', 1);
    const { page, errors } = await adminPage();
    const row = page.locator('#notifications tr[data-correlator="admin-page-1"]');
    await row.waitFor({ timeout: 10000 });
    expect(await row.textContent()).toContain(`${ALICE} (Reachable)`);
    expect(await row.textContent()).toContain(app.url);

    await row.locator('button.terminate').click();
    await row.waitFor({ state: 'detached', timeout: 10000 });
    expect(await page.textContent('#notifications tbody')).toContain('No active notifications.');
    // The core's state: gone from the registry, unknown to endNotification.
    expect(fixture.gateway.notifications.list().filter((n) => n.correlator === 'admin-page-1')).toEqual([]);
    await expect(fixture.gateway.endNotification('admin-page-1')).rejects.toMatchObject({ messageId: 'SVC0002' });
    // The application is told: statusError for the whole notification (no address), SVC0001.
    const [, ended] = await app.waitFor('admin-page-1', 2);
    expect(ended).toMatchObject({ kind: 'statusError', correlator: 'admin-page-1' });
    expect(ended.error.messageId).toBe('SVC0001');
    expect(ended.error.variables.join(' ')).toMatch(/terminated by the operator/);
    expect(errors).toEqual([]);
  });

  test('the usage search finds the records, and the CSV export downloads them', async () => {
    const { page, errors } = await adminPage();
    await page.fill('input[name=address]', BOB);
    await page.fill('input[name=eventType]', 'getStatus');
    await page.click('#usage-form button[type=submit]');
    await shows(page, '#usage-count', /^2 record\(s\)/);
    const rows = await page.locator('#usage-records tbody tr').allTextContents();
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row).toMatch(/getStatus.*sip:bob@example\.test.*0 VALID/);

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
    expect(download.suggestedFilename()).toBe('usage-records.csv');
    const csv = fs.readFileSync(await download.path(), 'utf8').trim().split('\r\n');
    expect(csv[0]).toBe('recordTime,recordId,globalId,service,host,eventType,statusCode,status,requester,target,serviceData');
    expect(csv).toHaveLength(3);
    for (const line of csv.slice(1)) expect(line).toMatch(/,getStatus,0,VALID,,sip:bob@example\.test,/);

    // A status code by name, over a time range that ends now.
    await page.fill('input[name=address]', '');
    await page.fill('input[name=eventType]', '');
    await page.fill('input[name=statusCode]', 'UNKNOWN_SCHEME');
    await page.click('#usage-form button[type=submit]');
    await shows(page, '#usage-count', /^1 record\(s\)/);
    expect(await page.textContent('#usage-records tbody')).toContain('mailto:x@example.test');
    expect(errors).toEqual([]);
  });
});

describe('admin JSON endpoints (no browser)', () => {
  test('summary: the ring of samples with requests, outcomes, statuses and latency', async () => {
    const response = await fetch(`${admin.url}/admin/api/summary`, { headers: auth() });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    const summary = await response.json();
    expect(summary).toMatchObject({ periodMs: 2000, windowSamples: 300, callRegistrations: 0 });
    expect(summary.statusCodes.VALID).toBe(0);
    const sum = (f) => summary.samples.reduce((n, s) => n + f(s), 0);
    expect(sum((s) => s.statuses.Reachable || 0)).toBe(3);
    expect(sum((s) => s.statuses.Busy || 0)).toBe(2);
    expect(sum((s) => s.outcomes.UNKNOWN_SCHEME || 0)).toBe(1);
    const busy = summary.samples.find((s) => s.requests > 0);
    expect(busy.latencyMeanMs).toBeGreaterThan(0);
    expect(busy.latencyP95Ms).toBeGreaterThan(0);
    // Oldest first, one period apart (about).
    for (let i = 1; i < summary.samples.length; i++) expect(summary.samples[i].t).toBeGreaterThan(summary.samples[i - 1].t);
  });

  test('notifications: listed as JSON; terminate needs the CSRF header and this origin, and knows the key', async () => {
    await startOverSoap('admin-api-1', CAROL);
    await app.waitFor('admin-api-1', 1);
    const list = await (await fetch(`${admin.url}/admin/api/notifications`, { headers: auth() })).json();
    expect(list.notifications).toEqual([expect.objectContaining({
      requester: '', correlator: 'admin-api-1', endpoint: app.url, addresses: [{ address: CAROL, lastSeen: 'Unreachable' }],
    })]);
    expect(list.callRegistrations).toEqual([]);

    const url = `${admin.url}/admin/api/notifications/${encodeURIComponent('admin-api-1')}/terminate`;
    const post = (headers, target = url) => fetch(target, { method: 'POST', headers: { ...auth(), ...headers } });
    expect((await post({})).status).toBe(403);
    expect((await post({ 'x-parlayx-admin': '1', origin: 'http://evil.example' })).status).toBe(403);
    expect((await post({ 'x-parlayx-admin': '1', 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await fetch(url, { headers: auth() })).status).toBe(405);
    // Another requester's key is unknown.
    expect((await post({ 'x-parlayx-admin': '1' }, `${url}?requester=acme`)).status).toBe(404);
    expect(fixture.gateway.notifications.list()).toHaveLength(1);
    // Without credentials: 401 before anything else.
    expect((await fetch(url, { method: 'POST', headers: { 'x-parlayx-admin': '1' } })).status).toBe(401);

    const ok = await post({ 'x-parlayx-admin': '1', origin: admin.url, 'sec-fetch-site': 'same-origin' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ terminated: true, requester: '', correlator: 'admin-api-1' });
    expect(fixture.gateway.notifications.list()).toEqual([]);
    expect((await app.waitFor('admin-api-1', 2))[1].kind).toBe('statusError');
    expect((await post({ 'x-parlayx-admin': '1' })).status).toBe(404);
  });

  test('usage: JSON and CSV, filters, limits and bad parameters', async () => {
    const get = async (query) => {
      const response = await fetch(`${admin.url}/admin/api/usage?${new URLSearchParams(query)}`, { headers: auth() });
      return { status: response.status, headers: response.headers, text: await response.text() };
    };
    const all = JSON.parse((await get({ eventType: 'getStatus' })).text);
    expect(all.records).toHaveLength(7);
    expect(all.truncated).toBe(false);
    expect(all.records[0]).toMatchObject({ eventType: 'getStatus', statusCode: 0, status: 'VALID', requester: '', target: ALICE });

    const alice = JSON.parse((await get({ address: ALICE, statusCode: '0', eventType: 'getStatus' })).text);
    expect(alice.records.map((r) => r.target)).toEqual([ALICE, ALICE, ALICE]);
    const limited = await get({ eventType: 'getStatus', limit: '2' });
    expect(JSON.parse(limited.text)).toMatchObject({ truncated: true, limit: 2 });
    expect(limited.headers.get('x-parlayx-truncated')).toBe('1');
    // A time range that ended before the traffic finds nothing.
    expect(JSON.parse((await get({ to: new Date(Date.now() - 3600000).toISOString() })).text).records).toEqual([]);
    // The notifications' operations are there too (startNotification over SOAP, twice).
    expect(JSON.parse((await get({ eventType: 'startNotification' })).text).records).toHaveLength(2);

    const csv = await get({ address: CAROL, format: 'csv', download: '1' });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('content-disposition')).toBe('attachment; filename="usage-records.csv"');
    const lines = csv.text.trim().split('\r\n');
    // getStatus of carol, the startNotification that watched carol and its delivery to the application.
    const kinds = lines.slice(1).map((l) => l.split(',')[5]);
    expect(kinds).toEqual(expect.arrayContaining(['getStatus', 'startNotification', 'statusNotification_DeliveryAttempted']));
    for (const line of lines.slice(1)) expect(line).toContain(CAROL);

    for (const bad of [{ from: 'yesterday' }, { statusCode: 'NOPE' }, { format: 'xml' }, { limit: '0' }]) {
      const answer = await get(bad);
      expect({ bad, status: answer.status }).toEqual({ bad, status: 400 });
      expect(JSON.parse(answer.text).error).toEqual(expect.any(String));
    }
  });

  test('static files: only the listed ones, uPlot from node_modules', async () => {
    const js = await fetch(`${admin.url}/admin/vendor/uPlot.esm.js`, { headers: auth() });
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await js.text()).toContain('export { uPlot as default }');
    expect((await fetch(`${admin.url}/admin/../package.json`, { headers: auth() })).status).toBe(404);
    expect((await fetch(`${admin.url}/admin/static/admin.js`, { headers: auth() })).status).toBe(404);
    const redirect = await fetch(`${admin.url}/admin`, { headers: auth(), redirect: 'manual' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('/admin/');
  });
});

describe('admin credentials settings', () => {
  test('admin.authenticateMetrics puts /metrics behind them; /healthz stays open; failed logins are throttled', async () => {
    const other = await startGateway({
      presencePort: kamailio.sipPort,
      extraYaml: adminYaml('  authenticateMetrics: true\n'),
      authYaml: 'authentication:\n  required: false\n  throttle:\n    maxFailuresPerClient: 3\n    lockoutSec: 30\n',
    });
    cleanups.push(() => other.gateway.close());
    const url = other.gateway.adminAddress().url;
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    expect((await fetch(`${url}/metrics`, { headers: auth() })).status).toBe(200);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await fetch(`${url}/admin/`, { headers: basicAuth(USER, `guess-${i}`) })).status).toBe(401);
    const locked = await fetch(`${url}/admin/`, { headers: auth() });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  test('without admin.users there is no admin page; authenticateMetrics then closes /metrics to everyone', async () => {
    const plain = await startGateway({
      presencePort: kamailio.sipPort, extraYaml: 'admin:\n  enabled: true\n  host: 127.0.0.1\n  port: 0\n  authenticateMetrics: true\n',
    });
    cleanups.push(() => plain.gateway.close());
    const url = plain.gateway.adminAddress().url;
    expect((await fetch(`${url}/admin/`, { headers: auth() })).status).toBe(404);
    expect((await fetch(`${url}/metrics`, { headers: auth() })).status).toBe(401);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect(plain.logs.map((l) => l.message)).toContain(
      'admin.authenticateMetrics is true but admin.users names nobody: /metrics refuses every scrape');
  });
});

describe('admin page helpers', () => {
  test('CSV cells: quoted when needed, formulas defused', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('=HYPERLINK("x")')).toBe('"\'=HYPERLINK(""x"")"');
    expect(csvCell('+1555')).toBe("'+1555");
    expect(csvCell(undefined)).toBe('');
    expect(csvCell(0)).toBe('0');
  });

  test('p95 bound from histogram bucket differences', () => {
    const reading = (count, buckets) => ({ count, buckets: new Map(buckets) });
    const before = reading(10, [[0.01, 10], [0.1, 10], [Infinity, 10]]);
    expect(quantileBound(reading(10, [[0.01, 10], [0.1, 10], [Infinity, 10]]), before, 0.95)).toBeNull();
    expect(quantileBound(reading(30, [[0.01, 29], [0.1, 30], [Infinity, 30]]), before, 0.95)).toBe(10);
    expect(quantileBound(reading(30, [[0.01, 20], [0.1, 28], [Infinity, 30]]), before, 0.95)).toBe(Infinity);
  });
});
