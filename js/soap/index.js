'use strict';

/** SOAP 1.1 layer: request envelope parser, response/fault serializers, XML helpers. */

const envelope = require('./envelope');
const response = require('./response');
const xml = require('./xml');

module.exports = { ...envelope, ...response, ...xml };
