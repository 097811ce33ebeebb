'use strict';
// SOAP endpoint of the Parlay X TerminalStatus interface, as a serverless-style function:
// (event) => response. SOAP 1.1 document/literal wrapped, SOAPAction "", routed by the body
// element; any terminal_status version namespace is accepted and answered in kind
// (js/soap/requests.js TERMINAL_STATUS reads the requests, js/soap/builder.js writes the answers).
const { TERMINAL_STATUS } = require('../js/soap/requests');
const { createSoapHandler } = require('./soapEndpoint');

/** Operation -> the service call, with the typed request of js/soap/requests.js. */
const operations = {
  getStatus: (service, request, context) => service.getStatus(request.address, context),
  getStatusForGroup: (service, request, context) => service.getStatusForGroup(request.addresses, context),
};

/**
 * Creates the TerminalStatus SOAP handler.
 * @param {{ service: import('../js/terminalStatus').TerminalStatusService,
 *           maxBodyBytes: number, log?: (level: string, msg: string, extra?: object) => void,
 *           authenticator?: any, onAuthFailure?: Function }} options (see handlers/soapEndpoint.js)
 * @returns {(event: import('./http').HttpEvent) => Promise<import('./http').HttpResponse>}
 */
function createTerminalStatusHandler({ service, maxBodyBytes, log, authenticator, onAuthFailure }) {
  return createSoapHandler({
    soapInterface: TERMINAL_STATUS, operations, service, maxBodyBytes, log, authenticator, onAuthFailure,
  });
}

module.exports = { createTerminalStatusHandler };
