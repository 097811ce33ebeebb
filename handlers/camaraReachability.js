'use strict';
// CAMARA Device Reachability Status v1 (openapi/camara/device-reachability-status.yaml):
// POST <camara.basePath>/device-reachability-status/v1/retrieve. The device (the body's, or the
// one the token names) becomes a terminal address, whose reachability the service answers.
const { createCamaraHandler } = require('./camaraEndpoint');
const { resolveDevice } = require('../js/camara/device');

/** Path of retrieve below camara.basePath (the contract's server URL + path). */
const REACHABILITY_RETRIEVE_PATH = '/device-reachability-status/v1/retrieve';

/**
 * @param {{ front: import('../js/camara').CamaraApiFront,
 *           service: import('../js/camara/reachability').ReachabilityService,
 *           maxBodyBytes: number, log?: Function, onAuthFailure?: Function }} options
 * @returns {(event: import('./http').HttpEvent) => Promise<import('./http').HttpResponse>}
 */
function createReachabilityRetrieveHandler(options) {
  return createCamaraHandler({
    ...options,
    operationId: 'getReachabilityStatus',
    operation: (service, body, context) => {
      const { address } = resolveDevice(body.device, context.identity.phoneNumber);
      return service.retrieve(address, { requester: context.requester, globalId: context.globalId });
    },
  });
}

module.exports = { createReachabilityRetrieveHandler, REACHABILITY_RETRIEVE_PATH };
