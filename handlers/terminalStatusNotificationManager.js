'use strict';
// SOAP endpoint of the Parlay X TerminalStatusNotificationManager interface (startNotification,
// endNotification), as a serverless-style function: (event) => response. Any
// terminal_status/notification_manager version namespace is accepted and answered in kind
// (js/soap/requests.js NOTIFICATION_MANAGER reads the requests, js/soap/builder.js writes the
// answers).
const { NOTIFICATION_MANAGER } = require('../js/soap/requests');
const { createSoapHandler } = require('./soapEndpoint');

/** Operation -> the service call, with the typed request of js/soap/requests.js. */
const operations = {
  startNotification: (service, request, context) => service.startNotification(request, context),
  endNotification: (service, request, context) => service.endNotification(request.correlator, context),
};

/**
 * Creates the TerminalStatusNotificationManager SOAP handler.
 * @param {{ service: import('../js/notifications').TerminalStatusNotificationService,
 *           maxBodyBytes: number, log?: (level: string, msg: string, extra?: object) => void,
 *           authenticator?: any, onAuthFailure?: Function }} options (see handlers/soapEndpoint.js)
 * @returns {(event: import('./http').HttpEvent) => Promise<import('./http').HttpResponse>}
 */
function createNotificationManagerHandler({ service, maxBodyBytes, log, authenticator, onAuthFailure }) {
  return createSoapHandler({
    soapInterface: NOTIFICATION_MANAGER, operations, service, maxBodyBytes, log, authenticator, onAuthFailure,
  });
}

module.exports = { createNotificationManagerHandler };
