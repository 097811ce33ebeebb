'use strict';
// Hostile and plain clients on real loopback sockets for tests/js/http-hostile.test.js and
// tests/js/auth-throttle.test.js: raw TCP connections that trickle or say nothing, and HTTP
// requests from a chosen local address (127.0.0.2, ... are loopback addresses on Linux too).
const http = require('node:http');
const net = require('node:net');
const { startGateway: startTestGateway, tempDir } = require('./gateway');

const TERMINAL_STATUS_PATH = '/parlayx/TerminalStatusService/services/TerminalStatus';

/**
 * A gateway on free ports with the given sections (tests/support/gateway.js). No presence server
 * answers: tests here never get past the HTTP, SOAP and authentication layers, except where a
 * presence fetch failing fast is the point.
 * @param {{ http?: string, authentication?: string, extra?: string }} sections
 *   http: keys of the http section, each line indented by two; authentication: whole sections
 */
async function startGateway({ http: httpKeys = '', authentication = 'authentication:\n  required: false\n', extra = '' } = {}) {
  const fixture = await startTestGateway({
    presencePort: 9, fetchTimeoutMs: 200, httpYaml: httpKeys, authYaml: authentication, extraYaml: extra, stateDir: tempDir('px-hostile-'),
  });
  return { gateway: fixture.gateway, port: fixture.gateway.address().port, logs: fixture.logs, dir: fixture.stateDir };
}

/**
 * Opens a raw TCP connection and records what happens to it.
 * @param {number} port
 * @param {{ localAddress?: string }} [options]
 * @returns {Promise<{ socket: net.Socket, openedAt: number, closed: Promise<{ at: number, data: string }>,
 *   data: () => string, isOpen: () => boolean }>} resolves once connected
 */
function rawConnect(port, { localAddress } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    let data = '';
    let open = true;
    const closed = new Promise((resolveClosed) => {
      socket.on('close', () => {
        open = false;
        resolveClosed({ at: performance.now(), data });
      });
    });
    socket.on('data', (chunk) => { data += chunk.toString('latin1'); });
    socket.on('error', () => {}); // resets are expected; 'close' follows
    socket.once('connect', () => {
      resolve({ socket, openedAt: performance.now(), closed, data: () => data, isOpen: () => open });
    });
    socket.once('error', (error) => { if (open && socket.connecting) reject(error); });
  });
}

/** Writes `chunks` one after the other, `intervalMs` apart, until done or the socket closes. */
function trickle(socket, chunks, intervalMs) {
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || i >= chunks.length) {
      clearInterval(timer);
      return;
    }
    socket.write(chunks[i++]);
  }, intervalMs);
  socket.once('close', () => clearInterval(timer));
  return timer;
}

/**
 * One HTTP request from a given local address, on a fresh connection.
 * @returns {Promise<{ status: number, headers: object, text: string, ms: number }>}
 */
function request(port, { method = 'POST', path: urlPath = TERMINAL_STATUS_PATH, headers = {}, body = '', localAddress,
  timeoutMs = 10000 } = {}) {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method, path: urlPath, localAddress, agent: false,
      headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '""', ...headers },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started,
      }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A getStatus envelope. */
function getStatusEnvelope(address = 'sip:alice@example.test') {
  return '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ' +
    'xmlns:loc="http://www.csapi.org/schema/parlayx/terminal_status/v2_3/local"><soapenv:Body>' +
    `<loc:getStatus><loc:address>${address}</loc:address></loc:getStatus></soapenv:Body></soapenv:Envelope>`;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

module.exports = { startGateway, rawConnect, trickle, request, getStatusEnvelope, sleep, TERMINAL_STATUS_PATH };
