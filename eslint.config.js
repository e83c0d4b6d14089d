// ESLint flat config: type-aware typescript-eslint, with the rules STYLE.md §9 keeps on.
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

// eslint-disable-next-line no-restricted-syntax -- ESLint requires a default export here
export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.hallpass/**', 'scratch/**'] },
  { languageOptions: { globals: { ...globals.node } } },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        // node:test's describe/it/test return promises the runner itself awaits.
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }],
      }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'Named exports only.' }],
    },
  },
  {
    // Layering (DESIGN.md): the engine is pure and may import node:crypto only.
    files: ['src/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['node:*', '!node:crypto'], message: 'The engine does no I/O: node:crypto only.' },
          { group: ['../session/**', '../stores/**', '../verify/**', '../server/**', '../cli/**', '../http/**', '../middleware/**', '../../session/**', '../../stores/**', '../../verify/**', '../../server/**', '../../cli/**'], message: 'Imports point down only.' },
        ],
      }],
    },
  },
  {
    files: ['src/session/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['node:*', '!node:crypto'], message: 'The session layer does no I/O of its own.' },
          { group: ['../stores/**', '../verify/**', '../server/**', '../cli/**', '../http/**', '../middleware/**'], message: 'Imports point down only.' },
        ],
      }],
    },
  },
  {
    // Tests and scripts use node:test/assert idioms that trip these.
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.mjs'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
)
