'use strict';
// SOAP endpoint of the Parlay X TerminalStatus interface, as a serverless-style function:
// (event) => response. SOAP 1.1 document/literal wrapped, SOAPAction "", routed by the body
// element; any terminal_status version namespace is accepted and answered in kind.
const { parseEnvelope, SoapFaultError } = require('../js/soap/envelope');
const { responseEnvelope, faultEnvelope } = require('../js/soap/response');
const { escapeText } = require('../js/soap/xml');
const { ParlayxFault, toSoapFault, toServiceError } = require('../js/parlayx/faults');
const { randomUUID } = require('node:crypto');
const { eventBody, xmlResponse } = require('./http');

const LOCAL_NS = /^http:\/\/www\.csapi\.org\/schema\/parlayx\/terminal_status\/v(\d+)_\d+\/local$/;

/** Common types namespace matching the request's Parlay X generation (2.x or 3.x). */
function commonNsFor(major) {
  return major >= 3
    ? 'http://www.csapi.org/schema/parlayx/common/v3_1'
    : 'http://www.csapi.org/schema/parlayx/common/v2_1';
}

/** Direct children of the wrapper with a local name, qualified in the wrapper's ns or unqualified. */
function childTexts(wrapper, name) {
  const values = [];
  for (const child of wrapper.children) {
    if (child.name === name && (child.ns === wrapper.ns || child.ns === '')) {
      values.push(child.text.trim()); // xsd:anyURI collapses whitespace
    }
  }
  return values;
}

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
 *           maxBodyBytes: number, log?: (level: string, msg: string, extra?: object) => void }} options
 * @returns {(event: import('./http').HttpEvent) => Promise<import('./http').HttpResponse>}
 */
function createTerminalStatusHandler({ service, maxBodyBytes, log = () => {} }) {
  return async function terminalStatusHandler(event) {
    const method = (event.httpMethod || event.method || 'GET').toUpperCase();
    if (method !== 'POST') {
      return xmlResponse(405, faultEnvelope({ faultcode: 'Client', faultstring: 'SOAP requests must use POST' }), {
        allow: 'POST',
      });
    }
    const body = eventBody(event);
    if (body.length > maxBodyBytes) {
      return xmlResponse(413, faultEnvelope({ faultcode: 'Client', faultstring: `request body larger than ${maxBodyBytes} bytes` }));
    }
    let wrapper;
    try {
      wrapper = parseEnvelope(body).body;
    } catch (error) {
      if (error instanceof SoapFaultError) {
        return xmlResponse(500, faultEnvelope({ faultcode: error.faultcode, faultstring: error.faultstring }));
      }
      throw error;
    }
    const match = LOCAL_NS.exec(wrapper.ns);
    const operation = match && Object.hasOwn(operations, wrapper.name) ? operations[wrapper.name] : null;
    if (!operation) {
      return xmlResponse(500, faultEnvelope({
        faultcode: 'Client',
        faultstring: `unknown operation {${wrapper.ns}}${wrapper.name}`,
      }));
    }
    const commonNs = commonNsFor(Number(match[1]));
    // GLOBALID of the request's usage records, also returned so that operators can correlate.
    // The requester stays empty until requester authentication exists.
    const context = { globalId: randomUUID(), requester: '' };
    const correlation = { 'x-parlayx-global-id': context.globalId };
    try {
      const resultXml = await operation(service, wrapper, commonNs, context);
      const responseXml = `<ns:${wrapper.name}Response xmlns:ns="${wrapper.ns}">${resultXml}</ns:${wrapper.name}Response>`;
      return xmlResponse(200, responseEnvelope(responseXml), correlation);
    } catch (error) {
      if (error instanceof ParlayxFault) return xmlResponse(500, toSoapFault(error, { commonNs }), correlation);
      log('error', `${wrapper.name} failed`, { error: error.stack || String(error) });
      return xmlResponse(500, faultEnvelope({ faultcode: 'Server', faultstring: 'internal error' }));
    }
  };
}

module.exports = { createTerminalStatusHandler };
