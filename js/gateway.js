'use strict';
// The gateway: the native core (config + SIP watcher), the Parlay X services, the HTTP app.
const path = require('node:path');
const native = require('./native');
const { TerminalStatusService } = require('./terminalStatus');
const { UsageLog } = require('./usage');
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
    this.terminalStatus = new TerminalStatusService({ core: this.core, config: this.config, native, usage: this.usage });
    this.app = createApp({ config: this.config, terminalStatus: this.terminalStatus, log: this.log });
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

  /** Stops HTTP (in-flight requests finish), then the SIP stack, then flushes usage records. */
  async close() {
    if (this.closed) return;
    this.closed = true;
    if (this.server) {
      const server = this.server;
      const stopped = new Promise((resolve) => server.close(resolve));
      server.closeIdleConnections();
      await stopped;
    }
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
