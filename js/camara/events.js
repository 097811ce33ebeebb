'use strict';
// The deliveries of CAMARA reachability subscriptions (js/camara/subscriptions.js) as CloudEvents
// 1.0 in structured JSON mode (the contract's callback: POST {sink} with
// application/cloudevents+json), for js/delivery/: the engine decided the delivery, this only
// writes it. A plain JSON object rather than the `cloudevents` SDK: the event is six attributes
// and a data object, the SDK would add a dependency (and its own validation of what the contract
// already fixes) for no behaviour the gateway needs.
//
//   statusNotification -> the subscribed type (the engine reports only entering its state)
//   statusEnd          -> subscription-ends, terminationReason from the engine's end reason:
//                         expired -> SUBSCRIPTION_EXPIRED (ACCESS_TOKEN_EXPIRED when the sink
//                         token's expiry was the earlier), countReached -> MAX_EVENTS_REACHED,
//                         deleted -> SUBSCRIPTION_DELETED, terminated -> NETWORK_TERMINATED
// The event id is "<sequence>-<subscriptionId>": unique per subscription and the same when an
// outbox delivery is sent again after a restart (a sink can drop duplicates by it).
const { EVENT_TYPES } = require('./subscriptions');

const TERMINATION = Object.freeze({
  expired: ['SUBSCRIPTION_EXPIRED', 'Subscription expiry time has been reached'],
  countReached: ['MAX_EVENTS_REACHED', 'Maximum number of events has been reached'],
  deleted: ['SUBSCRIPTION_DELETED', 'Subscription was deleted by the requester'],
  terminated: ['NETWORK_TERMINATED', 'The network ended the subscription'],
});
const CORRELATOR = /^[a-zA-Z0-9-]{0,55}$/;
/** Visible ASCII only: what may follow "Bearer " in a request head. */
const HEADER_VALUE = /^[\x21-\x7e]{1,4096}$/;

/**
 * The renderer of the subscriptions' deliveries.
 * @param {{ source: string }} options source: the CloudEvents source of every event (the API's
 *   apiRoot path, e.g. "/device-reachability-status-subscriptions/v0.7")
 * @returns {(delivery: import('../delivery').Delivery) => { body: string, headers: Record<string, string> }}
 * @throws {Error} for a delivery this API does not send (the caller drops it as malformed)
 */
function createEventRenderer({ source }) {
  return function render(d) {
    const ext = JSON.parse(d.extension);
    const data = {};
    if (ext.device !== undefined) data.device = ext.device;
    data.subscriptionId = d.correlator;
    let type;
    if (d.kind === 'statusNotification') {
      type = ext.types[0];
    } else if (d.kind === 'statusEnd') {
      type = EVENT_TYPES.ends;
      const [reason, description] = TERMINATION[d.endReason] || TERMINATION.terminated;
      data.terminationReason = d.endReason === 'expired' && ext.expiryReason ? ext.expiryReason : reason;
      data.terminationDescription = d.text ? `${description}: ${d.text}` : description;
    } else {
      throw new Error(`a ${d.kind} is not a CAMARA event`);
    }
    const id = `${d.sequence}-${d.correlator}`;
    const event = {
      id,
      source,
      type,
      specversion: '1.0',
      datacontenttype: 'application/json',
      time: new Date(d.atMs > 0 ? d.atMs : Date.now()).toISOString(),
      data,
    };
    const headers = { 'Content-Type': 'application/cloudevents+json' };
    if (CORRELATOR.test(id)) headers['x-correlator'] = id;
    const credential = ext.sinkCredential;
    if (credential && credential.credentialType === 'ACCESSTOKEN') {
      // Checked at create; checked again here because it goes into a raw request head.
      if (!HEADER_VALUE.test(credential.accessToken)) throw new Error('the sink access token is not a header value');
      headers.Authorization = `Bearer ${credential.accessToken}`;
    }
    return { body: JSON.stringify(event), headers };
  };
}

module.exports = { createEventRenderer, TERMINATION, HEADER_VALUE };
