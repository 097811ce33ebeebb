'use strict';
// A gateway for the adversarial tests: authentication required (one requester, acme), durable
// usage records, HTTP limits given by the test. Its own fixture rather than tests/support/gateway.js
// because these tests set the http section (body cap, timeouts) themselves.
const fs = require('node:fs');
const path = require('node:path');
const { createGateway } = require('../../index');
const { tempDir, testPasswordHash, gatewayYaml } = require('./gateway');

const NM_NS = 'http://www.csapi.org/schema/parlayx/terminal_status/notification_manager/v2_3/local';
const MANAGER_PATH = '/TerminalStatusNotificationManagerService/services/TerminalStatusNotificationManager';
const TERMINAL_STATUS_PATH = '/TerminalStatusService/services/TerminalStatus';

/**
 * The YAML of a gateway on free ports routing SUBSCRIBEs to presencePort.
 * @param {{ presencePort: number, stateDir: string, maxBodyBytes?: number, requestTimeoutMs?: number,
 *   fetchTimeoutMs?: number, requesterPassword?: string, extraYaml?: string,
 *   presenceYaml?: string, notificationsYaml?: string }} options
 *   presenceYaml / notificationsYaml: more keys of those sections, indented by two
 */
function hostileConfig({
  presencePort, stateDir, maxBodyBytes = 65536, requestTimeoutMs = 10000, fetchTimeoutMs = 1000,
  requesterPassword = 'acme-password', extraYaml = '', presenceYaml = '', notificationsYaml = '',
}) {
  return gatewayYaml({
    presencePort,
    stateDir,
    fetchTimeoutMs,
    presenceYaml,
    notificationsYaml,
    extraYaml,
    httpYaml: `  maxBodyBytes: ${maxBodyBytes}\n  requestTimeoutMs: ${requestTimeoutMs}\n`,
    authYaml: `authentication:\n  required: true\nrequesters:\n  acme:\n    passwordHash: "${testPasswordHash(requesterPassword)}"\n`,
  });
}

/**
 * Starts an in-process gateway (see hostileConfig) and its HTTP endpoint.
 * @returns {Promise<{ gateway: any, url: string, endpoint: string, managerEndpoint: string,
 *   logs: object[], stateDir: string, configText: string }>}
 */
async function startHostileGateway(options) {
  const stateDir = options.stateDir || tempDir('px-hostile-');
  const configText = hostileConfig({ ...options, stateDir });
  const logs = [];
  const gateway = await createGateway({
    configText,
    configName: 'hostile-gateway.yaml',
    log: (level, message, extra) => logs.push({ level, message, extra }),
  });
  const { url } = await gateway.listen();
  return {
    gateway,
    url,
    endpoint: `${url}${TERMINAL_STATUS_PATH}`,
    managerEndpoint: `${url}${MANAGER_PATH}`,
    logs,
    stateDir,
    configText,
  };
}

/** Writes hostileConfig to <stateDir>/gateway.yaml for a gateway child process; returns its path. */
function writeHostileConfig(options) {
  const file = path.join(options.stateDir, 'gateway.yaml');
  fs.writeFileSync(file, hostileConfig(options));
  return file;
}

module.exports = { startHostileGateway, hostileConfig, writeHostileConfig, NM_NS, MANAGER_PATH, TERMINAL_STATUS_PATH };
