'use strict';
// Test fixtures: a gateway on free ports pointed at a given presence server, plus small helpers
// to talk to it over real HTTP.
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { createGateway } = require('../../index');
const { basicAuthorization } = require('../../js/auth/basic');

// The test applications listen on loopback, which the SSRF guard refuses by default: the tests
// allow it explicitly (tests of the guard itself pass their own outbound section).
const LOOPBACK_OUTBOUND_YAML = 'outbound:\n  allow: ["127.0.0.0/8", "::1"]\n';

/**
 * The YAML of a test gateway (HTTP and SIP on free ports) that routes SUBSCRIBEs to presencePort.
 * Requests are anonymous unless `authYaml` replaces the default `authentication` section (tests
 * of the policy and of authentication add their `requesters` through it or extraYaml).
 * @param {{ presencePort: number, fetchTimeoutMs?: number, maxTargets?: number, extraYaml?: string,
 *   usageYaml?: string, notificationsYaml?: string, policyYaml?: string, authYaml?: string,
 *   stateDir: string, outboundYaml?: string, httpYaml?: string, presenceYaml?: string,
 *   callsYaml?: string }} options
 *   outboundYaml: the outbound section (default: loopback allowed, for the test applications);
 *   httpYaml / presenceYaml / policyYaml / callsYaml: more keys of those sections, indented by
 *   two (calls.port is 0: parallel gateways never share the AS port; an extraYaml with its own
 *   `calls:` section replaces it);
 *   maxTargets: policy.maxTargets
 */
function gatewayYaml({
  presencePort, fetchTimeoutMs = 1000, maxTargets, extraYaml = '', usageYaml = '', notificationsYaml = '',
  policyYaml = '', authYaml = 'authentication:\n  required: false\n', stateDir,
  outboundYaml = LOOPBACK_OUTBOUND_YAML, httpYaml = '  maxBodyBytes: 8192\n', presenceYaml = '',
  callsYaml = '',
}) {
  return `
usage:
  database: ${path.join(stateDir, 'usage.db')}
${usageYaml}
notifications:
  database: ${path.join(stateDir, 'notifications.db')}
${notificationsYaml}
http:
  host: 127.0.0.1
  port: 0
${httpYaml}
sip:
  bindHost: 127.0.0.1
  port: 0
  presenceServerUri: "sip:127.0.0.1:${presencePort}"
  telDomain: example.test
presence:
  fetchTimeoutMs: ${fetchTimeoutMs}
${presenceYaml}
${/^calls:/m.test(extraYaml) ? '' : `calls:\n  port: 0\n${callsYaml}`}
${outboundYaml}
${authYaml}
policy:
${maxTargets === undefined ? '' : `  maxTargets: ${maxTargets}\n`}${policyYaml}
${extraYaml}`;
}

/**
 * Starts a gateway with gatewayYaml(options) (stateDir defaults to a fresh temporary directory).
 * @param {Parameters<typeof gatewayYaml>[0] & { stateDir?: string }} options
 */
async function startGateway(options) {
  const stateDir = options.stateDir || tempDir('px-usage-');
  const yaml = gatewayYaml({ ...options, stateDir });
  const logs = [];
  const gateway = await createGateway({
    configText: yaml,
    configName: 'test-gateway.yaml',
    log: (level, message, extra) => logs.push({ level, message, extra }),
  });
  const { url } = await gateway.listen();
  return {
    gateway,
    url,
    endpoint: `${url}/TerminalStatusService/services/TerminalStatus`,
    logs,
    usageDatabase: path.join(stateDir, 'usage.db'),
    notificationsDatabase: path.join(stateDir, 'notifications.db'),
    stateDir: stateDir,
  };
}

/** POSTs a raw SOAP body; resolves { status, text, headers }. */
async function postSoap(endpoint, body, headers = {}) {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '""', ...headers },
    body,
  });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

/** A getStatus-like envelope in any namespace, with the given inner XML. */
function envelope(inner, { localNs = 'http://www.csapi.org/schema/parlayx/terminal_status/v2_3/local' } = {}) {
  return `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:loc="${localNs}">
  <soapenv:Body>${inner}</soapenv:Body>
</soapenv:Envelope>`;
}

/** The Fault of a node-soap client error: { faultcode, faultstring, messageId, variables, kind }. */
function soapFault(error) {
  const fault = error && error.root && error.root.Envelope && error.root.Envelope.Body.Fault;
  if (!fault) throw error;
  const detail = fault.detail || {};
  const kind = Object.keys(detail).find((k) => /ServiceException|PolicyException/.test(k));
  const exception = kind ? detail[kind] : {};
  const variables = exception.variables === undefined ? [] : [].concat(exception.variables);
  return {
    faultcode: fault.faultcode,
    faultstring: fault.faultstring,
    kind: kind && kind.replace(/^.*:/, ''),
    messageId: exception.messageId,
    text: exception.text,
    variables,
  };
}

/** A requester's PHC scrypt hash at a low cost (tests only; the gateway accepts any valid cost). */
function testPasswordHash(password) {
  const salt = crypto.randomBytes(16);
  const hash = crypto.scryptSync(password, salt, 32, { N: 16, r: 8, p: 1 });
  const b64 = (b) => b.toString('base64').replace(/=+$/, '');
  return `$scrypt$ln=4,r=8,p=1$${b64(salt)}$${b64(hash)}`;
}

/** HTTP Basic credentials as request headers. */
function basicAuth(name, password) {
  return { authorization: basicAuthorization(name, password) };
}

function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

module.exports = {
  LOOPBACK_OUTBOUND_YAML, gatewayYaml, startGateway, postSoap, envelope, soapFault, tempDir, testPasswordHash, basicAuth };
