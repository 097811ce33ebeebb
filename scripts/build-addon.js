#!/usr/bin/env node
'use strict';
// Builds the native addon with node-gyp against the headers of the running Node.
// Node's own headers are used when the installation ships them (<prefix>/include/node), so the
// build needs no download: the only registries reachable in production builds are npm and apt.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const prefix = path.resolve(path.dirname(process.execPath), '..');
const args = ['rebuild', '--release'];
if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
if (process.env.PX_DEBUG_BUILD) args[1] = '--debug';

let gyp = process.env.npm_config_node_gyp;
if (!gyp) {
  try {
    gyp = require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    gyp = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  }
}
const result = spawnSync(process.execPath, [gyp, ...args, '--jobs', 'max'], {
  cwd: path.join(__dirname, '..'),
  stdio: 'inherit',
});
if (result.status !== 0) {
  console.error('parlayx-gateway: building the native addon failed. It needs g++, make, pkg-config and the');
  console.error('Debian packages libsofia-sip-ua-dev libyaml-cpp-dev libexpat1-dev (scripts/install-deps.sh).');
  process.exit(result.status || 1);
}
