'use strict';
// Loads the compiled addon (built by `npm install` / scripts/build-addon.js).
const path = require('node:path');

const candidates = [
  path.join(__dirname, '..', 'build', 'Release', 'parlayx_gateway.node'),
  path.join(__dirname, '..', 'build', 'Debug', 'parlayx_gateway.node'),
];

let lastError;
for (const file of candidates) {
  try {
    module.exports = require(file);
    lastError = undefined;
    break;
  } catch (error) {
    lastError = error;
  }
}
if (lastError) {
  const error = new Error(
    `parlayx-gateway: the native addon is not built (${lastError.message}). Run "npm run build".`,
  );
  error.code = 'ERR_PX_ADDON_MISSING';
  throw error;
}
