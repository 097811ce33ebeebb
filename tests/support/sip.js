'use strict';

/**
 * Real-SIP client for tests. The implementation lives in
 * scripts/kamailio/sip-client.js so that scripts/presence-server.js does not
 * depend on tests/.
 */

module.exports = require('../../scripts/kamailio/sip-client');
