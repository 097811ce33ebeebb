#!/usr/bin/env node
'use strict';
// parlayx-gateway command line:
//   serve [--config FILE]          run the gateway (HTTP + SIP) until SIGINT/SIGTERM
//   check-config [FILE]            validate a configuration file and print it as JSON
const { parseArgs } = require('node:util');
const { DEFAULT_CONFIG } = require('./gateway');

const USAGE = `usage: parlayx-gateway serve [--config FILE]
       parlayx-gateway check-config [FILE]`;

async function serve(argv) {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' } } });
  const { createGateway } = require('./gateway');
  const gateway = await createGateway({ configPath: values.config || DEFAULT_CONFIG });
  const { url } = await gateway.listen();
  const sip = gateway.config.sip;
  gateway.log('info', 'parlayx-gateway started', {
    terminalStatus: `${url}/TerminalStatusService/services/TerminalStatus`,
    wsdl: `${url}/TerminalStatusService/services/TerminalStatus?wsdl`,
    sip: `${sip.bindHost}:${gateway.core.sipPort}`,
    presenceServer: sip.presenceServerUri,
  });
  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    gateway.log('info', 'stopping', { signal });
    gateway.close().then(() => process.exit(0), (error) => {
      gateway.log('error', 'close failed', { error: String(error) });
      process.exit(1);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

function checkConfig(argv) {
  const native = require('./native');
  const file = argv[0] || DEFAULT_CONFIG;
  process.stdout.write(`${JSON.stringify(native.loadConfig({ path: file }), null, 2)}\n`);
}

async function main(argv) {
  const [command, ...rest] = argv;
  if (command === 'serve') return serve(rest);
  if (command === 'check-config') return checkConfig(rest);
  process.stderr.write(`${USAGE}\n`);
  process.exitCode = 2;
}

main(process.argv.slice(2)).catch((error) => {
  // Config errors already name file, line and key; print them without a stack.
  process.stderr.write(`parlayx-gateway: ${error.code === 'ERR_PX_CONFIG' ? error.message : error.stack || error}\n`);
  process.exit(1);
});
