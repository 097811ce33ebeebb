'use strict';
// Hands the core's CallNotificationDue batches to the delivery scheduler (js/delivery/: ordered
// per registration, retries, connection limits, the <op>_DeliveryAttempted/_DeliveryResult
// records) and writes the call notification records of seeds/001 table 2: CALL_NOTIFICATION
// 'Sending' (CODE 0) when a notification is handed over, and 'Error' (CODE 1) when it will never
// be delivered. Answer and Disconnected go as notifyCallEvent (3.x registrations only: the core
// never matches a 2.x registration for them, and one that slipped through is dropped here).
const { randomUUID } = require('node:crypto');
const { UsageStatus } = require('../usage');

/** The SOAP builder, required at the first call notification, not at load (start-up, issue 15). */
let soapBuilder = null;

/** 'notifyBusy' -> 'NotifyBusy' (NETWORK_EVENT). */
function networkEvent(operation) {
  return operation[0].toUpperCase() + operation.slice(1);
}

class CallDeliveries {
  /**
   * @param {{ delivery: import('../delivery').NotificationDelivery,
   *           log?: Function }} options
   */
  constructor({ delivery, log = () => {} }) {
    this.delivery = delivery;
    this.log = log;
    // The delivery engine's records, shared: a call's Sending record and its delivery's attempt and
    // result records are gathered into the same record() call and durable commit.
    this.records = delivery.records;
    this.counters = { handed: 0, failed: 0, skipped: 0 };
  }

  /**
   * Takes the core's notifications of one batch, in order; returns at once.
   * @param {Array<import('../../index').CallNotificationDue>} notifications
   */
  enqueue(notifications) {
    soapBuilder ??= require('../soap/builder');
    const { notifyOperation, isParlayX2 } = soapBuilder;
    const deliveries = [];
    for (const due of notifications) {
      const operation = due && typeof due === 'object' ? notifyOperation(due.event) : undefined;
      if (operation === undefined || (operation === 'notifyCallEvent' && isParlayX2(due.ns))
        || typeof due.correlator !== 'string' || typeof due.endpoint !== 'string') {
        this.counters.skipped++;
        this.log('error', 'call notification skipped: not deliverable', { event: due && due.event, correlator: due && due.correlator });
        continue;
      }
      // One GLOBALID per notification: its Sending/Error records and its delivery attempts.
      const delivery = {
        kind: operation, requester: due.requester || '', correlator: due.correlator, endpoint: due.endpoint,
        globalId: randomUUID(), sequence: -1, call: due,
      };
      this.record(delivery, 'Sending');
      deliveries.push(delivery);
    }
    this.counters.handed += deliveries.length;
    if (deliveries.length > 0) this.delivery.enqueue(deliveries);
  }

  /** NotificationDelivery's onGivenUp for a call notification: the 'Error' record. */
  failed(delivery) {
    this.counters.failed++;
    this.record(delivery, 'Error');
  }

  record(delivery, state) {
    const call = delivery.call;
    this.records.add(delivery.globalId, delivery.kind, state === 'Sending' ? UsageStatus.VALID : UsageStatus.FAILED_OPERATION, {
      CODE: state === 'Sending' ? '0' : '1',
      CALL_NOTIFICATION: state,
      CORRELATOR: delivery.correlator,
      CALLER: call.caller || '',
      CALLED_PARTY: call.called,
      NETWORK_EVENT: networkEvent(delivery.kind),
    });
  }

  /** Resolves once the records written so far were accepted by the usage log. */
  written() {
    return this.records.written();
  }
}

module.exports = { CallDeliveries };
