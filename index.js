'use strict';
// Public JS API of parlayx-gateway (typed in index.d.ts).
const { Gateway, createGateway } = require('./js/gateway');
const { ParlayxFault } = require('./js/parlayx/faults');
const native = require('./js/native');
const { UsageLog, UsageStatus } = require('./js/usage');

module.exports = {
  createGateway,
  Gateway,
  ParlayxFault,
  UsageLog,
  UsageStatus,
  loadConfig: (path) => native.loadConfig({ path }),
  // AWS Lambda behind API Gateway (js/adapters/apiGateway.js), loaded only when asked for.
  createLambdaHandler: (gatewayOrOptions, adapterOptions) =>
    require('./js/adapters/apiGateway').createLambdaHandler(gatewayOrOptions, adapterOptions),
};
