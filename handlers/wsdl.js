'use strict';
// Serves the gateway's WSDL/XSD contract: "<endpoint>?wsdl" for each served endpoint, and every
// file of wsdl/ at "<basePath>/wsdl/<file>". Relative imports and the soap:address are rewritten
// to absolute URLs on the host the client used, so generated clients resolve everything.
const fs = require('node:fs');
const path = require('node:path');
const { escapeAttr } = require('../js/soap/xml');
const { xmlResponse } = require('./http');

const WSDL_DIR = path.join(__dirname, '..', 'wsdl');
const SAMPLE_BASE = 'http://localhost:8080/parlayx';
const SAFE_HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/**
 * @param {{ basePath: string, defaultHost: string | (() => string), endpoints: Record<string, string> }} options
 *   defaultHost: host[:port] used when the request has no safe Host header (a function: asked per request);
 *   endpoints: endpoint path (relative to basePath) -> service WSDL file name
 * @returns {(event: import('./http').HttpEvent) => import('./http').HttpResponse | null}
 *   null when the event is not a WSDL request
 */
function createWsdlHandler({ basePath, defaultHost, endpoints }) {
  const files = new Map();
  for (const name of fs.readdirSync(WSDL_DIR)) {
    if (/\.(wsdl|xsd)$/.test(name)) files.set(name, fs.readFileSync(path.join(WSDL_DIR, name), 'utf8'));
  }
  const prefix = basePath === '/' ? '' : basePath;

  function render(name, host) {
    const fallback = typeof defaultHost === 'function' ? defaultHost() : defaultHost;
    const origin = `http://${SAFE_HOST.test(host || '') ? host : fallback}`;
    const base = `${origin}${prefix}`;
    return files.get(name)
      .replace(/((?:schemaL|l)ocation=")([^":/]+\.(?:wsdl|xsd))"/g, (all, attr, file) =>
        files.has(file) ? `${attr}${escapeAttr(`${base}/wsdl/${file}`)}"` : all)
      .split(SAMPLE_BASE).join(escapeAttr(base));
  }

  return function wsdlHandler(event) {
    const method = (event.httpMethod || event.method || 'GET').toUpperCase();
    if (method !== 'GET' && method !== 'HEAD') return null;
    const host = event.headers && event.headers.host;
    const query = event.queryStringParameters || {};
    if (event.path.startsWith(`${prefix}/wsdl/`)) {
      const name = event.path.slice(prefix.length + 6);
      if (!files.has(name)) return xmlResponse(404, '<error>no such WSDL or XSD file</error>');
      return xmlResponse(200, render(name, host));
    }
    const relative = event.path.slice(prefix.length);
    if (Object.hasOwn(query, 'wsdl') && Object.hasOwn(endpoints, relative)) {
      return xmlResponse(200, render(endpoints[relative], host));
    }
    return null;
  };
}

module.exports = { createWsdlHandler };
