'use strict';
// CAMARA Device Reachability Status Subscriptions v0.7 on the Parlay X Terminal Status
// notifications: a subscription is a notification of the native engine (one registry, one store,
// one SIP subscription per terminal whatever API asked) marked with api = SUBSCRIPTIONS_API and
// carrying the CAMARA fields in its extension (kept by the store, so a restart restores it). The
// engine decides every event (docs/camara.md "Subscriptions"); js/camara/events.js writes them as
// CloudEvents and js/delivery/ sends them like any notification delivery.
//
// What is decided here is only the request: the device, the sink (the SSRF guard of
// startNotification), the sink credential, the expiry (camara.subscriptions), the statuses that
// enter the subscribed state (camara.connectivity), the quota per requester, then the service
// policy of startNotification and the usage records (SERVICE camara.serviceName): create
// startNotification, delete endNotification, read getNotification, list listNotifications.
const { randomUUID } = require('node:crypto');
const { ParlayxFault } = require('../parlayx/faults');
const { UsageStatus } = require('../usage');
const { failure, recordOperation } = require('../recordedOperation');
const { CamaraError, fromFault } = require('./errors');

/** NotificationSpec.api of these subscriptions (store, deliveries, metrics). */
const SUBSCRIPTIONS_API = 'camara-device-reachability-status-subscriptions-v0.7';
/** The contract's path of the API below camara.basePath (its server URL's path). */
const SUBSCRIPTIONS_BASE = '/device-reachability-status-subscriptions/v0.7';
const TYPE_PREFIX = 'org.camaraproject.device-reachability-status-subscriptions.v0.';
const EVENT_TYPES = Object.freeze({
  data: `${TYPE_PREFIX}reachability-data`,
  sms: `${TYPE_PREFIX}reachability-sms`,
  disconnected: `${TYPE_PREFIX}reachability-disconnected`,
  ends: `${TYPE_PREFIX}subscription-ends`,
});

/**
 * The Parlay X statuses that put a device in the state of an event type, with the connectivity
 * of camara.connectivity (the mapping of retrieve, docs/camara.md):
 *   reachability-data: a status whose connectivity holds DATA;
 *   reachability-sms: one whose connectivity holds SMS and not DATA;
 *   reachability-disconnected: Unreachable.
 * The engine reports entering that set; an empty set (SMS-only never happens with the
 * configuration) reports nothing.
 * @param {string} type an event type of the contract
 * @param {{ reachable: string[], busy: string[] }} connectivity
 * @returns {Array<'Reachable'|'Busy'|'Unreachable'>}
 */
function statusesOf(type, connectivity) {
  if (type === EVENT_TYPES.disconnected) return ['Unreachable'];
  const reachable = [['Reachable', connectivity.reachable], ['Busy', connectivity.busy]];
  if (type === EVENT_TYPES.data) return reachable.filter(([, c]) => c.includes('DATA')).map(([s]) => s);
  if (type === EVENT_TYPES.sms) return reachable.filter(([, c]) => c.includes('SMS') && !c.includes('DATA')).map(([s]) => s);
  throw new CamaraError('INVALID_ARGUMENT', `Unknown event type ${type}.`);
}

/**
 * The scopes a create needs for a subscription to `type`: the configured scopes that name no
 * event type, and those that name this one.
 * @param {string[]} configured camara.scopes.createDeviceReachabilityStatusSubscription
 * @param {string} type
 * @returns {string[]}
 */
function createScopesFor(configured, type) {
  const named = Object.values(EVENT_TYPES);
  return configured.filter((scope) => {
    const names = named.filter((t) => scope.includes(`:${t}:`));
    return names.length === 0 || names.includes(type);
  });
}

/** The 404 of a subscription that is not the requester's (or not at all). */
function notFound() {
  return new CamaraError('NOT_FOUND', 'The specified resource is not found.', { reason: 'unknownSubscription' });
}

/** The SVC0002 of an unknown id (not the SVC0001 of a record that could not be written). */
function isUnknownFault(error) {
  return error instanceof ParlayxFault && error.messageId === 'SVC0002';
}

function asCamara(error) {
  return error instanceof ParlayxFault ? fromFault(error) : error;
}

class ReachabilitySubscriptionService {
  /**
   * @param {{ core: any, config: any, usage: import('../usage').UsageLog,
   *           policy: import('../policy').ServicePolicy,
   *           notifications: import('../notifications').TerminalStatusNotificationService,
   *           counters?: import('../policy').PolicyCounters, onOperation?: Function, log?: Function }} deps
   *   notifications: its SSRF check of endpoints is the sink's
   */
  constructor({ core, config, usage, policy, notifications, counters, onOperation, log = () => {} }) {
    this.core = core;
    this.policy = policy;
    this.notifications = notifications;
    this.log = log;
    this.camara = config.camara;
    this.limits = config.camara.subscriptions;
    this.sink = {
      usage, serviceName: config.camara.serviceName, policyService: 'terminalStatus', counters,
      api: 'camara-device-reachability-status-subscriptions', onOperation,
    };
  }

  /**
   * POST /subscriptions: the request is valid against the contract's SubscriptionRequest (the
   * handler checked it) and its device resolved.
   * @param {any} body
   * @param {{ phoneNumber: string, address: string }} device the resolved device
   * @param {{ requester: string, globalId: string }} context
   * @returns {Promise<object>} the contract's Subscription (201)
   * @throws {CamaraError}
   */
  async create(body, device, context) {
    const requester = context.requester;
    const type = body.types[0];
    const cfg = body.config;
    const now = Date.now();
    const ext = { types: [type], protocol: body.protocol, config: cfg };
    if (body.sinkCredential !== undefined) ext.sinkCredential = body.sinkCredential;
    if (cfg.subscriptionDetail && cfg.subscriptionDetail.device !== undefined) ext.device = { phoneNumber: device.phoneNumber };

    let expiresAtMs = now + this.limits.defaultExpirySec * 1000;
    if (cfg.subscriptionExpireTime !== undefined) {
      const requested = Date.parse(cfg.subscriptionExpireTime);
      if (!(requested > now)) throw new CamaraError('OUT_OF_RANGE', 'subscriptionExpireTime is in the past.');
      expiresAtMs = requested;
    }
    expiresAtMs = Math.min(expiresAtMs, now + this.limits.maxExpirySec * 1000);
    if (ext.sinkCredential !== undefined) {
      const tokenExpiresAtMs = Date.parse(ext.sinkCredential.accessTokenExpiresUtc);
      if (!(tokenExpiresAtMs > now)) throw new CamaraError('INVALID_CREDENTIAL', 'The sink access token has expired.');
      if (tokenExpiresAtMs < expiresAtMs) {
        expiresAtMs = tokenExpiresAtMs;
        ext.expiryReason = 'ACCESS_TOKEN_EXPIRED';
      }
    }
    const criteria = statusesOf(type, this.camara.connectivity);

    const active = (await this.notificationsOf(requester)).filter((n) => n.api === SUBSCRIPTIONS_API).length;
    if (active >= this.limits.maxPerRequester) {
      throw new CamaraError('QUOTA_EXCEEDED', `At most ${this.limits.maxPerRequester} subscriptions per client.`);
    }
    try {
      await this.notifications.checkDestination(body.sink);
    } catch (error) {
      if (error instanceof ParlayxFault && error.usageStatus === UsageStatus.INVALID) {
        throw new CamaraError('INVALID_ARGUMENT', 'The sink is not an allowed destination.', { reason: 'sink' });
      }
      throw asCamara(error);
    }

    const id = randomUUID();
    const shown = {
      TARGET: device.address, CORRELATOR: id, NOTIFICATION_ENDPOINT: body.sink,
      NOTIFICATION_EXPIRES_AT: new Date(expiresAtMs).toISOString(), DURATION: String(expiresAtMs - now),
    };
    if (cfg.subscriptionMaxEvents !== undefined) shown['NOTIFICATION LIMIT'] = String(cfg.subscriptionMaxEvents);
    try {
      await recordOperation(this.sink, 'startNotification', context, () => shown, () =>
        this.policy.run(requester, 'startNotification', [device.address], async (decision) => {
          const spec = {
            requester, correlator: id, endpoint: body.sink, interfaceName: '', globalId: context.globalId,
            addresses: decision.targets.map((t) => t.address), criteria, checkImmediate: cfg.initialEvent === true,
            frequencyMs: 0, createdAtMs: now, expiresAtMs, api: SUBSCRIPTIONS_API, extension: JSON.stringify(ext),
          };
          if (cfg.subscriptionMaxEvents !== undefined) spec.countLimit = cfg.subscriptionMaxEvents;
          let outcome;
          try {
            outcome = await this.core.startNotification(spec);
          } catch (error) {
            if (error && error.code === 'ERR_PX_CLOSED') {
              throw failure('SVC0001', ['service is shutting down'], UsageStatus.FAILED_SERVICE_NOT_RUNNING);
            }
            this.log('error', 'createDeviceReachabilityStatusSubscription failed in the native core', { error: (error && error.stack) || String(error) });
            throw failure('SVC0001', ['the subscription could not be stored'], UsageStatus.FAILED_OPERATION);
          }
          // A random UUID: a duplicate would be a broken random source.
          if (outcome === 'duplicate') throw failure('SVC0001', ['duplicate subscription id'], UsageStatus.FAILED_OPERATION);
        }));
    } catch (error) {
      throw asCamara(error);
    }
    return this.view({ correlator: id, endpoint: body.sink, createdAtMs: now, expiresAtMs, extension: JSON.stringify(ext) });
  }

  /**
   * One notification of the requester, wherever it runs: this instance's, or (clustered,
   * docs/cluster.md) the one stored for the whole service.
   * @returns {Promise<object|null>}
   */
  async findNotification(requester, id) {
    const local = this.core.getNotification(requester, id);
    if (local !== null) return local;
    const stored = this.core.readStoredNotifications(requester, id);
    return stored === null ? null : (await stored)[0] || null;
  }

  /**
   * The requester's notifications of the whole service (clustered: every instance's).
   * @returns {Promise<object[]>}
   */
  async notificationsOf(requester) {
    const stored = this.core.readStoredNotifications(requester);
    if (stored !== null) return stored;
    return this.core.listNotifications().filter((n) => n.requester === requester);
  }

  /**
   * GET /subscriptions/{id}: the requester's own subscription only. Recorded as getNotification
   * (CORRELATOR the id, TARGET the device's address when found); an unknown id is STATUSCODE
   * INVALID with SVC0002, as DELETE's.
   * @param {string} id
   * @param {{ requester: string, globalId: string }} context
   * @returns {Promise<object>} the contract's Subscription
   * @throws {CamaraError} 404 NOT_FOUND
   */
  async get(id, context) {
    let found = null;
    let unknown = false;
    const details = () => ({
      CORRELATOR: id, TARGET: found === null ? undefined : found.addresses.map((a) => a.address).join(','),
    });
    try {
      await recordOperation(this.sink, 'getNotification', context, details, async () => {
        const state = await this.findNotification(context.requester, id);
        if (state === null || state.api !== SUBSCRIPTIONS_API) {
          unknown = true;
          throw failure('SVC0002', ['subscriptionId'], UsageStatus.INVALID);
        }
        found = state;
      });
    } catch (error) {
      if (unknown && isUnknownFault(error)) throw notFound();
      throw asCamara(error);
    }
    return this.view(found);
  }

  /**
   * GET /subscriptions: the requester's active subscriptions, oldest first. Recorded as
   * listNotifications (NOTIFICATION_COUNT the number answered).
   * @param {{ requester: string, globalId: string }} context
   * @returns {Promise<object[]>}
   */
  async list(context) {
    let subscriptions;
    const details = () => ({ NOTIFICATION_COUNT: subscriptions === undefined ? '' : String(subscriptions.length) });
    try {
      await recordOperation(this.sink, 'listNotifications', context, details, async () => {
        subscriptions = (await this.notificationsOf(context.requester))
          .filter((n) => n.api === SUBSCRIPTIONS_API)
          .sort((a, b) => a.createdAtMs - b.createdAtMs);
      });
    } catch (error) {
      throw asCamara(error);
    }
    return subscriptions.map((n) => this.view(n));
  }

  /**
   * DELETE /subscriptions/{id}: ends it; the engine sends subscription-ends
   * (SUBSCRIPTION_DELETED) to its sink.
   * @param {string} id
   * @param {{ requester: string, globalId: string }} context
   * @returns {Promise<void>}
   * @throws {CamaraError} 404 NOT_FOUND
   */
  async remove(id, context) {
    const requester = context.requester;
    let unknown = false;
    try {
      await recordOperation(this.sink, 'endNotification', context, () => ({ CORRELATOR: id }), () =>
        this.policy.run(requester, 'endNotification', [], async () => {
          let ended;
          try {
            ended = await this.core.endNotification(requester, id, SUBSCRIPTIONS_API);
          } catch (error) {
            if (error && error.code === 'ERR_PX_CLOSED') {
              throw failure('SVC0001', ['service is shutting down'], UsageStatus.FAILED_SERVICE_NOT_RUNNING);
            }
            throw error;
          }
          if (!ended) {
            unknown = true;
            throw failure('SVC0002', ['subscriptionId'], UsageStatus.INVALID);
          }
        }));
    } catch (error) {
      if (unknown && isUnknownFault(error)) throw notFound();
      throw asCamara(error);
    }
  }

  /** A stored notification as the contract's Subscription. */
  view(n) {
    const ext = JSON.parse(n.extension);
    const subscription = {
      id: n.correlator,
      protocol: ext.protocol,
      sink: n.endpoint,
      types: ext.types,
      config: ext.config,
      startsAt: new Date(n.createdAtMs).toISOString(),
      expiresAt: new Date(n.expiresAtMs).toISOString(),
      status: 'ACTIVE',
    };
    return subscription;
  }
}

module.exports = {
  ReachabilitySubscriptionService, SUBSCRIPTIONS_API, SUBSCRIPTIONS_BASE, EVENT_TYPES, statusesOf, createScopesFor,
};
