'use strict';
// Routes an HTTP event to the handler of its endpoint. Used by the node:http server (js/server.js)
// and usable as is as one serverless function.
const { createTerminalStatusHandler } = require('../handlers/terminalStatus');
const { createNotificationManagerHandler } = require('../handlers/terminalStatusNotificationManager');
const { createWsdlHandler } = require('../handlers/wsdl');
const { xmlResponse } = require('../handlers/http');

const TERMINAL_STATUS_PATH = '/TerminalStatusService/services/TerminalStatus';
const NOTIFICATION_MANAGER_PATH = '/TerminalStatusNotificationManagerService/services/TerminalStatusNotificationManager';

/**
 * @param {{ config: any, terminalStatus: import('./terminalStatus').TerminalStatusService,
 *           notifications: import('./notifications').TerminalStatusNotificationService,
 *           log?: Function, authenticator?: any, onAuthFailure?: Function,
 *           boundAddress?: () => ({ address: string, port: number } | null) }} options
 *   authenticator: js/auth/authenticator.js (absent: every request is anonymous);
 *   boundAddress: where the HTTP server actually listens, for WSDL requests without a usable Host
 * @returns {(event: import('../handlers/http').HttpEvent) => Promise<import('../handlers/http').HttpResponse>}
 */
function createApp({ config, terminalStatus, notifications, log, authenticator, onAuthFailure, boundAddress = () => null }) {
  const prefix = config.http.basePath === '/' ? '' : config.http.basePath;
  // The configured port can be 0 (any free port): a WSDL must advertise the one actually bound.
  const defaultHost = () => {
    const bound = boundAddress();
    const host = bound ? bound.address : config.http.host;
    return `${host.includes(':') ? `[${host}]` : host}:${bound ? bound.port : config.http.port}`;
  };
  const wsdl = createWsdlHandler({
    basePath: config.http.basePath,
    defaultHost,
    endpoints: {
      [TERMINAL_STATUS_PATH]: 'parlayx_terminal_status_service_2_3.wsdl',
      [NOTIFICATION_MANAGER_PATH]: 'parlayx_terminal_status_notification_manager_service_2_3.wsdl',
    },
  });
  const routes = new Map([
    [`${prefix}${TERMINAL_STATUS_PATH}`, createTerminalStatusHandler({
      service: terminalStatus, maxBodyBytes: config.http.maxBodyBytes, log, authenticator, onAuthFailure,
    })],
    [`${prefix}${NOTIFICATION_MANAGER_PATH}`, createNotificationManagerHandler({
      service: notifications, maxBodyBytes: config.http.maxBodyBytes, log, authenticator, onAuthFailure,
    })],
  ]);
  return async function app(event) {
    const wsdlResponse = wsdl(event);
    if (wsdlResponse) return wsdlResponse;
    const handler = routes.get(event.path);
    if (!handler) return xmlResponse(404, '<error>no Parlay X endpoint at this path</error>');
    return handler(event);
  };
}

module.exports = { createApp, TERMINAL_STATUS_PATH, NOTIFICATION_MANAGER_PATH };
