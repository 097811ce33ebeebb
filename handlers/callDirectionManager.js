'use strict';
// SOAP endpoint of the Parlay X CallDirectionManager interface (startCallDirectionNotification,
// stopCallDirectionNotification), in any call_direction manager version namespace, answered in
// kind (see callNotificationManager.js for why the namespace travels in the request).
const { CALL_DIRECTION_MANAGER } = require('../js/soap/requests');
const { createSoapHandler } = require('./soapEndpoint');

/** Operation -> the service call, with the typed request of js/soap/requests.js. */
const operations = {
  startCallDirectionNotification: (service, request, context) => service.startCallDirectionNotification(request, context),
  stopCallDirectionNotification: (service, request, context) => service.stopCallDirectionNotification(request, context),
};

/**
 * Creates the CallDirectionManager SOAP handler.
 * @param {{ service: import('../js/calls/callDirection').CallDirectionService,
 *           maxBodyBytes: number, log?: (level: string, msg: string, extra?: object) => void,
 *           authenticator?: any, onAuthFailure?: Function }} options (see handlers/soapEndpoint.js)
 * @returns {(event: import('./http').HttpEvent) => Promise<import('./http').HttpResponse>}
 */
function createCallDirectionManagerHandler({ service, maxBodyBytes, log, authenticator, onAuthFailure }) {
  return createSoapHandler({
    soapInterface: CALL_DIRECTION_MANAGER, operations, service, maxBodyBytes, log, authenticator, onAuthFailure,
  });
}

module.exports = { createCallDirectionManagerHandler };
