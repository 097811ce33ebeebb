'use strict';
// SOAP endpoint of the Parlay X CallNotificationManager interface (startCallNotification,
// stopCallNotification). Any call_notification/notification_manager version namespace is
// accepted and answered in kind; the namespace also travels in the typed request, because it
// decides the events allowed (2.x: no Answer/Disconnected) and the callbacks' namespace.
const { CALL_NOTIFICATION_MANAGER } = require('../js/soap/requests');
const { createSoapHandler } = require('./soapEndpoint');

/** Operation -> the service call, with the typed request of js/soap/requests.js. */
const operations = {
  startCallNotification: (service, request, context) => service.startCallNotification(request, context),
  stopCallNotification: (service, request, context) => service.stopCallNotification(request, context),
};

/**
 * Creates the CallNotificationManager SOAP handler.
 * @param {{ service: import('../js/calls/callNotifications').CallNotificationService,
 *           maxBodyBytes: number, log?: (level: string, msg: string, extra?: object) => void,
 *           authenticator?: any, onAuthFailure?: Function }} options (see handlers/soapEndpoint.js)
 * @returns {(event: import('./http').HttpEvent) => Promise<import('./http').HttpResponse>}
 */
function createCallNotificationManagerHandler({ service, maxBodyBytes, log, authenticator, onAuthFailure }) {
  return createSoapHandler({
    soapInterface: CALL_NOTIFICATION_MANAGER, operations, service, maxBodyBytes, log, authenticator, onAuthFailure,
  });
}

module.exports = { createCallNotificationManagerHandler };
