'use strict';
// A real HTTP application endpoint for notification tests: the application's
// TerminalStatusNotification service. It parses every SOAP request it gets (statusNotification,
// statusError, statusEnd) and keeps it with its arrival time; it can be started on a port chosen
// in advance and stopped and started again, so that tests can make it unreachable for a while.
// It also serves as the CallNotification / CallDirection application: notify* and handle* are
// decoded (calling/called participant, event), and `answer` can make handle* return an Action
// (and answer late).
const http = require('node:http');
const { parseEnvelope } = require('../../js/soap/envelope');
const { NOTIFICATION_NS } = require('../../js/soap/builder');

function child(element, name) {
  return element.children.find((c) => c.name === name);
}

function children(element, name) {
  return element.children.filter((c) => c.name === name);
}

/**
 * What the application received, decoded from the SOAP body.
 * @param {any} wrapper the Body's first child (js/soap/envelope.js parseEnvelope)
 * @returns {{ kind: string, namespace: string, correlator: string|undefined,
 *   statuses: Array<{address: string, status: string}>, address: string|undefined,
 *   error: {messageId: string, text: string, variables: string[]}|undefined }}
 */
function decode(wrapper) {
  const correlator = child(wrapper, 'correlator');
  // Call Notification / Direction: 3.x names first, then 2.x (callingPartyAddress ...).
  const text = (...names) => {
    const found = names.map((n) => child(wrapper, n)).find(Boolean);
    return found && found.text;
  };
  const eventNotified = child(wrapper, 'eventNotified');
  const callEvent = eventNotified && child(eventNotified, 'callEvent');
  const address = child(wrapper, 'address');
  const reason = child(wrapper, 'reason');
  return {
    kind: wrapper.name,
    namespace: wrapper.ns,
    correlator: correlator && correlator.text,
    statuses: children(wrapper, 'terminalStatus').map((s) => ({
      address: child(s, 'address').text,
      status: child(s, 'currentStatus').text,
    })),
    address: address && address.text,
    error: reason && {
      messageId: child(reason, 'messageId').text,
      text: child(reason, 'text').text,
      variables: children(reason, 'variables').map((v) => v.text),
    },
    calling: text('callingParticipant', 'callingPartyAddress', 'callingParty'),
    called: text('calledParticipant', 'calledPartyAddress', 'calledParty'),
    callSessionIdentifier: text('callSessionIdentifier'),
    callEvent: callEvent && callEvent.text,
  };
}

function escapeXml(value) {
  return String(value).replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The <result> of a handle* response carrying `action` ({ action, routingAddress? }). */
function actionResult({ action, routingAddress }) {
  return `<result><actionToPerform>${escapeXml(action)}</actionToPerform>`
    + `${routingAddress ? `<routingAddress>${escapeXml(routingAddress)}</routingAddress>` : ''}</result>`;
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Starts an application endpoint on 127.0.0.1 that answers every request with 200 and an empty
 * <kind>Response (in the request's namespace for the call services, whose operations are not
 * statusNotification, statusError or statusEnd).
 * @param {{ listening?: boolean, answer?: (entry: object) => ({ action?: object, delayMs?: number }
 *   |undefined) }} [options] listening false: only reserve a port (connections to it are refused
 *   until start()); answer: for each request, an Action to put in the response's <result>
 *   (handle*: { action: 'Route'|'Continue'|'EndCall', routingAddress? }) and how long to wait
 *   before answering
 * @returns {Promise<{ url: string, port: number, received: object[], start: () => Promise<void>,
 *   stop: () => Promise<void>, of: (correlator: string) => object[],
 *   waitFor: (correlator: string, count: number, timeoutMs?: number) => Promise<object[]>,
 *   close: () => Promise<void> }>} received: { kind, correlator, statuses, address, error, at
 *   (Date.now() on arrival), raw }
 */
const TERMINAL_STATUS_KINDS = new Set(['statusNotification', 'statusError', 'statusEnd', 'unparseable']);

async function startAppEndpoint({ listening = true, answer } = {}) {
  const received = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const at = Date.now();
      const raw = Buffer.concat(chunks);
      let entry;
      try {
        entry = { ...decode(parseEnvelope(raw).body), at, raw: raw.toString('utf8'), path: req.url };
      } catch (error) {
        entry = { kind: 'unparseable', error: String(error), at, raw: raw.toString('utf8'), path: req.url };
      }
      received.push(entry);
      const { action, delayMs = 0 } = (answer && answer(entry)) || {};
      const ns = TERMINAL_STATUS_KINDS.has(entry.kind) ? NOTIFICATION_NS : entry.namespace;
      const body = action ? `<ns:${entry.kind}Response xmlns:ns="${ns}">${actionResult(action)}</ns:${entry.kind}Response>`
        : `<ns:${entry.kind}Response xmlns:ns="${ns}"/>`;
      const reply = () => {
        if (res.destroyed) return;
        res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8' });
        res.end('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
          + `${body}</soapenv:Body></soapenv:Envelope>`);
      };
      if (delayMs > 0) setTimeout(reply, delayMs);
      else reply();
    });
  });
  // Reserve a port: listen once, note it, and close again when the endpoint must start down.
  await listen(server, 0);
  const port = server.address().port;
  let up = true;
  const stop = async () => {
    if (!up) return;
    up = false;
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
  };
  if (!listening) await stop();

  const of = (correlator) => received.filter((r) => r.correlator === correlator);
  return {
    url: `http://127.0.0.1:${port}/app/TerminalStatusNotification`,
    port,
    received,
    /** Listens again on the same port. */
    async start() {
      if (up) return;
      await listen(server, port);
      up = true;
    },
    stop,
    of,
    /** Resolves with the requests of `correlator` once at least `count` have arrived. */
    async waitFor(correlator, count, timeoutMs = 8000) {
      const deadline = Date.now() + timeoutMs;
      while (of(correlator).length < count) {
        if (Date.now() > deadline) {
          throw new Error(`${correlator}: ${of(correlator).length} of ${count} requests arrived within ${timeoutMs} ms: `
            + JSON.stringify(of(correlator).map((r) => ({ kind: r.kind, statuses: r.statuses }))));
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return of(correlator);
    },
    close: stop,
  };
}

module.exports = { startAppEndpoint, decode, actionResult };
