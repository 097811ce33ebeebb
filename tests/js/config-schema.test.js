'use strict';
// One source per config key: the core's schema table (native configSchema()) against the files
// that also name keys: config/gateway.yaml, index.d.ts (GatewayConfig), the object the addon
// builds, and docs/configuration.md (generated from the table).
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const ts = require('typescript');
const native = require('../../js/native');

const ROOT = path.join(__dirname, '..', '..');
const schema = native.configSchema();
const keys = schema.map((field) => field.key);
const structured = schema.filter((field) => field.type === 'structured').map((field) => field.key);

// How the structured rows appear in JS (binding/Config.cc structuredToJs); a new structured row
// must be added here, and to index.d.ts, on purpose.
const STRUCTURED_JS = {
  'groups.members': ['groups.members'],
  requesters: ['requesters'],
  'admin.users': ['admin.users'],
  policy: [],
  'outbound.allow': ['outbound.allowCidrs', 'outbound.allowHosts'],
  'calls.busyCodes': ['calls.busyCodes'],
  'calls.noAnswerCodes': ['calls.noAnswerCodes'],
  'calls.notReachableCodes': ['calls.notReachableCodes'],
  'camara.clients': ['camara.clients'],
};

/** The JS leaf paths the schema promises: its fields, structured ones in their JS shape. */
function jsPathsOfSchema() {
  const paths = ['sourcePath'];
  for (const field of schema) {
    if (field.type !== 'structured') paths.push(field.key);
    else paths.push(...STRUCTURED_JS[field.key]);
  }
  return paths.sort();
}

/** Leaf paths of a plain object: nested objects are walked, arrays and maps are leaves. */
function leafPaths(object, mapsAt, prefix = '') {
  const paths = [];
  for (const [name, value] of Object.entries(object)) {
    const key = prefix + name;
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && !mapsAt.includes(key)) {
      paths.push(...leafPaths(value, mapsAt, `${key}.`));
    } else {
      paths.push(key);
    }
  }
  return paths;
}

/** Leaf paths of `interface GatewayConfig` in index.d.ts: nested type literals are walked. */
function leafPathsOfDeclaration() {
  const file = path.join(ROOT, 'index.d.ts');
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const declaration = source.statements.find((s) => ts.isInterfaceDeclaration(s) && s.name.text === 'GatewayConfig');
  const walk = (members, prefix) => members.flatMap((member) => {
    const key = prefix + member.name.getText(source);
    return member.type && ts.isTypeLiteralNode(member.type) ? walk(member.type.members, `${key}.`) : [key];
  });
  return walk(declaration.members, '');
}

/**
 * Key paths of the uncommented keys of a block-style YAML file: indentation gives the nesting.
 * Enough for config/gateway.yaml, which the loader itself checks for unknown keys; this catches
 * a key the table lost, or one the file does not document.
 */
function yamlKeyPaths(text) {
  const stack = [];
  const paths = [];
  for (const line of text.split('\n')) {
    const match = /^( *)([A-Za-z][A-Za-z0-9]*):/.exec(line);
    if (!match) continue;
    const indent = match[1].length;
    while (stack.length > 0 && stack[stack.length - 1].indent >= indent) stack.pop();
    const key = [...stack.map((s) => s.name), match[2]].join('.');
    stack.push({ indent, name: match[2] });
    paths.push(key);
  }
  return paths;
}

describe('configuration schema', () => {
  test('lists every key once, with a type and a doc line', () => {
    expect(new Set(keys).size).toBe(keys.length);
    for (const field of schema) {
      expect(['integer', 'boolean', 'string', 'string[]', 'enum', 'enum[]', 'structured']).toContain(field.type);
      expect(field.doc.length).toBeGreaterThan(10);
      if (field.type === 'integer') expect(field.min).toBeLessThanOrEqual(field.max);
      if (field.maxKey) expect(keys).toContain(field.maxKey);
      if (field.type === 'enum') expect(field.values).toContain(field.default);
      if (field.type === 'integer' && !field.maxKey) {
        expect(field.default).toBeGreaterThanOrEqual(field.min);
        expect(field.default).toBeLessThanOrEqual(field.max);
      }
    }
    expect(Object.keys(STRUCTURED_JS).sort()).toEqual([...structured].sort());
  });

  test('config/gateway.yaml uses only keys of the table, and documents every one of them', () => {
    const inFile = yamlKeyPaths(fs.readFileSync(path.join(ROOT, 'config', 'gateway.yaml'), 'utf8'));
    const below = (key, parent) => key.startsWith(`${parent}.`);
    for (const key of inFile) {
      const known = keys.includes(key) || keys.some((k) => below(k, key)) || structured.some((s) => below(key, s));
      expect({ key, known }).toEqual({ key, known: true });
    }
    for (const key of keys) expect(inFile).toContain(key);
  });

  test('index.d.ts GatewayConfig names exactly the keys of the table', () => {
    expect(leafPathsOfDeclaration().sort()).toEqual(jsPathsOfSchema());
  });

  test('the addon builds exactly those keys, with the defaults the table reports', () => {
    const config = native.loadConfig({ text: '', name: 'empty.yaml' });
    expect(leafPaths(config, ['groups.members', 'requesters', 'admin.users', 'camara.clients']).sort()).toEqual(jsPathsOfSchema());
    // Resolved at load time: the paths against the current directory, the host name.
    const resolved = ['notifications.database', 'usage.database', 'usage.host', 'store.spool'];
    for (const field of schema) {
      if (field.type === 'structured' || resolved.includes(field.key)) continue;
      const value = field.key.split('.').reduce((o, name) => o[name], config);
      expect({ key: field.key, value }).toEqual({ key: field.key, value: field.default });
    }
  });

  test('docs/configuration.md is generated from the table and up to date', () => {
    const generated = execFileSync(process.execPath, [path.join(ROOT, 'js', 'cli.js'), 'config-schema', '--format', 'markdown'], { encoding: 'utf8' });
    const docs = fs.readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8');
    // Regenerate with: npx parlayx-gateway config-schema --format markdown > docs/configuration.md
    expect(docs).toBe(generated);
  });
});
