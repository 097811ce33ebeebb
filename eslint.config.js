'use strict';
const js = require('@eslint/js');
const globals = require('globals');

module.exports = [
  { ignores: ['node_modules/', 'build/', 'build-*/', 'var/', 'coverage/'] },
  js.configs.recommended,
  {
    files: ['**/*.js'],
    languageOptions: { ecmaVersion: 2023, sourceType: 'commonjs', globals: { ...globals.node } },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }],
      strict: ['error', 'global'],
      eqeqeq: ['error', 'always'],
      // XML 1.0 character validation needs control characters in character classes.
      'no-control-regex': 'off',
    },
  },
  {
    // The admin page's browser script (an ES module served as is, js/admin/page.js).
    files: ['js/admin/static/**/*.js'],
    languageOptions: { sourceType: 'module', globals: { ...globals.browser } },
    rules: { strict: 'off' },
  },
  {
    files: ['tests/**/*.js', 'bench/**/*.js'],
    languageOptions: { globals: { ...globals.node, ...globals.jest } },
  },
];
