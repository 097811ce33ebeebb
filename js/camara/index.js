'use strict';
// The CAMARA front: what every CAMARA API of the gateway shares (the contract documents, token
// verification, request validation, the x-correlator, CAMARA errors, device identification),
// made once from the gateway's `camara` configuration, and the APIs built on it. The handlers
// (handlers/camaraEndpoint.js and one module per API) take these parts; nothing here writes HTTP.
const { loadContract, correlatorPattern } = require('./contract');
const { createRequestValidator } = require('./requestValidator');
const { createTokenVerifier } = require('./tokenVerifier');
const { ReachabilityService } = require('./reachability');
const { ReachabilitySubscriptionService } = require('./subscriptions');

const REACHABILITY_CONTRACT = 'device-reachability-status.yaml';
const SUBSCRIPTIONS_CONTRACT = 'device-reachability-status-subscriptions.yaml';

/**
 * The parts one CAMARA API's endpoints need.
 * @typedef {object} CamaraApiFront
 * @property {any} contract the parsed OpenAPI document
 * @property {{ prepare: (operationId: string) => void,
 *   validateBody: (operationId: string, body: unknown) => void,
 *   validateComponent: (name: string, value: unknown, where?: string) => void }} validator
 * @property {RegExp} correlatorPattern
 * @property {{ verify: Function }} verifier the token verifier (shared by every API)
 * @property {Record<string, string[]>} scopes operationId -> scopes a token needs (camara.scopes)
 */

/**
 * The CAMARA front of a gateway (camara.enabled).
 * @param {{ config: any, terminalStatus: import('../terminalStatus').TerminalStatusService,
 *           notifications?: import('../notifications').TerminalStatusNotificationService }} options
 *   config: the gateway configuration (its camara section is read); notifications: the Parlay X
 *   notification service, whose core, policy, usage log and counters the subscriptions share
 *   (absent: no subscriptions API)
 * @returns {{ basePath: string, verifier: { verify: Function },
 *   reachability: { front: CamaraApiFront, service: ReachabilityService },
 *   subscriptions?: { front: CamaraApiFront, service: ReachabilitySubscriptionService } }}
 */
function createCamaraFront({ config, terminalStatus, notifications }) {
  const camara = config.camara;
  const verifier = createTokenVerifier({ ...camara.auth, clients: camara.clients });
  const apiFront = (file) => {
    const contract = loadContract(file);
    return {
      contract,
      validator: createRequestValidator(contract),
      correlatorPattern: correlatorPattern(contract),
      verifier,
      scopes: camara.scopes,
    };
  };
  const front = {
    basePath: camara.basePath,
    verifier,
    reachability: {
      front: apiFront(REACHABILITY_CONTRACT),
      service: new ReachabilityService({ terminalStatus, camara }),
    },
  };
  if (notifications) {
    const { core, policy, sink, log } = notifications;
    front.subscriptions = {
      front: apiFront(SUBSCRIPTIONS_CONTRACT),
      service: new ReachabilitySubscriptionService({
        core, config, policy, notifications, log, usage: sink.usage, counters: sink.counters, onOperation: sink.onOperation,
      }),
    };
  }
  return front;
}

module.exports = { createCamaraFront, REACHABILITY_CONTRACT, SUBSCRIPTIONS_CONTRACT };
