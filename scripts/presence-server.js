#!/usr/bin/env node
'use strict';

/**
 * Local presence server for manual runs of the gateway: starts Kamailio 5.6
 * (see scripts/kamailio/) on 127.0.0.1 UDP+TCP and optionally seeds presence.
 *
 *   node scripts/presence-server.js [--port 5060] [--domain example.test]
 *     [--dir var/presence-server] [--publish sip:alice@example.test=open ...]
 *     [--expires 3600] [--verbose] [--debug 3]
 *
 * A --publish state is open, closed, busy (open + on-the-phone), or
 * basic+activity[+activity...] such as open+away. Publications are refreshed
 * before they expire. SIGINT/SIGTERM stop Kamailio.
 */

const path = require('node:path');
const { parseArgs } = require('node:util');

const { startKamailio } = require('./kamailio/kamailio');
const sip = require('./kamailio/sip-client');

const USAGE = `usage: node scripts/presence-server.js [options]
  --port N                  SIP port on 127.0.0.1, UDP and TCP (default 5060)
  --domain D                served domain (default example.test)
  --dir PATH                work dir for cfg, DB, pid (default var/presence-server)
  --publish URI=STATE       seed presence; STATE: open | closed | busy | open+away...
  --expires S               publication lifetime, refreshed before expiry (default 3600)
  --verbose                 echo Kamailio's log
  --debug N                 Kamailio debug level (default 2; 3 = debug)
  --help`;

/**
 * Parses "sip:alice@example.test=busy" into a publication.
 * @param {string} spec
 * @returns {{presentity:string, basic:'open'|'closed', activities:string[], label:string}}
 */
function parsePublish(spec) {
  const eq = spec.lastIndexOf('=');
  if (eq <= 0) throw new Error(`--publish wants URI=STATE, got ${JSON.stringify(spec)}`);
  const presentity = spec.slice(0, eq);
  const state = spec.slice(eq + 1).toLowerCase();
  if (!/^sips?:[^@\s]+@[^\s]+$/.test(presentity)) throw new Error(`not a SIP URI: ${presentity}`);
  if (state === 'busy') return { presentity, basic: 'open', activities: ['on-the-phone'], label: state };
  const [basic, ...activities] = state.split('+');
  if (basic !== 'open' && basic !== 'closed') {
    throw new Error(`--publish state must be open, closed, busy or basic+activity, got ${JSON.stringify(state)}`);
  }
  return { presentity, basic, activities, label: state };
}

async function main() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '5060' },
      domain: { type: 'string', default: 'example.test' },
      dir: { type: 'string', default: path.join(__dirname, '..', 'var', 'presence-server') },
      publish: { type: 'string', multiple: true, default: [] },
      expires: { type: 'string', default: '3600' },
      verbose: { type: 'boolean', default: false },
      debug: { type: 'string', default: '2' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const port = Number(values.port);
  const expires = Number(values.expires);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad --port ${values.port}`);
  if (!Number.isInteger(expires) || expires < 10) throw new Error(`bad --expires ${values.expires} (>= 10)`);
  const pubs = values.publish.map(parsePublish);

  const srv = await startKamailio({
    sipPort: port,
    domain: values.domain,
    workDir: path.resolve(values.dir),
    log: values.verbose,
    debug: Number(values.debug),
  });
  const server = { host: srv.host, port: srv.sipPort };
  console.log(`presence server ${srv.uri} (domain ${srv.domain}, udp+tcp), pid ${srv.pid}, dir ${srv.workDir}`);

  const timers = new Set();
  let stopping = false;
  const shutdown = async (code) => {
    if (stopping) return;
    stopping = true;
    for (const t of timers) clearTimeout(t);
    await srv.stop();
    console.log('presence server stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => shutdown(0));
  process.on('SIGTERM', () => shutdown(0));
  srv.exited.then((info) => {
    if (stopping) return;
    console.error(`kamailio exited unexpectedly (code ${info.code}, signal ${info.signal}):`);
    console.error(srv.logs().split('\n').slice(-40).join('\n'));
    shutdown(1);
  });

  // Publishes, then keeps the publication alive at about 80% of the granted
  // lifetime; republishes on failure. The refresh re-sends the document with
  // SIP-If-Match (a modification, RFC 3903 4.4): Kamailio 5.6 with publ_cache 2
  // blanks the stored body on a body-less refresh.
  const keep = async (pub, etag) => {
    if (stopping) return;
    let res;
    try {
      res = await sip.publish({
        server,
        presentity: pub.presentity,
        basic: pub.basic,
        activities: pub.activities,
        etag,
        expires,
      });
    } catch (err) {
      res = { status: 0, reason: err.message };
    }
    if (stopping) return;
    const ok = res.status >= 200 && res.status < 300;
    if (!etag || !ok) {
      console.log(`PUBLISH ${pub.presentity} ${pub.label}${etag ? ' (refresh)' : ''}: ${res.status} ${res.reason}`);
    }
    if (!etag && res.status >= 300) return; // Refused: retrying will not help.
    const lifetime = ok ? res.expires || expires : 0;
    const wait = ok ? Math.max(5, Math.floor(lifetime * 0.8)) * 1000 : 5000;
    const t = setTimeout(() => {
      timers.delete(t);
      keep(pub, ok ? res.etag : undefined);
    }, wait);
    timers.add(t);
  };
  await Promise.all(pubs.map((p) => keep(p)));
  console.log('ready; Ctrl-C to stop');
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err.message);
    process.exit(1);
  });
}

module.exports = { parsePublish };
