'use strict';
// The mount point of handlers/: the only module under js/ that requires handlers/ (the
// direction is HTTP server -> handlers -> services -> native). It turns the gateway's
// configuration into the router's options; the routing table itself is handlers/index.js.
// Used by the node:http server (js/server.js, via js/gateway.js) and usable as is as one
// serverless function.
const { createRouter, TERMINAL_STATUS_PATH, NOTIFICATION_MANAGER_PATH } = require('../handlers');

/**
 * @param {{ config: any, terminalStatus: import('./terminalStatus').TerminalStatusService,
 *           notifications: import('./notifications').TerminalStatusNotificationService,
 *           callNotifications?: import('./calls/callNotifications').CallNotificationService,
 *           callDirection?: import('./calls/callDirection').CallDirectionService,
 *           log?: Function, authenticator?: any, onAuthFailure?: Function,
 *           boundAddress?: () => ({ address: string, port: number } | null) }} options
 *   authenticator: js/auth/authenticator.js (absent: every request is anonymous);
 *   boundAddress: where the HTTP server actually listens, for WSDL requests without a usable Host
 * @returns {(event: import('../handlers/http').HttpEvent) => Promise<import('../handlers/http').HttpResponse>}
 */
function createApp({
  config, terminalStatus, notifications, callNotifications, callDirection, log, authenticator, onAuthFailure,
  boundAddress = () => null,
}) {
  // The configured port can be 0 (any free port): a WSDL must advertise the one actually bound.
  const defaultHost = () => {
    const bound = boundAddress();
    const host = bound ? bound.address : config.http.host;
    return `${host.includes(':') ? `[${host}]` : host}:${bound ? bound.port : config.http.port}`;
  };
  // The CAMARA front (js/camara/): made here, with the app, so that its contracts, Ajv and jose
  // are loaded only by gateways that serve it.
  const camara = config.camara && config.camara.enabled
    ? require('./camara').createCamaraFront({ config, terminalStatus, notifications })
    : null;
  return createRouter({
    camara,
    basePath: config.http.basePath,
    defaultHost,
    maxBodyBytes: config.http.maxBodyBytes,
    services: { terminalStatus, notifications, callNotifications, callDirection },
    log,
    authenticator,
    onAuthFailure,
  });
}

module.exports = { createApp, TERMINAL_STATUS_PATH, NOTIFICATION_MANAGER_PATH };
