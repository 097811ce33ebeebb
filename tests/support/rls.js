'use strict';
// Resource lists (RFC 4826 rls-services) for Kamailio's rls module, as the tests need them:
// written straight into the xcap table of a Kamailio started with template 'rls'
// (scripts/kamailio/rls.cfg.template, integrated XCAP mode). rls looks a list up by the
// SUBSCRIBE's Request-URI among the rls-services document of the watcher (the From user and
// domain), so the document is stored under the gateway's watcher URI.
const { execFileSync } = require('node:child_process');
const { findInstallation } = require('../../scripts/kamailio/kamailio');

const RLS_SERVICES = 8; // xcap doc_type of rls-services (1<<3 in Kamailio's xcap modules)

function xmlEscape(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The rls-services document of `services`: [{ uri, members: [sip URIs] }]. */
function rlsServicesDocument(services) {
  const body = services.map(({ uri, members }) => [
    `  <service uri="${xmlEscape(uri)}">`,
    '    <list>',
    ...members.map((m) => `      <entry uri="${xmlEscape(m)}"/>`),
    '    </list>',
    '    <packages><package>presence</package></packages>',
    '  </service>',
  ].join('\n')).join('\n');
  return '<?xml version="1.0" encoding="UTF-8"?>\n'
    + '<rls-services xmlns="urn:ietf:params:xml:ns:rls-services"'
    + ' xmlns:rl="urn:ietf:params:xml:ns:resource-lists">\n'
    + `${body}\n</rls-services>\n`;
}

function sqlString(text) {
  return `'${String(text).replace(/'/g, "''")}'`;
}

/**
 * Stores (replaces) the watcher's rls-services document in Kamailio's xcap table.
 * @param {{ dbFile: string }} kamailio what startKamailio({ template: 'rls' }) returned
 * @param {string} watcherUri the gateway's sip.watcherUri (sip:user@domain)
 * @param {Array<{ uri: string, members: string[] }>} services
 */
function putResourceLists(kamailio, watcherUri, services) {
  const m = /^sips?:([^@;>]+)@([^;>:]+)/.exec(watcherUri);
  if (!m) throw new Error(`watcher URI without user@domain: ${watcherUri}`);
  const [, user, domain] = m;
  const doc = rlsServicesDocument(services);
  const docUri = `/xcap-root/rls-services/users/sip:${user}@${domain}/index`;
  const sql = [
    'PRAGMA busy_timeout = 5000;',
    `DELETE FROM xcap WHERE doc_uri = ${sqlString(docUri)};`,
    'INSERT INTO xcap (username, domain, doc, doc_type, etag, source, doc_uri, port) VALUES ('
      + `${sqlString(user)}, ${sqlString(domain)}, ${sqlString(doc)}, ${RLS_SERVICES}, `
      + `${sqlString(`e${Date.now()}`)}, 1, ${sqlString(docUri)}, 0);`,
  ].join('\n');
  execFileSync(findInstallation().sqlite3, [kamailio.dbFile], { input: sql, stdio: ['pipe', 'ignore', 'pipe'] });
}

module.exports = { putResourceLists, rlsServicesDocument, RLS_SERVICES };
