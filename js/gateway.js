'use strict';
// The gateway: the native core (config + SIP watcher), the Parlay X services, the HTTP app.
const path = require('node:path');
const { randomUUID } = require('node:crypto');
const native = require('./native');
const { TerminalStatusService } = require('./terminalStatus');
const { TerminalStatusNotificationService } = require('./notifications');
const { NotificationDelivery } = require('./delivery');
const { isCallDelivery } = require('./delivery/queue');
const { CallDeliveries } = require('./calls/callDeliveries');
const { DecisionClient } = require('./calls/decisionClient');
const { UsageLog } = require('./usage');
const { ServicePolicy, PolicyCounters } = require('./policy');
const { XcapGroupSource } = require('./xcapGroups');
const { DestinationPolicy } = require('./outbound/destinationPolicy');
const { parseEndpointUrl } = require('./outbound/endpointUrl');
const { CATALOGUE } = require('./parlayx/faults');
const { checkFdBudget } = require('./fdBudget');
const { DeferredLogger } = require('./logging/deferredLogger');
const { requestLog } = require('./logging/requestLog');
const { startSofiaLog } = require('./logging/sofia');
const { createEventRenderer } = require('./camara/events');
const { SUBSCRIPTIONS_API, SUBSCRIPTIONS_BASE } = require('./camara/subscriptions');

const DEFAULT_CONFIG = path.join(__dirname, '..', 'config', 'gateway.yaml');

class Gateway {
  /** Made at their first use: see their getters. */
  #app = null;
  #authenticator = null;
  #callNotificationService = null;
  #callDirectionService = null;
  /** The admin listener's parts (js/admin/), made at their first use or by listen(). */
  #metrics = null;
  #readiness = null;
  /** The SOAP listener's drain, once begun (shutdown() or close()). */
  #httpStop = null;
  /** What every service is made with. */
  #services;
  /**
   * The gateway's own log (null when options.log was given).
   * @type {import('./logging/deferredLogger').DeferredLogger | null}
   */
  #ownLog = null;

  /**
   * @param {{ configPath?: string, configText?: string, configName?: string,
   *   log?: import('./logging/logger').LogFunction, logDestination?: import('pino').DestinationStream }} options
   */
  constructor(options = {}) {
    const source = options.configText !== undefined
      ? { text: options.configText, name: options.configName || '<config>' }
      : { path: options.configPath || DEFAULT_CONFIG };
    // The usage store opens first: a gateway that cannot record usage must not serve.
    this.usage = new UsageLog(new native.UsageDatabase(source));
    // The log, and Sofia's lines into it, before the core: its SIP stack logs while it starts
    // (the agent, its transports' binds). The logging section is read from the same source.
    let logging;
    try {
      ({ logging } = native.loadConfig(source));
    } catch (error) {
      this.usage.close();
      throw error;
    }
    // The one log: the caller's function, or a pino logger at logging.level (js/logging/), built
    // when its first line is due (deferredLogger.js).
    this.#ownLog = options.log ? null : new DeferredLogger(logging, options.logDestination);
    this.log = options.log || this.#ownLog.log;
    // The usage store's writer thread: failed appends at error with SQLite's reason (batched ones
    // reject no Promise), its other reports (a failed attempt that is retried) at warn.
    this.usage.onError((message, failedAppends, reason) => {
      if (failedAppends > 0) this.log('error', message, { failedAppends, reason });
      else this.log('warn', message, { source: 'usage-store' });
    });
    /** Sofia-SIP's own log, when logging.sofiaLevel asks for it (one per process: js/logging/sofia.js). */
    this.sofiaLog = logging.sofiaLevel > 0 ? startSofiaLog(logging.sofiaLevel, this.log) : null;
    try {
      this.core = new native.NativeCore(source);
    } catch (error) {
      if (this.sofiaLog) this.sofiaLog.close();
      this.usage.close();
      throw error;
    }
    this.config = this.core.config;
    this.counters = new PolicyCounters();
    const xcap = this.config.groups.xcap;
    const policy = new ServicePolicy(this.core,
      xcap.root === '' ? null : new XcapGroupSource({ core: this.core, config: xcap, log: this.log }));
    this.server = null;
    this.adminServer = null;
    // Operations are counted only once the metrics exist (admin.enabled: from the start), and
    // logged one line each at info (fixed fields, no credential: no redaction pass).
    const logRequest = requestLog(this.#ownLog ? this.#ownLog.unredactedLog : this.log);
    const onOperation = (o) => {
      if (this.#metrics !== null) this.#metrics.observeOperation(o);
      logRequest(o);
    };
    this.destinations = new DestinationPolicy(this.config.outbound, { ownPorts: () => this.ownPorts() });
    // Each terminal status answered, for the metrics' status mix (and the admin page's plot).
    const onStatus = (status) => {
      if (this.#metrics !== null) this.#metrics.observeStatus(status);
    };
    const services = {
      core: this.core, config: this.config, usage: this.usage, policy, counters: this.counters, destinations: this.destinations,
      onOperation, onStatus,
    };
    this.#services = services;
    this.terminalStatus = new TerminalStatusService(services);
    const notifications = new TerminalStatusNotificationService({ ...services, log: this.log });
    this.notificationService = notifications;
    this.callDeliveries = null;
    this.decisions = null;
    try {
      this.delivery = new NotificationDelivery({
        config: this.config.notifications.delivery,
        usage: this.usage,
        log: this.log,
        destinations: this.destinations,
        // Its failed attempt is already recorded: end it without a further statusError. A call
        // registration's endpoint was checked at its start: nothing to end.
        onUndeliverable: (d) => {
          if (!isCallDelivery(d)) this.quarantine(d.requester || '', d.correlator, false, d.api || '');
        },
        onGivenUp: (d) => {
          if (isCallDelivery(d)) this.callDeliveries.failed(d);
        },
        // Out of the core's durable outbox; deliveries made up here (sequence -1) were never in it.
        onSettled: (d) => {
          if (d.sequence >= 0) this.core.deliveryDone(d.requester || '', d.correlator, d.sequence);
        },
        // CAMARA subscriptions' events (also when camara.enabled is off now: stored ones run on).
        renderers: {
          [SUBSCRIPTIONS_API]: createEventRenderer({
            source: `${this.config.camara.basePath === '/' ? '' : this.config.camara.basePath}${SUBSCRIPTIONS_BASE}`,
          }),
        },
        // Their delivery records name the CAMARA service, as the create record does.
        services: { [SUBSCRIPTIONS_API]: this.config.camara.serviceName },
      });
      this.core.setDeliveryListener((deliveries) => {
        // Called from the native core's callback: nothing may throw back into it.
        try {
          this.delivery.enqueue(deliveries);
        } catch (error) {
          this.log('error', 'notification deliveries could not be queued', { error: error.stack || String(error) });
        }
      });
      this.quarantineStored();
      this.startCalls();
      if (this.config.admin.enabled) this.#ensureMetrics();
    } catch (error) {
      const closeUsage = () => {
        if (this.sofiaLog) this.sofiaLog.close();
        return this.usage.close();
      };
      Promise.resolve(this.core.close()).then(closeUsage, closeUsage).catch(() => {});
      throw error;
    }
    /**
     * Admin API: the active notifications (optionally of one requester), and ending one on the
     * operator's behalf (statusError).
     */
    this.notifications = Object.freeze({
      list: (filter) => notifications.list(filter),
      listService: (filter) => notifications.listService(filter),
      terminate: (correlator, options) => notifications.terminate(correlator, options),
    });
    this.closed = false;
    /** Set by `parlayx-gateway serve` (js/processGuard.js); its counters are in securityStats(). */
    this.processGuard = null;
  }

  /**
   * The gateway's pino logger (null when options.log was given), built now if no line was
   * logged yet; its level may be changed at run time.
   * @returns {import('pino').Logger | null}
   */
  get logger() {
    return this.#ownLog === null ? null : this.#ownLog.logger;
  }

  /**
   * The HTTP app: every endpoint as one function `(event) => response` (js/app.js). Made at its
   * first use (listen(), or an embedder calling it): the handlers, the SOAP parser and the WSDL
   * files are then loaded, so that start-up and the JS API do not wait for them (issue 15).
   */
  get app() {
    if (this.#app === null) {
      const onAuthFailure = ({ requester, operation, service = 'terminalStatus' }) => {
        this.counters.add({ requester, service, operation, outcome: 'UNAUTHENTICATED' });
      };
      const { createApp } = require('./app');
      this.#app = createApp({
        config: this.config, terminalStatus: this.terminalStatus, notifications: this.notificationService, log: this.log,
        authenticator: this.authenticator, onAuthFailure,
        callNotifications: this.callNotificationService, callDirection: this.callDirectionService,
        boundAddress: () => (this.server && this.server.listening ? this.server.address() : null),
      });
    }
    return this.#app;
  }

  /**
   * The requester authenticator of the HTTP app (js/auth/authenticator.js), made at its first use
   * like `app`: the JS API authenticates nobody. Its settings and password hashes were checked
   * when the core loaded the configuration.
   */
  get authenticator() {
    if (this.#authenticator === null) {
      const { createAuthenticator } = require('./auth/authenticator');
      this.#authenticator = createAuthenticator(
        { authentication: this.config.authentication, requesters: this.config.requesters }, { log: this.log },
      );
    }
    return this.#authenticator;
  }

  /**
   * The Call Notification and Call Direction services (start/stop of registrations), made at
   * their first use like `app`: start-up and getStatus do not wait for their modules (issue 15).
   * They keep no state of their own (the registrations are in the core).
   */
  get callNotificationService() {
    if (this.#callNotificationService === null) {
      const { CallNotificationService } = require('./calls/callNotifications');
      this.#callNotificationService = new CallNotificationService({ ...this.#services, log: this.log });
    }
    return this.#callNotificationService;
  }

  get callDirectionService() {
    if (this.#callDirectionService === null) {
      const { CallDirectionService } = require('./calls/callDirection');
      this.#callDirectionService = new CallDirectionService({ ...this.#services, log: this.log });
    }
    return this.#callDirectionService;
  }

  /**
   * Call Notification / Call Direction: the core's call batches go to the delivery scheduler
   * (notify*) and to the decision client (handle*).
   */
  startCalls() {
    this.callDeliveries = new CallDeliveries({ delivery: this.delivery, log: this.log });
    this.decisions = new DecisionClient({
      core: this.core, calls: this.config.calls, usage: this.usage, log: this.log,
      destinations: this.destinations, budget: this.delivery.budget,
    });
    this.core.setCallListener((batch) => this.handleCallBatch(batch));
  }

  /**
   * One batch of the core's call listener: decisions first (a call waits for each), then the
   * notifications. Called from the native core's callback: nothing may throw back into it.
   * @param {{ notifications?: object[], decisions?: object[] }} batch
   */
  handleCallBatch(batch) {
    try {
      if (batch && Array.isArray(batch.decisions) && batch.decisions.length > 0) this.decisions.handle(batch.decisions);
      if (batch && Array.isArray(batch.notifications) && batch.notifications.length > 0) {
        this.callDeliveries.enqueue(batch.notifications);
      }
    } catch (error) {
      this.log('error', 'call batch could not be handled', { error: error.stack || String(error) });
    }
  }

  /** The ports this gateway listens on (the SSRF guard refuses them as destinations). */
  ownPorts() {
    const ports = [this.core.sipPort];
    if (this.core.callPort) ports.push(this.core.callPort);
    const address = this.server !== null ? this.server.address() : null;
    if (address !== null && typeof address === 'object') ports.push(address.port);
    else ports.push(this.config.http.port);
    return ports;
  }

  /**
   * Start-up: stored notifications the core could not decode (moved to its quarantine table),
   * and restored ones whose endpoint a newer rule refuses, are ended with a statusError to the
   * application where it can still be reached, a usage record and a log line; the rest run on.
   */
  quarantineStored() {
    const restoreError = CATALOGUE.SVC0001;
    const deliveries = [];
    for (const q of this.core.quarantinedAtStart) {
      if (q.pendingDelivery) {
        // One delivery of the outbox is unreadable (kept in the store); its notification goes on.
        this.log('error', 'stored delivery quarantined: it cannot be sent again', {
          requester: q.requester, correlator: q.correlator, reason: q.reason,
        });
        continue;
      }
      this.log('error', 'stored notification quarantined: it cannot be restored', {
        requester: q.requester, correlator: q.correlator, reason: q.reason,
      });
      deliveries.push({
        kind: 'statusError',
        requester: q.requester,
        correlator: q.correlator,
        endpoint: q.endpoint,
        globalId: q.globalId || randomUUID(),
        sequence: -1,
        address: '',
        error: { messageId: 'SVC0001', text: restoreError.text, variables: ['notification could not be restored after a restart'] },
      });
    }
    if (deliveries.length > 0) this.delivery.enqueue(deliveries);
    // Call registrations have no end message to send (Parlay X part 3 has no statusEnd): the
    // application learns it from the missing notifications; the operator from this line.
    for (const q of this.core.quarantinedCallsAtStart || []) {
      this.log('error', 'stored call registration quarantined: it cannot be restored', {
        kind: q.kind, requester: q.requester, correlator: q.correlator, reason: q.reason,
      });
    }
    for (const n of this.core.listNotifications()) {
      if (parseEndpointUrl(n.endpoint) !== null) continue;
      this.log('error', 'stored notification quarantined: its endpoint is not usable', {
        requester: n.requester, correlator: n.correlator, endpoint: n.endpoint,
      });
      this.quarantine(n.requester, n.correlator, true);
    }
  }

  /**
   * Ends a notification that can never be delivered; with `tell`, through a statusError (whose
   * failed attempt records the reason), else silently.
   */
  quarantine(requester, correlator, tell, api = '') {
    Promise.resolve()
      .then(() => (tell
        ? this.core.terminateNotification(requester, correlator, 'notification quarantined: its endpoint is not usable')
        : this.core.endNotification(requester, correlator, api)))
      .catch((error) => {
        if (error && error.code === 'ERR_PX_CLOSED') return;
        this.log('error', 'quarantine of a notification failed', { requester, correlator, error: String(error) });
      });
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
   * startCallNotification through the JS API (same checks, records and faults as over SOAP).
   * @param {import('./calls/callNotifications').StartCallNotificationRequest} request
   * @param {{ requester?: string, globalId?: string }} [context]
   * @returns {Promise<void>}
   */
  startCallNotification(request, context) {
    return this.callNotificationService.startCallNotification(request, context);
  }

  /**
   * @param {{ correlator: string } | string} request
   * @param {{ requester?: string, globalId?: string }} [context]
   * @returns {Promise<void>}
   */
  stopCallNotification(request, context) {
    return this.callNotificationService.stopCallNotification(request, context);
  }

  /**
   * startCallDirectionNotification through the JS API (same checks, records and faults as over SOAP).
   * @param {import('./calls/callNotifications').StartCallNotificationRequest} request
   * @param {{ requester?: string, globalId?: string }} [context]
   * @returns {Promise<void>}
   */
  startCallDirectionNotification(request, context) {
    return this.callDirectionService.startCallDirectionNotification(request, context);
  }

  /**
   * @param {{ correlator: string } | string} request
   * @param {{ requester?: string, globalId?: string }} [context]
   * @returns {Promise<void>}
   */
  stopCallDirectionNotification(request, context) {
    return this.callDirectionService.stopCallDirectionNotification(request, context);
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

  /**
   * Counters of the defences (docs/security.md): HTTP connections and timeouts, authentication
   * throttling and the scrypt pool, the SSRF guard, notification delivery, the SIP stack.
   * @returns {import('../index').SecurityStats}
   */
  securityStats() {
    return {
      http: this.server !== null ? this.server.stats() : null,
      authentication: this.authenticator.stats(),
      outbound: this.destinations.stats(),
      delivery: this.delivery.stats(),
      decisions: this.decisions ? this.decisions.stats() : null,
      sip: this.core.stats(),
      fdBudget: this.fdBudget || null,
      process: this.processGuard ? this.processGuard.stats() : null,
    };
  }

  /**
   * The Prometheus metrics (js/admin/metrics.js), made at their first use: prom-client is loaded
   * only by gateways that serve or ask for metrics (start-up, issue 15).
   * @returns {import('./admin/metrics').GatewayMetrics}
   */
  #ensureMetrics() {
    if (this.#metrics === null) {
      const { GatewayMetrics } = require('./admin/metrics');
      this.#metrics = new GatewayMetrics({ core: this.core, usage: this.usage, delivery: this.delivery, counters: this.counters });
    }
    return this.#metrics;
  }

  /** @returns {import('./admin/readiness').Readiness} */
  #ensureReadiness() {
    if (this.#readiness === null) {
      const { Readiness } = require('./admin/readiness');
      this.#readiness = new Readiness({ core: this.core, usage: this.usage, config: this.config });
    }
    return this.#readiness;
  }

  /**
   * The Prometheus text exposition of this gateway's metrics (GET /metrics on the admin listener).
   * @returns {Promise<string>}
   */
  metricsText() {
    return this.#ensureMetrics().text();
  }

  /**
   * Whether the gateway can serve now (GET /readyz): not shutting down, the usage store writable,
   * the presence server reachable (a probe at most once per presence.fetchTimeoutMs).
   * @returns {Promise<import('./admin/readiness').ReadinessReport>}
   */
  readiness() {
    return this.#ensureReadiness().check();
  }

  /**
   * The admin page's routes (js/admin/page.js) when admin.users names someone, else null: its
   * users, the notification registry (terminate = the operator's termination, statusError to the
   * application), the call registrations (listed only), the usage store.
   */
  #adminPage() {
    if (Object.keys(this.config.admin.users).length === 0) {
      if (this.config.admin.authenticateMetrics) {
        this.log('warn', 'admin.authenticateMetrics is true but admin.users names nobody: /metrics refuses every scrape');
      }
      return null;
    }
    const { createAdminPage } = require('./admin/page');
    return createAdminPage({
      users: this.config.admin.users,
      authentication: this.config.authentication,
      metrics: this.#ensureMetrics(),
      notifications: this.notifications,
      callRegistrations: () => this.core.listCallRegistrations(),
      usage: this.usage,
      log: this.log,
    });
  }

  /** Starts the HTTP server on the configured address, and the admin listener when admin.enabled. */
  async listen() {
    if (this.server) return this.address();
    this.fdBudget = checkFdBudget(this.config, this.log);
    // js/server.js (and node:http) is required here, not at load: the JS API needs no HTTP server.
    const { createHttpServer } = require('./server');
    this.server = createHttpServer({ app: this.app, http: this.config.http, log: this.log });
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.config.http.port, this.config.http.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    if (this.config.admin.enabled) {
      const { startAdminServer } = require('./admin/server');
      const page = this.#adminPage();
      try {
        this.adminServer = await startAdminServer(this.config.admin, {
          metrics: this.#ensureMetrics(), readiness: this.#ensureReadiness(),
          page, authenticateMetrics: this.config.admin.authenticateMetrics,
        }, this.log);
      } catch (error) {
        if (page !== null) page.stop();
        // Half a start is no start: the SOAP port is released again.
        const server = this.server;
        this.server = null;
        await new Promise((resolve) => server.close(resolve));
        throw error;
      }
    }
    return this.address();
  }

  /** Where the admin listener listens; null when it is not running. */
  adminAddress() {
    if (this.adminServer === null) return null;
    const { address, port } = this.adminServer.address();
    const host = address.includes(':') ? `[${address}]` : address;
    return { host: address, port, url: `http://${host}:${port}` };
  }

  address() {
    const { address, port } = this.server.address();
    const host = address.includes(':') ? `[${address}]` : address;
    const base = this.config.http.basePath === '/' ? '' : this.config.http.basePath;
    return { host: address, port, url: `http://${host}:${port}${base}` };
  }

  /**
   * Stops the SOAP listener: no new connection from now on; requests in flight finish, for up to
   * deadlineMs, after which the connections left are closed. Kept-alive connections are closed as
   * soon as they are idle (a client would otherwise hold the drain for keepAliveTimeoutMs).
   * @param {number} deadlineMs Infinity: no deadline
   */
  #stopHttp(deadlineMs) {
    if (this.#httpStop === null) {
      this.#httpStop = (async () => {
        const server = this.server;
        if (server === null || !server.listening) return;
        const stopped = new Promise((resolve) => server.close(() => resolve('stopped')));
        server.closeIdleConnections();
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        let timer = null;
        const deadline = Number.isFinite(deadlineMs)
          ? new Promise((resolve) => { timer = setTimeout(resolve, deadlineMs, 'deadline'); })
          : null;
        try {
          if ((await (deadline ? Promise.race([stopped, deadline]) : stopped)) === 'deadline') {
            this.log('warn', 'shutdown deadline reached: closing the connections left', { deadlineMs });
            server.closeAllConnections();
            await stopped;
          }
        } finally {
          clearInterval(sweep);
          if (timer !== null) clearTimeout(timer);
        }
      })();
    }
    return this.#httpStop;
  }

  /**
   * Graceful stop (SIGTERM): readiness turns false at once, the SOAP listener stops accepting,
   * requests in flight may finish for up to deadlineMs (default admin.shutdownDeadlineMs), then
   * the connections left are closed and close() runs.
   * @param {number} [deadlineMs]
   */
  async shutdown(deadlineMs = this.config.admin.shutdownDeadlineMs) {
    this.#ensureReadiness().beginShutdown();
    await this.#stopHttp(deadlineMs);
    await this.close();
  }

  /**
   * Stops HTTP (in-flight requests finish), then the admin listener, then notification delivery
   * (attempts in flight get a short grace), then the SIP stack and the notification store, then
   * flushes usage records.
   */
  async close() {
    if (this.closed) return;
    this.closed = true;
    if (this.#readiness !== null) this.#readiness.beginShutdown();
    await this.#stopHttp(Infinity);
    if (this.adminServer) {
      const admin = this.adminServer;
      const stopped = new Promise((resolve) => admin.close(resolve));
      admin.closeAllConnections();
      await stopped;
    }
    if (this.decisions) await this.decisions.close();
    await this.delivery.close();
    if (this.callDeliveries) await this.callDeliveries.written();
    await this.core.close();
    if (this.sofiaLog) this.sofiaLog.close();
    await this.usage.close();
  }
}

/**
 * Creates a gateway (the SIP stack starts at once; call listen() for HTTP).
 * @param {{ configPath?: string, configText?: string, configName?: string,
 *   log?: import('./logging/logger').LogFunction, logDestination?: import('pino').DestinationStream }} [options]
 */
async function createGateway(options) {
  return new Gateway(options);
}

module.exports = { Gateway, createGateway, DEFAULT_CONFIG };
