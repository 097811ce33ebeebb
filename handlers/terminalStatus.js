'use strict';
// SOAP endpoint of the Parlay X TerminalStatus interface, as a serverless-style function:
// (event) => response. SOAP 1.1 document/literal wrapped, SOAPAction "", routed by the body
// element; any terminal_status version namespace is accepted and answered in kind.
const { escapeText } = require('../js/soap/xml');
const { toServiceError } = require('../js/parlayx/faults');
const { createSoapHandler, childTexts } = require('./soapEndpoint');

const LOCAL_NS = /^http:\/\/www\.csapi\.org\/schema\/parlayx\/terminal_status\/v(\d+)_\d+\/local$/;

function statusDataXml(entry, commonNs) {
  let xml = `<ns:result><address>${escapeText(entry.address)}</address><reportStatus>${entry.reportStatus}</reportStatus>`;
  if (entry.currentStatus) xml += `<currentStatus>${entry.currentStatus}</currentStatus>`;
  if (entry.errorInformation) {
    xml += `<errorInformation>${toServiceError(entry.errorInformation, { commonNs })}</errorInformation>`;
  }
  return `${xml}</ns:result>`;
}

const operations = {
  async getStatus(service, wrapper, commonNs, context) {
    const addresses = childTexts(wrapper, 'address');
    // A missing or repeated address is recorded and answered like any invalid address.
    const status = await service.getStatus(addresses.length === 1 ? addresses[0] : '', context);
    return `<ns:result>${status}</ns:result>`;
  },
  async getStatusForGroup(service, wrapper, commonNs, context) {
    const entries = await service.getStatusForGroup(childTexts(wrapper, 'addresses'), context);
    return entries.map((entry) => statusDataXml(entry, commonNs)).join('');
  },
};

/**
 * Creates the TerminalStatus SOAP handler.
 * @param {{ service: import('../js/terminalStatus').TerminalStatusService,
 *           maxBodyBytes: number, log?: (level: string, msg: string, extra?: object) => void,
 *           authenticator?: any, onAuthFailure?: Function }} options (see handlers/soapEndpoint.js)
 * @returns {(event: import('./http').HttpEvent) => Promise<import('./http').HttpResponse>}
 */
function createTerminalStatusHandler({ service, maxBodyBytes, log, authenticator, onAuthFailure }) {
  return createSoapHandler({ localNs: LOCAL_NS, operations, service, maxBodyBytes, log, authenticator, onAuthFailure });
}

module.exports = { createTerminalStatusHandler };
