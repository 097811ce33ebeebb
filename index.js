'use strict';
// Public JS API of parlayx-gateway (typed in index.d.ts).
const { Gateway, createGateway } = require('./js/gateway');
const { ParlayxFault } = require('./js/parlayx/faults');
const native = require('./js/native');

module.exports = {
  createGateway,
  Gateway,
  ParlayxFault,
  loadConfig: (path) => native.loadConfig({ path }),
};
