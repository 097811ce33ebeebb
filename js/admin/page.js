'use strict';
// The admin page (GET /admin/) and the small JSON endpoints it polls, on the admin listener,
// behind the admin users' credentials (admin.users). Decisions, and why:
// - HTTP Basic, checked by the requesters' authenticator (js/auth/authenticator.js) over the admin
//   users: the same scrypt hashes, verified-credential cache, scrypt pool and failed-login
//   throttle (authentication.throttle), with a realm of its own. A browser remembers the
//   credentials for the origin, so the page's fetch() calls carry them without script access to
//   the password.
// - Everything under /admin is behind the credentials, the page's own files too; /healthz and
//   /readyz never are, /metrics only with admin.authenticateMetrics (js/admin/server.js).
// - CSRF: a browser sends Basic credentials with cross-site requests too, so a state-changing
//   request (POST) must carry the header `X-Parlayx-Admin: 1`, which a cross-site form cannot
//   set and a cross-site fetch() can set only after a CORS preflight that this listener never
//   grants (no CORS headers, OPTIONS is 405); and when the browser says where the request comes
//   from (Origin, Sec-Fetch-Site), it must be this origin. Otherwise 403.
// - The page is plain HTML, CSS and an ES module served from js/admin/static/, and uPlot's ESM
//   build and CSS served from node_modules: no CDN, no build step. A Content-Security-Policy
//   allows only this origin's scripts and styles and no framing.
// - Terminate is the core's operator termination (gateway.notifications.terminate): the
//   notification ends and its application gets statusError (SVC0001, "terminated by the
//   operator"), as for every end the application did not ask for; statusEnd is only for a
//   notification whose count or duration ran out, and endNotification (the application's own
//   request) sends nothing (README, Terminal Status notifications).
// - Usage search: the store's query (js/usage.js: time range, service, event type, STATUSCODE,
//   requester); an address is matched here, against the record's TARGET / TARGETS /
//   CALLED_PARTY / CALLER attributes (comma-separated lists split), after the store's filters.
//   Results are capped (limit, at most MAX_EXPORT_ROWS for an export); a capped answer says so.
const fs = require('node:fs');
const path = require('node:path');
const { createAuthenticator, AuthenticationError } = require('../auth/authenticator');
const { UsageStatus } = require('../usage');
const { MetricsHistory } = require('./history');

const STATIC_DIR = path.join(__dirname, 'static');
const CSRF_HEADER = 'x-parlayx-admin';
const DEFAULT_LIMIT = 200;
const MAX_LIMIT = 1000;
const MAX_EXPORT_ROWS = 10000;
/** The page polls every few seconds: cheap JSON answers, never cached. */
const SECURITY_HEADERS = Object.freeze({
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    + "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
});
/** Attributes an address search looks in (comma-separated lists are split). */
const ADDRESS_ATTRIBUTES = ['TARGET', 'TARGETS', 'CALLED_PARTY', 'CALLER'];
const CSV_COLUMNS = ['recordTime', 'recordId', 'globalId', 'service', 'host', 'eventType', 'statusCode', 'status',
  'requester', 'target', 'serviceData'];
const STATUS_NAMES = new Map(Object.entries(UsageStatus).map(([name, code]) => [code, name]));

/** The files of the page: URL path -> [file, content type], read once at the first request. */
function staticFiles() {
  const uplot = path.dirname(require.resolve('uplot/dist/uPlot.esm.js'));
  return new Map([
    ['/admin/', [path.join(STATIC_DIR, 'index.html'), 'text/html; charset=utf-8']],
    ['/admin/admin.js', [path.join(STATIC_DIR, 'admin.js'), 'text/javascript; charset=utf-8']],
    ['/admin/admin.css', [path.join(STATIC_DIR, 'admin.css'), 'text/css; charset=utf-8']],
    ['/admin/vendor/uPlot.esm.js', [path.join(uplot, 'uPlot.esm.js'), 'text/javascript; charset=utf-8']],
    ['/admin/vendor/uPlot.min.css', [path.join(uplot, 'uPlot.min.css'), 'text/css; charset=utf-8']],
  ]);
}

function respond(statusCode, body, contentType, extra = {}) {
  return { statusCode, headers: { ...SECURITY_HEADERS, 'content-type': contentType, ...extra }, body };
}

function json(statusCode, value, extra) {
  return respond(statusCode, JSON.stringify(value), 'application/json; charset=utf-8', extra);
}

/** A request error the client made (HTTP 400 with the message). */
class BadRequest extends Error {}

/**
 * A time of the search form: ISO-8601 text or ms since the epoch; undefined when empty.
 * @param {string|undefined} text
 * @param {string} name
 */
function parseTime(text, name) {
  if (text === undefined || text === '') return undefined;
  const ms = /^\d{1,15}$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw new BadRequest(`${name}: not a time: ${text.slice(0, 64)}`);
  return ms;
}

/** A STATUSCODE given by number or by name (VALID, FAILED_PACER, ...). */
function parseStatusCode(text) {
  if (text === undefined || text === '') return undefined;
  if (/^\d{1,9}$/.test(text)) return Number(text);
  if (Object.hasOwn(UsageStatus, text)) return UsageStatus[text];
  throw new BadRequest(`statusCode: not a status code or name: ${text.slice(0, 64)}`);
}

function parseLimit(text, max) {
  if (text === undefined || text === '') return Math.min(DEFAULT_LIMIT, max);
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1) throw new BadRequest('limit: a positive integer');
  return Math.min(Number(text), max);
}

function optionalText(text, name) {
  if (text === undefined || text === '') return undefined;
  if (text.length > 256) throw new BadRequest(`${name}: too long`);
  return text;
}

/** Whether a record names `address` in one of ADDRESS_ATTRIBUTES. */
function mentions(record, address) {
  for (const key of ADDRESS_ATTRIBUTES) {
    const value = record.attributes[key];
    if (typeof value === 'string' && value.split(',').some((a) => a.trim() === address)) return true;
  }
  return false;
}

/** One CSV cell (RFC 4180); a cell a spreadsheet would run as a formula gets a leading '. */
function csvCell(value) {
  let text = value === undefined || value === null ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** A usage record as the page and the exports show it. */
function recordRow(r) {
  return {
    recordTime: r.recordTime, recordId: r.recordId, globalId: r.globalId, service: r.service, host: r.host,
    eventType: r.eventType, statusCode: r.statusCode, status: r.status || STATUS_NAMES.get(r.statusCode) || '',
    requester: r.attributes.REQUESTER ?? '', target: r.attributes.TARGET ?? r.attributes.TARGETS ?? r.attributes.CALLED_PARTY ?? '',
    serviceData: r.serviceData, attributes: r.attributes,
  };
}

/**
 * The admin page's routes.
 * @param {{ users: Record<string, { passwordHash: string }>, authentication: any,
 *   metrics: import('./metrics').GatewayMetrics,
 *   notifications: { list(filter?: object): any[], terminate(correlator: string, options?: object): Promise<boolean> },
 *   callRegistrations?: () => any[], usage: import('../usage').UsageLog, log?: Function,
 *   historyPeriodMs?: number }} parts
 *   authentication: the config's authentication section (its throttle and verified-cache time
 *   apply to the admin users too); callRegistrations: the live Call Notification / Call Direction
 *   registrations (listed, not terminated)
 * @returns {{ handle(event: any): Promise<object>, authenticate(event: any): Promise<object|null>,
 *   history: MetricsHistory, stop(): void }}
 */
function createAdminPage({ users, authentication, metrics, notifications, callRegistrations = () => [], usage,
  log = () => {}, historyPeriodMs }) {
  const realm = 'parlayx-gateway admin';
  const authenticator = createAuthenticator({
    authentication: { ...authentication, required: true, realm },
    requesters: Object.fromEntries(Object.entries(users).map(([name, u]) => [name, { passwordHash: u.passwordHash }])),
  }, { log });
  const history = new MetricsHistory({ metrics, periodMs: historyPeriodMs, log });
  history.start();
  /** @type {Map<string, Buffer|string>} */
  const cache = new Map();
  let files = null;

  /** null when the request carries an admin user's credentials, else the refusal to send. */
  async function authenticate(event) {
    try {
      await authenticator.authenticate(event, null);
      return null;
    } catch (error) {
      if (!(error instanceof AuthenticationError)) throw error;
      const retry = error.retryAfterSec ? { 'retry-after': String(error.retryAfterSec) } : {};
      if (error.reason === 'throttledClient' || error.reason === 'throttledRequester') {
        return json(429, { error: 'too many failed logins, try again later' }, retry);
      }
      if (error.reason === 'overloaded') return json(503, { error: 'busy, try again later' }, retry);
      return json(401, { error: 'admin credentials required' }, {
        'www-authenticate': `Basic realm="${realm}", charset="UTF-8"`,
      });
    }
  }

  function file(urlPath) {
    if (files === null) files = staticFiles();
    const entry = files.get(urlPath);
    if (entry === undefined) return null;
    if (!cache.has(urlPath)) cache.set(urlPath, fs.readFileSync(entry[0], 'utf8'));
    return respond(200, cache.get(urlPath), entry[1]);
  }

  /** Why a POST is refused as a possible cross-site request, or null. */
  function csrfProblem(event) {
    const h = event.headers || {};
    if (h[CSRF_HEADER] !== '1') return `the ${CSRF_HEADER}: 1 header is required`;
    const site = h['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin') return 'cross-site request';
    const origin = h.origin;
    if (origin !== undefined && origin !== `http://${h.host}` && origin !== `https://${h.host}`) return 'cross-origin request';
    return null;
  }

  // Clustered, the whole service's notifications (every instance's), else this instance's.
  const serviceNotifications = () => (notifications.listService ? notifications.listService() : notifications.list());

  async function summary() {
    const active = (await serviceNotifications()).length;
    return {
      now: Date.now(),
      periodMs: history.periodMs,
      windowSamples: history.size,
      samples: history.samples(),
      notifications: active,
      callRegistrations: callRegistrations().length,
      statusCodes: UsageStatus,
    };
  }

  async function registry() {
    return {
      notifications: (await serviceNotifications()).map((n) => ({
        requester: n.requester, correlator: n.correlator, endpoint: n.endpoint,
        addresses: n.addresses, criteria: n.criteria, frequencyMs: n.frequencyMs,
        createdAt: new Date(n.createdAtMs).toISOString(), expiresAt: new Date(n.expiresAtMs).toISOString(),
        countLimit: n.countLimit ?? null, sent: n.sent, globalId: n.globalId,
      })),
      callRegistrations: callRegistrations().map((r) => ({
        kind: r.kind, requester: r.requester, correlator: r.correlator, endpoint: r.endpoint,
        addresses: r.addresses, criteria: r.criteria, createdAt: new Date(r.createdMs).toISOString(),
      })),
    };
  }

  async function terminate(event, encoded) {
    const problem = csrfProblem(event);
    if (problem !== null) return json(403, { error: problem });
    let correlator;
    try {
      correlator = decodeURIComponent(encoded);
    } catch {
      throw new BadRequest('correlator: bad percent-encoding');
    }
    if (correlator === '') throw new BadRequest('correlator: empty');
    const requester = (event.queryStringParameters || {}).requester ?? '';
    const ended = await notifications.terminate(correlator, { requester, reason: 'notification terminated by the operator' });
    if (!ended) return json(404, { error: 'no such notification', requester, correlator });
    log('info', 'admin: notification terminated', { requester, correlator });
    return json(200, { terminated: true, requester, correlator });
  }

  async function searchUsage(query) {
    const format = query.format || 'json';
    if (format !== 'json' && format !== 'csv') throw new BadRequest('format: json or csv');
    const download = query.download === '1';
    const limit = parseLimit(query.limit, download ? MAX_EXPORT_ROWS : MAX_LIMIT);
    const filter = {
      from: parseTime(query.from, 'from'),
      to: parseTime(query.to, 'to'),
      service: optionalText(query.service, 'service'),
      eventType: optionalText(query.eventType, 'eventType'),
      statusCode: parseStatusCode(query.statusCode),
      requester: optionalText(query.requester, 'requester'),
      pageSize: Math.min(limit + 1, 1000),
    };
    const address = optionalText(query.address, 'address');
    const rows = [];
    let truncated = false;
    for await (const record of usage.records(filter)) {
      if (address !== undefined && !mentions(record, address)) continue;
      if (rows.length === limit) {
        truncated = true;
        break;
      }
      rows.push(recordRow(record));
    }
    const disposition = download ? { 'content-disposition': `attachment; filename="usage-records.${format}"` } : {};
    const more = { 'x-parlayx-truncated': truncated ? '1' : '0', ...disposition };
    if (format === 'json') return json(200, { records: rows, truncated, limit }, more);
    const lines = [CSV_COLUMNS.join(',')];
    for (const row of rows) lines.push(CSV_COLUMNS.map((c) => csvCell(row[c])).join(','));
    return respond(200, `${lines.join('\r\n')}\r\n`, 'text/csv; charset=utf-8', more);
  }

  /** A request under /admin: authenticated, then routed. */
  async function handle(event) {
    const refusal = await authenticate(event);
    if (refusal !== null) return refusal;
    const { method, path: urlPath } = event;
    const query = event.queryStringParameters || {};
    try {
      const end = /^\/admin\/api\/notifications\/([^/]+)\/terminate$/.exec(urlPath);
      if (end !== null) {
        if (method !== 'POST') return json(405, { error: 'method not allowed' }, { allow: 'POST' });
        return await terminate(event, end[1]);
      }
      if (method !== 'GET' && method !== 'HEAD') return json(405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
      if (urlPath === '/admin') return respond(301, '', 'text/plain; charset=utf-8', { location: '/admin/' });
      if (urlPath === '/admin/api/summary') return json(200, await summary());
      if (urlPath === '/admin/api/notifications') return json(200, await registry());
      if (urlPath === '/admin/api/usage') return await searchUsage(query);
      return file(urlPath) || json(404, { error: 'not found' });
    } catch (error) {
      if (error instanceof BadRequest) return json(400, { error: error.message });
      if (error instanceof TypeError && /not a time|cursor/.test(error.message)) return json(400, { error: error.message });
      throw error;
    }
  }

  return { handle, authenticate, history, stop: () => history.stop() };
}

module.exports = { createAdminPage, csvCell, CSRF_HEADER, MAX_EXPORT_ROWS };
