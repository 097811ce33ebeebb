'use strict';
// CAMARA Device Reachability Status Subscriptions v0.7
// (openapi/camara/device-reachability-status-subscriptions.yaml), below camara.basePath:
//   POST   /device-reachability-status-subscriptions/v0.7/subscriptions         201 Subscription
//   GET    /device-reachability-status-subscriptions/v0.7/subscriptions         200 Subscription[]
//   GET    /device-reachability-status-subscriptions/v0.7/subscriptions/{id}    200 Subscription
//   DELETE /device-reachability-status-subscriptions/v0.7/subscriptions/{id}    204
// The skeleton (camaraEndpoint.js) checks correlator, token and body; what the contract's
// discriminators say and Ajv does not select (protocol HTTP, the ACCESSTOKEN credential) is
// checked here against the contract's own subschemas; the service does the rest.
const { createCamaraHandler } = require('./camaraEndpoint');
const { resolveDevice } = require('../js/camara/device');
const { CamaraError } = require('../js/camara/errors');
const { HEADER_VALUE } = require('../js/camara/events');
const { SUBSCRIPTIONS_BASE, createScopesFor } = require('../js/camara/subscriptions');

const SUBSCRIPTIONS_PATH = `${SUBSCRIPTIONS_BASE}/subscriptions`;
const SUBSCRIPTION_PATH = `${SUBSCRIPTIONS_BASE}/subscriptions/{subscriptionId}`;

/** The checks of a create body beyond its schema (the contract's 400 codes for them). */
function checkCreateBody(validator, body) {
  if (body.protocol !== 'HTTP') throw new CamaraError('INVALID_PROTOCOL');
  validator.validateComponent('HTTPSubscriptionRequest', body);
  const credential = body.sinkCredential;
  if (credential !== undefined) {
    if (credential.credentialType !== 'ACCESSTOKEN') throw new CamaraError('INVALID_CREDENTIAL');
    if (credential.accessTokenType !== undefined && credential.accessTokenType !== 'bearer') throw new CamaraError('INVALID_TOKEN');
    validator.validateComponent('AccessTokenCredential', credential, '/sinkCredential');
    if (!HEADER_VALUE.test(credential.accessToken)) {
      throw new CamaraError('INVALID_ARGUMENT', 'The sink access token must be visible ASCII characters.');
    }
  }
}

/** The subscriptionId of the path, or 400 (the contract's SubscriptionIdRequired400). */
function subscriptionIdOf(context) {
  const id = context.pathParameters.subscriptionId;
  if (typeof id !== 'string' || id === '') throw new CamaraError('INVALID_ARGUMENT', 'Expected property is missing: subscriptionId');
  return id;
}

/**
 * The handlers of the API, by path template and method (the router dispatches on both).
 * @param {{ front: import('../js/camara').CamaraApiFront,
 *           service: import('../js/camara/subscriptions').ReachabilitySubscriptionService,
 *           maxBodyBytes: number, log?: Function, onAuthFailure?: Function }} options
 * @returns {Record<string, Record<string, (event: import('./http').HttpEvent) => Promise<import('./http').HttpResponse>>>}
 */
function createSubscriptionHandlers(options) {
  const listAllow = ['POST', 'GET'];
  const oneAllow = ['GET', 'DELETE'];
  return {
    [SUBSCRIPTIONS_PATH]: {
      POST: createCamaraHandler({
        ...options,
        operationId: 'createDeviceReachabilityStatusSubscription',
        method: 'POST',
        allow: listAllow,
        status: 201,
        bodyScopes: (body, scopes) => createScopesFor(scopes, body.types[0]),
        operation: (service, body, context) => {
          checkCreateBody(options.front.validator, body);
          const detail = body.config.subscriptionDetail;
          const device = resolveDevice(detail.device, context.identity.phoneNumber);
          return service.create(body, device, context);
        },
      }),
      GET: createCamaraHandler({
        ...options,
        operationId: 'retrieveDeviceReachabilityStatusSubscriptionList',
        method: 'GET',
        allow: listAllow,
        operation: async (service, body, context) => service.list(context),
      }),
    },
    [SUBSCRIPTION_PATH]: {
      GET: createCamaraHandler({
        ...options,
        operationId: 'retrieveDeviceReachabilityStatusSubscription',
        method: 'GET',
        allow: oneAllow,
        operation: async (service, body, context) => service.get(subscriptionIdOf(context), context),
      }),
      DELETE: createCamaraHandler({
        ...options,
        operationId: 'deleteDeviceReachabilityStatusSubscription',
        method: 'DELETE',
        allow: oneAllow,
        status: 204,
        operation: (service, body, context) => service.remove(subscriptionIdOf(context), context),
      }),
    },
  };
}

module.exports = { createSubscriptionHandlers, SUBSCRIPTIONS_PATH, SUBSCRIPTION_PATH };
