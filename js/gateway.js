'use strict';
// The gateway: the native core (config + SIP watcher), the Parlay X services, the HTTP app.
const path = require('node:path');
const native = require('./native');
const { TerminalStatusService } = require('./terminalStatus');
const { TerminalStatusNotificationService } = require('./notifications');
const { NotificationDelivery } = require('./delivery');
const { UsageLog } = require('./usage');
const { ServicePolicy, PolicyCounters } = require('./policy');
const { createAuthenticator } = require('./auth/authenticator');
const { createApp } = require('./app');
const { createHttpServer } = require('./server');

const DEFAULT_CONFIG = path.join(__dirname, '..', 'config', 'gateway.yaml');

function defaultLog(level, message, extra) {
  const line = JSON.stringify({ time: new Date().toISOString(), level, message, ...extra });
  (level === 'error' ? process.stderr : process.stdout).write(`${line}\n`);
}

class Gateway {
  /** @param {{ configPath?: string, configText?: string, configName?: string, log?: Function }} options */
  constructor(options = {}) {
    this.log = options.log || defaultLog;
    const source = options.configText !== undefined
      ? { text: options.configText, name: options.configName || '<config>' }
      : { path: options.configPath || DEFAULT_CONFIG };
    // The usage store opens first: a gateway that cannot record usage must not serve.
    this.usage = new UsageLog(new native.UsageDatabase(source));
    try {
      this.core = new native.NativeCore(source);
    } catch (error) {
      this.usage.close();
      throw error;
    }
    this.config = this.core.config;
    this.counters = new PolicyCounters();
    const policy = new ServicePolicy(this.core);
    const services = { core: this.core, config: this.config, usage: this.usage, policy, counters: this.counters };
    this.terminalStatus = new TerminalStatusService(services);
    const notifications = new TerminalStatusNotificationService({ ...services, log: this.log });
    this.notificationService = notifications;
    try {
      this.delivery = new NotificationDelivery({ config: this.config.notifications.delivery, usage: this.usage, log: this.log });
      this.core.setDeliveryListener((deliveries) => this.delivery.enqueue(deliveries));
    } catch (error) {
      const closeUsage = () => this.usage.close();
      Promise.resolve(this.core.close()).then(closeUsage, closeUsage).catch(() => {});
      throw error;
    }
    /**
     * Admin API: the active notifications (optionally of one requester), and ending one on the
     * operator's behalf (statusError).
     */
    this.notifications = Object.freeze({
      list: (filter) => notifications.list(filter),
      terminate: (correlator, options) => notifications.terminate(correlator, options),
    });
    const authenticator = createAuthenticator(
      { authentication: this.config.authentication, requesters: this.config.requesters }, { log: this.log },
    );
    const onAuthFailure = ({ requester, operation }) => {
      this.counters.add({ requester, service: 'terminalStatus', operation, outcome: 'UNAUTHENTICATED' });
    };
    this.app = createApp({
      config: this.config, terminalStatus: this.terminalStatus, notifications, log: this.log, authenticator, onAuthFailure,
      boundAddress: () => (this.server && this.server.listening ? this.server.address() : null),
    });
    this.server = null;
    this.closed = false;
  }

  /**
   * @param {string} address
   * @param {{ requester?: string, globalId?: string }} [context] recorded in the usage record
   * @returns {Promise<'Reachable'|'Unreachable'|'Busy'>}
   */
  getStatus(address, context) {
    return this.terminalStatus.getStatus(address, context);
  }

  getStatusForGroup(addresses, context) {
    return this.terminalStatus.getStatusForGroup(addresses, context);
  }

  /**
   * startNotification through the JS API (same validation, records and faults as over SOAP).
   * @param {import('./notifications').StartNotificationRequest} request
   * @param {{ requester?: string, globalId?: string }} [context]
   * @returns {Promise<void>}
   */
  startNotification(request, context) {
    return this.notificationService.startNotification(request, context);
  }

  /**
   * @param {string} correlator
   * @param {{ requester?: string, globalId?: string }} [context]
   * @returns {Promise<void>}
   */
  endNotification(correlator, context) {
    return this.notificationService.endNotification(correlator, context);
  }

  /**
   * Policy outcome counters per requester, service, operation and outcome (a STATUSCODE name such
   * as VALID or FAILED_PACER, or UNAUTHENTICATED); `level` 'target' counts the targets of group
   * requests refused on their own.
   * @param {{ requester?: string }} [filter]
   * @returns {Array<{requester: string, service: string, operation: string, outcome: string, level: string, count: number}>}
   */
  policyCounters(filter) {
    return this.counters.snapshot(filter);
  }

  /** Starts the HTTP server on the configured address. */
  async listen() {
    if (this.server) return this.address();
    this.server = createHttpServer({ app: this.app, http: this.config.http, log: this.log });
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.config.http.port, this.config.http.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.address();
  }

  address() {
    const { address, port } = this.server.address();
    const host = address.includes(':') ? `[${address}]` : address;
    const base = this.config.http.basePath === '/' ? '' : this.config.http.basePath;
    return { host: address, port, url: `http://${host}:${port}${base}` };
  }

  /**
   * Stops HTTP (in-flight requests finish), then notification delivery (attempts in flight get a
   * short grace), then the SIP stack and the notification store, then flushes usage records.
   */
  async close() {
    if (this.closed) return;
    this.closed = true;
    if (this.server) {
      const server = this.server;
      const stopped = new Promise((resolve) => server.close(resolve));
      server.closeIdleConnections();
      await stopped;
    }
    await this.delivery.close();
    await this.core.close();
    await this.usage.close();
  }
}

/**
 * Creates a gateway (the SIP stack starts at once; call listen() for HTTP).
 * @param {{ configPath?: string, configText?: string, configName?: string, log?: Function }} [options]
 */
async function createGateway(options) {
  return new Gateway(options);
}

module.exports = { Gateway, createGateway, DEFAULT_CONFIG };
