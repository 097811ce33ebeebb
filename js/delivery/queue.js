'use strict';
// What the delivery queue is made of: a Job (one delivery and what each attempt needs), a Channel
// (the deliveries of one notification, in order), an Origin (one endpoint origin's connections and
// the channels waiting for them), and the check that a delivery from the core is well formed.

const { KeepAlivePool } = require('../http1Client');
const { fillTemplate } = require('../parlayx/faults');

/** A delivery with what every attempt needs, computed once. */
class Job {
  /**
   * @param {import('./index').Delivery} delivery
   * @param {string} [service] the SERVICE attribute of its records: the service of the
   *   notification's API (a CAMARA subscription's camara.serviceName); absent for Parlay X
   */
  constructor(delivery, service) {
    this.delivery = delivery;
    this.service = service;
    this.attempts = 0;
    this.request = null; // the whole HTTP request, built when first scheduled (NotificationDelivery.prepare)
    this.target = null; // see NotificationDelivery.targetOf
    this.attemptedType = `${delivery.kind}_DeliveryAttempted`;
    this.resultType = `${delivery.kind}_DeliveryResult`;
  }

  /** Attributes of the DeliveryAttempted record, with SERVICE when the job has one. */
  attemptedAttributes(appCorrelationId) {
    const attributes = this.ownAttemptedAttributes(appCorrelationId);
    if (this.service !== undefined) attributes.SERVICE = this.service;
    return attributes;
  }

  /**
   * Attributes of a DeliveryResult record (FAILURE_REASON and FAILURE_DETAIL empty when
   * delivered), with SERVICE when the job has one.
   */
  resultAttributes(failureReason, failureDetail, appCorrelationId) {
    const attributes = { FAILURE_REASON: failureReason, FAILURE_DETAIL: failureDetail, APP_CORRELATION_ID: appCorrelationId };
    if (this.service !== undefined) attributes.SERVICE = this.service;
    return attributes;
  }

  /** The DeliveryAttempted attributes of the delivery's kind (seeds/004 tables 7, 9, 11). */
  ownAttemptedAttributes(appCorrelationId) {
    const d = this.delivery;
    switch (d.kind) {
      case 'statusNotification': {
        let targets = '';
        let statuses = '';
        for (let i = 0; i < d.statuses.length; i++) {
          if (i > 0) {
            targets += ',';
            statuses += ',';
          }
          targets += d.statuses[i].address;
          statuses += d.statuses[i].status;
        }
        return { CORRELATOR: d.correlator, TARGETS: targets, DELIVERY_STATUS: statuses, APP_CORRELATION_ID: appCorrelationId };
      }
      case 'statusError':
        return {
          CORRELATOR: d.correlator,
          TARGET: d.address || '',
          MESSAGE_ID: d.error.messageId,
          REASON: fillTemplate(d.error.text, d.error.variables || []),
          APP_CORRELATION_ID: appCorrelationId,
        };
      default:
        // statusEnd, and the call notifications (notify*: one called party each).
        return d.call === undefined
          ? { CORRELATOR: d.correlator, APP_CORRELATION_ID: appCorrelationId }
          : { CORRELATOR: d.correlator, CALLED_PARTY: d.call.called, APP_CORRELATION_ID: appCorrelationId };
    }
  }
}

/** The deliveries of one notification, sent one at a time in order. */
class Channel {
  constructor(key) {
    this.key = key;
    this.jobs = [];
    this.head = 0;
    this.busy = false; // a job of this channel is waiting for a slot, in flight or waiting to retry
    this.attempt = null; // the attempt in flight
    this.retryTimer = null;
  }

  get current() {
    return this.jobs[this.head];
  }

  get size() {
    return this.jobs.length - this.head;
  }

  shift() {
    this.jobs[this.head++] = undefined;
    if (this.head === this.jobs.length) {
      this.jobs.length = 0;
      this.head = 0;
    } else if (this.head >= 64 && this.head * 2 >= this.jobs.length) {
      this.jobs = this.jobs.slice(this.head);
      this.head = 0;
    }
  }
}

/** One endpoint origin: its connections, and the channels waiting for one of them. */
class Origin {
  constructor(url, maxSockets, destinations, budget) {
    this.pool = new KeepAlivePool(url, { destinations, budget });
    this.maxSockets = maxSockets;
    this.inFlight = 0;
    this.waiting = [];
    this.waitingHead = 0;
  }

  push(channel) {
    this.waiting.push(channel);
  }

  pop() {
    if (this.waitingHead === this.waiting.length) return undefined;
    const channel = this.waiting[this.waitingHead];
    this.waiting[this.waitingHead++] = undefined;
    if (this.waitingHead === this.waiting.length) {
      this.waiting.length = 0;
      this.waitingHead = 0;
    } else if (this.waitingHead >= 1024 && this.waitingHead * 2 >= this.waiting.length) {
      this.waiting = this.waiting.slice(this.waitingHead);
      this.waitingHead = 0;
    }
    return channel;
  }
}

function channelKey(requester, correlator) {
  // Length-prefixed: no separator character can make two pairs collide.
  return `${requester.length}:${requester}${correlator}`;
}

const KINDS = new Set(['statusNotification', 'statusError', 'statusEnd']);
/** Call notifications (js/calls/callDeliveries.js): the kind is the CallNotification operation. */
const CALL_KINDS = new Set(['notifyBusy', 'notifyNotReachable', 'notifyNoAnswer', 'notifyCalledNumber', 'notifyCallEvent']);

function isCallDelivery(d) {
  return d !== null && typeof d === 'object' && CALL_KINDS.has(d.kind);
}

/**
 * The channel of a delivery: a call registration's correlator is its own namespace, apart from
 * the Terminal Status notifications of the same requester (the prefix cannot start a
 * channelKey, which starts with a digit).
 */
function deliveryChannelKey(d) {
  const key = channelKey(d.requester || '', d.correlator);
  return isCallDelivery(d) ? `call:${key}` : key;
}

/** What enqueue() relies on; the core builds deliveries, but nothing from outside may crash here. */
function isDelivery(d) {
  if (isCallDelivery(d)) {
    const call = d.call;
    return typeof d.correlator === 'string' && typeof d.endpoint === 'string' && typeof d.globalId === 'string'
      && (d.requester === undefined || typeof d.requester === 'string')
      && call !== null && typeof call === 'object' && typeof call.event === 'string'
      && typeof call.caller === 'string' && typeof call.called === 'string';
  }
  if (d === null || typeof d !== 'object' || !KINDS.has(d.kind)) return false;
  if (typeof d.correlator !== 'string' || typeof d.endpoint !== 'string' || typeof d.globalId !== 'string') return false;
  if (d.requester !== undefined && typeof d.requester !== 'string') return false;
  if (d.kind === 'statusNotification') {
    return Array.isArray(d.statuses) && d.statuses.every((e) => e && typeof e.address === 'string' && typeof e.status === 'string');
  }
  if (d.kind === 'statusError') return d.error !== null && typeof d.error === 'object' && typeof d.error.messageId === 'string';
  return true;
}

function safeJson(value) {
  try {
    return JSON.stringify(value).slice(0, 500);
  } catch {
    return String(value);
  }
}

module.exports = { Job, Channel, Origin, channelKey, deliveryChannelKey, isDelivery, isCallDelivery, safeJson };
