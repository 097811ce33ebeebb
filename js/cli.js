#!/usr/bin/env node
'use strict';
// parlayx-gateway command line:
//   serve [--config FILE]          run the gateway (HTTP + SIP, the admin listener when
//                                  admin.enabled) until SIGINT/SIGTERM, then drain and stop
//   check-config [FILE]            validate a configuration file and print it as JSON
//   config-schema [--format json|markdown]
//                                  print every configuration key (type, range, default, doc)
//                                  from the core's schema table; markdown is docs/configuration.md
//   usage export [--config FILE] [--from T] [--to T] [--format csv|json] [filters]
//                                  write reassembled usage records to stdout
//   hash-password [--ln N] [--password-file PATH]
//                                  print the scrypt hash of a password read from stdin (first
//                                  line) or a file, for a requester's passwordHash in the config
const { parseArgs } = require('node:util');
const { DEFAULT_CONFIG } = require('./gateway');

const USAGE = `usage: parlayx-gateway serve [--config FILE]
       parlayx-gateway check-config [FILE]
       parlayx-gateway config-schema [--format json|markdown]
       parlayx-gateway usage export [--config FILE] [--from TIME] [--to TIME] [--format csv|json]
                                    [--event-type NAME] [--status-code N] [--global-id ID]
                                    [--requester NAME] [--service NAME]
       parlayx-gateway hash-password [--ln N] [--password-file PATH]   (password on stdin otherwise)`;

const CSV_COLUMNS = ['RECORDID', 'GLOBALID', 'SERVICE', 'HOST', 'EVENTTYPE', 'RECORDTIME', 'STATUSCODE', 'SERVICEDATA'];

/** RFC 4180 field. */
function csvField(value) {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Writes to stdout, waiting when the pipe is full (an export can be large). */
function write(text) {
  return process.stdout.write(text) ? Promise.resolve() : new Promise((resolve) => process.stdout.once('drain', resolve));
}

async function usageExport(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      from: { type: 'string' },
      to: { type: 'string' },
      format: { type: 'string', default: 'csv' },
      'event-type': { type: 'string' },
      'status-code': { type: 'string' },
      'global-id': { type: 'string' },
      requester: { type: 'string' },
      service: { type: 'string' },
    },
  });
  if (values.format !== 'csv' && values.format !== 'json') throw new Error(`--format must be csv or json, not ${values.format}`);
  const native = require('./native');
  const { UsageLog } = require('./usage');
  const usage = new UsageLog(new native.UsageDatabase({ path: values.config || DEFAULT_CONFIG }));
  try {
    const filter = {
      from: values.from, to: values.to, eventType: values['event-type'], globalId: values['global-id'],
      requester: values.requester, service: values.service,
      statusCode: values['status-code'] === undefined ? undefined : Number(values['status-code']),
    };
    let first = true;
    if (values.format === 'csv') await write(`${CSV_COLUMNS.join(',')}\r\n`);
    else await write('[');
    for await (const r of usage.records(filter)) {
      if (values.format === 'csv') {
        await write(`${[r.recordId, r.globalId, r.service, r.host, r.eventType, r.recordTime, r.statusCode, r.serviceData].map(csvField).join(',')}\r\n`);
      } else {
        await write(`${first ? '\n' : ',\n'}${JSON.stringify(r)}`);
      }
      first = false;
    }
    if (values.format === 'json') await write(first ? ']\n' : '\n]\n');
  } finally {
    await usage.close();
  }
}

async function serve(argv) {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' } } });
  const { createGateway } = require('./gateway');
  const { installProcessGuard } = require('./processGuard');
  const gateway = await createGateway({ configPath: values.config || DEFAULT_CONFIG });
  gateway.processGuard = installProcessGuard({ log: gateway.log });
  const { url } = await gateway.listen();
  const sip = gateway.config.sip;
  gateway.log('info', 'parlayx-gateway started', {
    terminalStatus: `${url}/TerminalStatusService/services/TerminalStatus`,
    wsdl: `${url}/TerminalStatusService/services/TerminalStatus?wsdl`,
    sip: `${sip.bindHost}:${gateway.core.sipPort}`,
    presenceServer: sip.presenceServerUri,
    admin: gateway.adminAddress() ? gateway.adminAddress().url : null,
  });
  // PARLAYX_LOOP_DELAY_REPORT=1: measure event-loop delay and report it at exit (bench/usage.js).
  const loopDelay = process.env.PARLAYX_LOOP_DELAY_REPORT ? require('node:perf_hooks').monitorEventLoopDelay({ resolution: 1 }) : null;
  if (loopDelay) loopDelay.enable();
  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    if (loopDelay) {
      loopDelay.disable();
      // The histogram holds the intervals of a 1 ms timer: the delay is what exceeds 1 ms.
      const delayMs = (ns) => Math.max(0, ns / 1e6 - 1);
      gateway.log('info', 'event loop delay', {
        p50Ms: delayMs(loopDelay.percentile(50)), p99Ms: delayMs(loopDelay.percentile(99)), maxMs: delayMs(loopDelay.max),
      });
    }
    // Readiness turns 503 at once, then the SOAP listener drains for up to admin.shutdownDeadlineMs.
    gateway.log('info', 'stopping', { signal, deadlineMs: gateway.config.admin.shutdownDeadlineMs });
    gateway.shutdown().then(() => process.exit(0), (error) => {
      gateway.log('error', 'close failed', { error: String(error) });
      process.exit(1);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** An error in what the user typed: printed as its message, without a stack. */
function usageError(message) {
  const error = new Error(message);
  error.code = 'ERR_PX_USAGE';
  return error;
}

/**
 * One password line: a single trailing newline (LF or CRLF) is dropped; anything else must not
 * contain a line break, so that a stray second line is never silently part of the password.
 */
function passwordLine(text, source) {
  const password = text.replace(/\r?\n$/, '');
  if (/[\r\n]/.test(password)) throw usageError(`${source} must hold the password on one line`);
  if (password === '') throw usageError(`${source} holds an empty password`);
  return password;
}

/** Reads stdin to its end, or to the first line break when it is a terminal. */
function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    const stdin = process.stdin;
    const done = () => {
      stdin.removeListener('data', onData);
      stdin.removeListener('end', done);
      stdin.removeListener('error', reject);
      stdin.pause();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onData = (chunk) => {
      chunks.push(chunk);
      if (stdin.isTTY && chunk.includes(0x0a)) done();
    };
    stdin.on('data', onData);
    stdin.once('end', done);
    stdin.once('error', reject);
  });
}

async function hashPasswordCommand(argv) {
  const { values } = parseArgs({ args: argv, options: { ln: { type: 'string' }, 'password-file': { type: 'string' } } });
  const { hashPassword, DEFAULT_PARAMS } = require('./auth/passwordHash');
  const ln = values.ln === undefined ? DEFAULT_PARAMS.ln : Number(values.ln);
  // Checked before the password is read, so that a typo does not cost typing it.
  if (!Number.isInteger(ln) || ln < 1 || ln > 20) throw usageError(`--ln must be an integer from 1 to 20, not ${values.ln}`);
  const file = values['password-file'];
  let text;
  if (file === undefined) {
    text = await readStdin();
  } else {
    try {
      text = await require('node:fs/promises').readFile(file, 'utf8');
    } catch (error) {
      throw usageError(`cannot read ${file}: ${error.message}`);
    }
  }
  const password = passwordLine(text, file === undefined ? 'stdin' : file);
  await write(`${await hashPassword(password, { ln })}\n`);
}

function checkConfig(argv) {
  const native = require('./native');
  const file = argv[0] || DEFAULT_CONFIG;
  const config = native.loadConfig({ path: file });
  // The digest secrets are kept out of the YAML for a reason: never print them.
  for (const requester of Object.values(config.requesters || {})) {
    if (requester.digestSecret) requester.digestSecret = '<set>';
  }
  process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
}

/** A schema value for the markdown table: lists in brackets, strings quoted when empty. */
function schemaText(value) {
  if (Array.isArray(value)) return `[${value.join(', ')}]`;
  if (value === '') return '""';
  return String(value);
}

/** docs/configuration.md, generated from the core's schema table (native configSchema()). */
function schemaMarkdown(schema) {
  const cell = (text) => String(text).replace(/\|/g, '\\|');
  const lines = [
    '# Configuration keys',
    '',
    '<!-- Generated by `npx parlayx-gateway config-schema --format markdown` from the core\'s schema',
    '     table (native/config/ConfigSchema.cc); tests/js/config-schema.test.js fails when it is stale. -->',
    '',
    'Every key of [`config/gateway.yaml`](../config/gateway.yaml), which has the long',
    'explanations. The table is the one declaration of each key: the loader reads and validates by',
    'it, the addon converts the configuration to JS by it (`index.d.ts` `GatewayConfig`), and',
    '`configSchema()` on the addon returns it.',
    '',
    'Table-driven: every key below except the `structured` ones, whose values are read by their',
    'own readers (`groups.members`, `requesters`, `policy`: native/config/RequesterConfigReader,',
    'PolicyConfigReader and OverrideRule, documented in [policy.md](policy.md); `outbound.allow`:',
    'OutboundConfigReader). Rules between keys (a maximum bounded by another key, derived',
    'defaults) are attached to their rows in the table.',
    '',
    'Adding a key: a member with its default in native/config/GatewayConfig.h, a row in',
    'native/config/ConfigSchema.cc, its documentation in config/gateway.yaml and its type in',
    '`index.d.ts`; then regenerate this page. Nothing in the binding changes;',
    'tests/js/config-schema.test.js names whatever was forgotten.',
    '',
    '| key | type | range / values | default | what it is |',
    '|---|---|---|---|---|',
  ];
  for (const field of schema) {
    let range = '';
    if (field.type === 'integer') range = `${field.min}..${field.maxKey || field.max}`;
    if (field.values) range = field.values.join(' | ');
    const defaultText = field.type === 'structured' ? '' : schemaText(field.default);
    lines.push(`| \`${field.key}\` | ${field.type} | ${cell(range)} | ${cell(defaultText)} | ${cell(field.doc)} |`);
  }
  return `${lines.join('\n')}\n`;
}

function configSchema(argv) {
  const { values } = parseArgs({ args: argv, options: { format: { type: 'string', default: 'json' } } });
  if (values.format !== 'json' && values.format !== 'markdown') throw usageError(`--format must be json or markdown, not ${values.format}`);
  const schema = require('./native').configSchema();
  process.stdout.write(values.format === 'json' ? `${JSON.stringify(schema, null, 2)}\n` : schemaMarkdown(schema));
}

async function main(argv) {
  const [command, ...rest] = argv;
  if (command === 'serve') return serve(rest);
  if (command === 'check-config') return checkConfig(rest);
  if (command === 'config-schema') return configSchema(rest);
  if (command === 'usage' && rest[0] === 'export') return usageExport(rest.slice(1));
  if (command === 'hash-password') return hashPasswordCommand(rest);
  process.stderr.write(`${USAGE}\n`);
  process.exitCode = 2;
}

main(process.argv.slice(2)).catch((error) => {
  // Config errors already name file, line and key, usage errors say what to fix: no stack.
  const plain = error.code === 'ERR_PX_CONFIG' || error.code === 'ERR_PX_USAGE';
  process.stderr.write(`parlayx-gateway: ${plain ? error.message : error.stack || error}\n`);
  process.exit(1);
});
