'use strict';
// The admin listener: GET /metrics, /healthz and /readyz, and the admin page under /admin/
// (js/admin/page.js, when admin.users names someone), as one `(event) => response` app, run
// under js/server.js (the same connection caps and timeouts as the SOAP endpoint) on its own
// address (admin.host/admin.port), so that operations data is never on the public API port.
// /healthz and /readyz need no credentials (kubelets probe them); /metrics needs an admin user's
// only with admin.authenticateMetrics (Prometheus scrapes it, basic_auth in its scrape config).
const { createHttpServer } = require('../server');

/** The admin endpoints are small GETs: tight limits, few connections. */
const ADMIN_HTTP = Object.freeze({
  maxBodyBytes: 1024,
  keepAliveTimeoutMs: 5000,
  requestTimeoutMs: 10000,
  headersTimeoutMs: 5000,
  idleTimeoutMs: 5000,
  maxConnections: 64,
  maxConnectionsPerSource: 32,
});

const JSON_TYPE = 'application/json; charset=utf-8';

function json(statusCode, value) {
  return { statusCode, headers: { 'content-type': JSON_TYPE, 'cache-control': 'no-store' }, body: JSON.stringify(value) };
}

/**
 * @param {{ metrics: import('./metrics').GatewayMetrics, readiness: import('./readiness').Readiness,
 *   page?: ReturnType<typeof import('./page').createAdminPage> | null, authenticateMetrics?: boolean }} parts
 *   page: the admin page's routes (null: no admin page, /admin is 404); authenticateMetrics:
 *   /metrics needs an admin user's credentials (without admin users, it is always refused)
 * @returns {(event: { method: string, path: string }) => Promise<{ statusCode: number, headers: object, body: string }>}
 */
function createAdminApp({ metrics, readiness, page = null, authenticateMetrics = false }) {
  return async (event) => {
    if (event.path === '/admin' || event.path.startsWith('/admin/')) {
      return page !== null ? page.handle(event) : json(404, { error: 'not found: no admin.users configured' });
    }
    const known = event.path === '/metrics' || event.path === '/healthz' || event.path === '/readyz';
    if (!known) return json(404, { error: 'not found' });
    if (event.method !== 'GET' && event.method !== 'HEAD') {
      const response = json(405, { error: 'method not allowed' });
      response.headers.allow = 'GET, HEAD';
      return response;
    }
    if (event.path === '/healthz') return json(200, { status: 'ok' });
    if (event.path === '/readyz') {
      const report = await readiness.check();
      return json(report.ready ? 200 : 503, report);
    }
    if (authenticateMetrics) {
      // Without admin users nobody can pass: closed, not open (gateway.listen() logs it).
      if (page === null) return json(401, { error: 'admin credentials required, and admin.users names nobody' });
      const refusal = await page.authenticate(event);
      if (refusal !== null) return refusal;
    }
    return {
      statusCode: 200,
      headers: { 'content-type': metrics.contentType, 'cache-control': 'no-store' },
      body: await metrics.text(),
    };
  };
}

/**
 * Starts the admin listener.
 * @param {{ host: string, port: number }} address admin.host, admin.port
 * @param {Parameters<typeof createAdminApp>[0]} parts
 * @param {Function} [log]
 * @returns {Promise<import('node:http').Server>}
 */
async function startAdminServer({ host, port }, parts, log) {
  const server = createHttpServer({ app: createAdminApp(parts), http: ADMIN_HTTP, log });
  // The page's sampler stops with the listener.
  if (parts.page) server.once('close', () => parts.page.stop());
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

module.exports = { createAdminApp, startAdminServer };
