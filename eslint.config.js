// ESLint flat config: type-aware typescript-eslint, the rules the style guide keeps on, and the
// layering of docs/design.md as import rules: a layer imports only the layers below it, an
// adapter never its sibling, and nothing outside a package reaches into another's sources.
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

const LIGHT = 'packages/hallpass/src'
const FOLDERS = ['internal', 'engine', 'session', 'users', 'stores', 'http', 'verify', 'middleware', 'testing', 'cli', 'protocol', 'client']
// What each folder of the `hallpass` package may import besides itself and errors.ts.
const MAY_IMPORT = {
  internal: [],
  engine: ['internal'],
  session: ['internal', 'engine'],
  users: ['internal'],
  stores: ['internal', 'engine', 'session', 'users'],
  http: ['internal', 'protocol'],
  verify: ['internal', 'engine', 'session'],
  middleware: ['internal', 'engine', 'http', 'verify'],
  testing: ['internal', 'engine', 'session', 'users'],
  cli: ['internal', 'engine'],
  protocol: [],
  client: ['protocol'],
}
const upward = (folder) =>
  FOLDERS.filter((other) => other !== folder && !MAY_IMPORT[folder].includes(other)).flatMap((other) => [`../${other}`, `../${other}/**`, `../../${other}`, `../../${other}/**`, `../../../${other}/**`])
const NODE_FREE = new Set(['internal', 'engine', 'session', 'users', 'protocol', 'client'])
const layerRules = FOLDERS.map((folder) => ({
  files: [`${LIGHT}/${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': ['error', {
      patterns: [
        { group: upward(folder), message: `${folder}/ may import only ${['errors.ts', ...MAY_IMPORT[folder]].join(', ')} (docs/design.md, "Layers").` },
        ...(NODE_FREE.has(folder) ? [{ group: folder === 'client' || folder === 'protocol' ? ['node:*'] : ['node:*', '!node:crypto'], message: `${folder}/ does no I/O of its own${folder === 'client' || folder === 'protocol' ? ' and runs in browsers: no node:* module' : ': node:crypto only'}.` }] : []),
        { group: ['hallpass', 'hallpass/*', '@hallpass/*'], message: 'Inside the package, import by relative path.' },
      ],
    }],
  },
}))

// eslint-disable-next-line no-restricted-syntax -- ESLint requires a default export here
export default tseslint.config(
  { ignores: ['**/dist/**', 'node_modules/**', 'coverage/**', '.hallpass/**', 'scratch/**', 'test-output/**'] },
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
      'no-duplicate-imports': ['error', { includeExports: false }],
    },
  },
  ...layerRules,
  {
    // The server and the examples use the `hallpass` package as its users do: by its entries.
    files: ['packages/server/src/**/*.ts', 'examples/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/packages/**', '**/hallpass/src/**', '../../hallpass/**', '../../../hallpass/**', 'hallpass/src/**', 'hallpass/dist/**'], message: 'Import the hallpass package by its public entries (hallpass, hallpass/verify, …).' },
        ],
      }],
    },
  },
  {
    // Tests and scripts use node:test/assert idioms that trip these.
    files: ['**/test/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.mjs'],
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
