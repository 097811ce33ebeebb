'use strict';
// The routing table: every endpoint the gateway serves, its WSDL, the service it calls and the
// handler that serves it, and the router that dispatches one HTTP event. Mounted by js/app.js
// only (the one module under js/ that requires handlers/): services never know about handlers.
const { createTerminalStatusHandler } = require('./terminalStatus');
const { createNotificationManagerHandler } = require('./terminalStatusNotificationManager');
const { createCallNotificationManagerHandler } = require('./callNotificationManager');
const { createCallDirectionManagerHandler } = require('./callDirectionManager');
const { createWsdlHandler } = require('./wsdl');
const { createReachabilityRetrieveHandler, REACHABILITY_RETRIEVE_PATH } = require('./camaraReachability');
const { createSubscriptionHandlers, SUBSCRIPTIONS_PATH, SUBSCRIPTION_PATH } = require('./camaraSubscriptions');
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
 * The CAMARA endpoints: path (relative to camara.basePath), the API of the CAMARA front
 * (js/camara/index.js createCamaraFront) they belong to, and the handler factory; or, for an API
 * of several paths and methods, `createAll`: path template ({name} = one path segment, given to
 * the handler as event.pathParameters.name) -> method -> handler.
 */
const CAMARA_ENDPOINTS = Object.freeze([
  { path: REACHABILITY_RETRIEVE_PATH, api: 'reachability', create: createReachabilityRetrieveHandler },
  { api: 'subscriptions', createAll: createSubscriptionHandlers },
]);

/**
 * One handler for a path's methods: the method's handler, or the first one (which answers 405
 * with every method of the path in Allow).
 */
function byMethod(handlers) {
  const first = Object.values(handlers)[0];
  return (event) => {
    const method = (event.httpMethod || event.method || 'GET').toUpperCase();
    return (Object.hasOwn(handlers, method) ? handlers[method] : first)(event);
  };
}

/** A path template with {name} segments as a matcher: the decoded parameters, or null. */
function templateMatcher(template) {
  const names = [];
  const source = template.split(/(\{[A-Za-z]+\})/).map((part) => {
    if (/^\{[A-Za-z]+\}$/.test(part)) {
      names.push(part.slice(1, -1));
      return '([^/]+)';
    }
    return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }).join('');
  const pattern = new RegExp(`^${source}$`);
  return (path) => {
    const match = pattern.exec(path);
    if (!match) return null;
    const parameters = {};
    try {
      names.forEach((name, i) => { parameters[name] = decodeURIComponent(match[i + 1]); });
    } catch {
      return null;
    }
    return parameters;
  };
}

/**
 * @param {{ basePath: string, defaultHost: string | (() => string), maxBodyBytes: number,
 *           services: { terminalStatus: any, notifications: any, callNotifications?: any, callDirection?: any },
 *           log?: Function, authenticator?: any, onAuthFailure?: Function,
 *           camara?: ReturnType<typeof import('../js/camara').createCamaraFront> | null }} options
 *   defaultHost: host[:port] for WSDL requests without a usable Host header (see wsdl.js);
 *   camara: the CAMARA front (camara.enabled), whose endpoints are routed below its basePath
 * @returns {(event: import('./http').HttpEvent) => Promise<import('./http').HttpResponse>}
 */
function createRouter({ basePath, defaultHost, maxBodyBytes, services, log, authenticator, onAuthFailure, camara = null }) {
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
  // Paths with parameters, tried in order after the exact paths.
  const templates = [];
  if (camara) {
    const camaraPrefix = camara.basePath === '/' ? '' : camara.basePath;
    for (const endpoint of CAMARA_ENDPOINTS) {
      const api = camara[endpoint.api];
      if (api === undefined) continue;
      const options = {
        front: api.front, service: api.service, maxBodyBytes, log,
        onAuthFailure: onAuthFailure && ((info) => onAuthFailure({ ...info, service: 'terminalStatus' })),
      };
      if (endpoint.createAll === undefined) {
        routes.set(`${camaraPrefix}${endpoint.path}`, endpoint.create(options));
        continue;
      }
      for (const [template, handlers] of Object.entries(endpoint.createAll(options))) {
        const handler = byMethod(handlers);
        if (template.includes('{')) templates.push({ match: templateMatcher(`${camaraPrefix}${template}`), handler });
        else routes.set(`${camaraPrefix}${template}`, handler);
      }
    }
  }
  return async function router(event) {
    const wsdlResponse = wsdl(event);
    if (wsdlResponse) return wsdlResponse;
    const handler = routes.get(event.path);
    if (handler) return handler(event);
    for (const template of templates) {
      const pathParameters = template.match(event.path);
      if (pathParameters !== null) return template.handler({ ...event, pathParameters });
    }
    return xmlResponse(404, '<error>no Parlay X endpoint at this path</error>');
  };
}

module.exports = {
  createRouter, ENDPOINTS, CAMARA_ENDPOINTS, REACHABILITY_RETRIEVE_PATH, SUBSCRIPTIONS_PATH, SUBSCRIPTION_PATH, TERMINAL_STATUS_PATH, NOTIFICATION_MANAGER_PATH, CALL_NOTIFICATION_MANAGER_PATH,
  CALL_DIRECTION_MANAGER_PATH,
};
