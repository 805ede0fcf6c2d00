import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const effectModules = ['execa', 'node:fs', 'node:fs/promises', 'fs', 'fs/promises', 'node:child_process', 'child_process'];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.cache/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', '.ci/*.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // Effects go through the system port: only the real implementation (and the
    // logger set-up in the composition root) may touch the file system or spawn.
    files: ['src/**/*.ts'],
    ignores: ['src/system/real-system.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: effectModules.map((name) => ({ name, message: 'Use the System port (src/system/system.ts).' })) }],
    },
  },
  {
    // config/ is pure text transforms.
    files: ['src/config/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: effectModules.map((name) => ({ name, message: 'config/ is pure: string in, string out.' })),
          patterns: [{ group: ['**/system/*', '**/actions/*', '**/lifecycle/*'], message: 'config/ imports nothing from system/, actions/ or lifecycle/.' }],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      globals: Object.fromEntries(
        ['process', 'Buffer', 'URL', 'console', 'setTimeout', 'clearTimeout', 'AbortController', 'TextEncoder', 'TextDecoder'].map((name) => [name, 'readonly']),
      ),
    },
  },
);
