// eslint with typescript-eslint's type-aware recommended rules (npm run lint; .ci/run fails on
// any finding). Formatting is prettier's job (npm run format), so no stylistic rule is enabled.
// Every rule turned off below says why.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', '**/dist/', 'dist-*/', 'coverage/', 'node_modules/', 'bench/results/', '.brokers/'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Tokens, headers and topic names are checked for control characters on purpose.
      'no-control-regex': 'off',
      // Plugin contract methods are async so that a throw becomes a rejection, awaiting or not.
      '@typescript-eslint/require-await': 'off',
      // kafkajs payloads and the plugin factory declare plain functions in method syntax; the
      // rule cannot tell them from class methods that need their `this`.
      '@typescript-eslint/unbound-method': 'off',
      // A leading underscore marks a parameter a signature requires, or a field left out on purpose.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // `let x: T | undefined` read by a callback before its one assignment is deliberate: a
      // const would throw if the callback ran early.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Passing a caught error through as it is (typed unknown) is right; wrapping it would hide it.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // chai assertions are property reads: expect(x).to.be.true.
      '@typescript-eslint/no-unused-expressions': 'off',
    },
  },
  {
    // Plain JavaScript (this file, the plugin fixtures) is outside the TypeScript project.
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
  },
);
