'use strict';
// The routing table: every endpoint the gateway serves, its WSDL, the service it calls and the
// handler that serves it, and the router that dispatches one HTTP event. Mounted by js/app.js
// only (the one module under js/ that requires handlers/): services never know about handlers.
const { createTerminalStatusHandler } = require('./terminalStatus');
const { createNotificationManagerHandler } = require('./terminalStatusNotificationManager');
const { createCallNotificationManagerHandler } = require('./callNotificationManager');
const { createCallDirectionManagerHandler } = require('./callDirectionManager');
const { createWsdlHandler } = require('./wsdl');
const { xmlResponse } = require('./http');

const TERMINAL_STATUS_PATH = '/TerminalStatusService/services/TerminalStatus';
const NOTIFICATION_MANAGER_PATH = '/TerminalStatusNotificationManagerService/services/TerminalStatusNotificationManager';
const CALL_NOTIFICATION_MANAGER_PATH = '/CallNotificationManagerService/services/CallNotificationManager';
const CALL_DIRECTION_MANAGER_PATH = '/CallDirectionManagerService/services/CallDirectionManager';

/**
 * path (relative to basePath) -> the WSDL served at `<path>?wsdl`, the key of the service in
 * createRouter's `services`, the policy service its refused logins are counted under, and the
 * handler factory.
 */
const ENDPOINTS = Object.freeze([
  {
    path: TERMINAL_STATUS_PATH,
    wsdl: 'parlayx_terminal_status_service_2_3.wsdl',
    service: 'terminalStatus',
    policyService: 'terminalStatus',
    create: createTerminalStatusHandler,
  },
  {
    path: NOTIFICATION_MANAGER_PATH,
    wsdl: 'parlayx_terminal_status_notification_manager_service_2_3.wsdl',
    service: 'notifications',
    policyService: 'terminalStatus',
    create: createNotificationManagerHandler,
  },
  {
    // ?wsdl is the 3.x contract; the derived 2.x one is under /wsdl/ (wsdl/README.md).
    path: CALL_NOTIFICATION_MANAGER_PATH,
    wsdl: 'parlayx_call_notification_manager_service_3_2.wsdl',
    service: 'callNotifications',
    policyService: 'callNotification',
    create: createCallNotificationManagerHandler,
  },
  {
    path: CALL_DIRECTION_MANAGER_PATH,
    wsdl: 'parlayx_call_direction_manager_service_3_1.wsdl',
    service: 'callDirection',
    policyService: 'callDirection',
    create: createCallDirectionManagerHandler,
  },
]);

/**
 * @param {{ basePath: string, defaultHost: string | (() => string), maxBodyBytes: number,
 *           services: { terminalStatus: any, notifications: any, callNotifications?: any, callDirection?: any },
 *           log?: Function, authenticator?: any, onAuthFailure?: Function }} options
 *   defaultHost: host[:port] for WSDL requests without a usable Host header (see wsdl.js)
 * @returns {(event: import('./http').HttpEvent) => Promise<import('./http').HttpResponse>}
 */
function createRouter({ basePath, defaultHost, maxBodyBytes, services, log, authenticator, onAuthFailure }) {
  const prefix = basePath === '/' ? '' : basePath;
  const wsdl = createWsdlHandler({
    basePath,
    defaultHost,
    endpoints: Object.fromEntries(ENDPOINTS.map((endpoint) => [endpoint.path, endpoint.wsdl])),
  });
  // An endpoint whose service the caller does not give (an embedder without calls) is not routed.
  const routes = new Map(ENDPOINTS.filter((endpoint) => services[endpoint.service] !== undefined).map((endpoint) => [
    `${prefix}${endpoint.path}`,
    endpoint.create({
      service: services[endpoint.service], maxBodyBytes, log, authenticator,
      onAuthFailure: onAuthFailure && ((info) => onAuthFailure({ ...info, service: endpoint.policyService })),
    }),
  ]));
  return async function router(event) {
    const wsdlResponse = wsdl(event);
    if (wsdlResponse) return wsdlResponse;
    const handler = routes.get(event.path);
    if (!handler) return xmlResponse(404, '<error>no Parlay X endpoint at this path</error>');
    return handler(event);
  };
}

module.exports = {
  createRouter, ENDPOINTS, TERMINAL_STATUS_PATH, NOTIFICATION_MANAGER_PATH, CALL_NOTIFICATION_MANAGER_PATH,
  CALL_DIRECTION_MANAGER_PATH,
};
