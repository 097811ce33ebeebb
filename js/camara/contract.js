'use strict';
// The CAMARA contracts as published (openapi/camara/*.yaml), read with the `yaml` package: one
// parse per file and process, shared by the request validator (the schemas), the correlator (the
// x-correlator pattern) and the token verifier's callers (each operation's scopes).
const fs = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');

const CONTRACT_DIR = path.join(__dirname, '..', '..', 'openapi', 'camara');
const cache = new Map();

/**
 * The parsed OpenAPI document of a contract file in openapi/camara/.
 * @param {string} file e.g. 'device-reachability-status.yaml'
 * @returns {any} the document (frozen deeply is not needed: nothing writes to it)
 */
function loadContract(file) {
  let document = cache.get(file);
  if (document === undefined) {
    document = YAML.parse(fs.readFileSync(path.join(CONTRACT_DIR, file), 'utf8'));
    cache.set(file, document);
  }
  return document;
}

/**
 * The operation of a contract by its operationId, with its path and method.
 * @param {any} document
 * @param {string} operationId
 * @returns {{ path: string, method: string, operation: any }}
 */
function findOperation(document, operationId) {
  for (const [route, item] of Object.entries(document.paths || {})) {
    for (const [method, operation] of Object.entries(item)) {
      if (operation && operation.operationId === operationId) return { path: route, method: method.toUpperCase(), operation };
    }
  }
  throw new Error(`operation ${operationId} is not in the contract ${document.info && document.info.title}`);
}

/**
 * The scopes the contract's security section asks for (the openId scheme): the defaults of
 * camara.scopes.<operationId>.
 * @param {any} document
 * @param {string} operationId
 * @returns {string[]}
 */
function contractScopes(document, operationId) {
  const { operation } = findOperation(document, operationId);
  return (operation.security || []).flatMap((requirement) => Object.values(requirement).flat());
}

/**
 * The x-correlator header pattern of the contract (components.parameters.x-correlator).
 * @param {any} document
 * @returns {RegExp}
 */
function correlatorPattern(document) {
  const parameter = document.components.parameters['x-correlator'];
  return new RegExp(parameter.schema.pattern);
}

module.exports = { loadContract, findOperation, contractScopes, correlatorPattern, CONTRACT_DIR };
