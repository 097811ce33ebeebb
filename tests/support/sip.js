'use strict';

/**
 * Real-SIP client for tests. The implementation lives in
 * scripts/kamailio/sip-client.js so that scripts/presence-server.js does not
 * depend on tests/.
 */
const client = require('../../scripts/kamailio/sip-client');

const PUBLICATION = {
  Reachable: { basic: 'open' },
  Unreachable: { basic: 'closed' },
  Busy: { basic: 'open', activities: ['on-the-phone'] },
};

/**
 * A presentity whose status a test sets over SIP PUBLISH; each set() re-PUBLISHes with the
 * previous ETag, so the presentity keeps one tuple.
 * @param {{ host: string, port: number }} server the presence server
 * @param {string} uri
 * @returns {{ uri: string, set: (status: 'Reachable'|'Unreachable'|'Busy') => Promise<void> }}
 */
function presentity(server, uri) {
  let etag;
  return {
    uri,
    async set(status) {
      const published = await client.publish({ server, presentity: uri, etag, ...PUBLICATION[status] });
      if (published.status !== 200) throw new Error(`PUBLISH ${status} for ${uri}: ${published.status}`);
      etag = published.etag;
    },
  };
}

module.exports = { ...client, presentity };
