'use strict';

/**
 * SOAP 1.1 layer: the request envelope parser (envelope.js), the request reader that turns an
 * operation's children into a typed request (requests.js), the one builder of responses, faults
 * and outbound notifications (builder.js), and the XML helpers (xml.js).
 */

const envelope = require('./envelope');
const requests = require('./requests');
const builder = require('./builder');
const xml = require('./xml');

module.exports = { ...envelope, ...requests, ...builder, ...xml };
