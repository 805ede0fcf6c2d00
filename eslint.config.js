import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const effectModules = ['execa', 'node:fs', 'node:fs/promises', 'fs', 'fs/promises', 'node:child_process', 'child_process'];
/** config/ also stays off the network, threads and the logger. */
const configEffectModules = [
  ...effectModules,
  ...['net', 'dgram', 'http', 'https', 'http2', 'tls', 'worker_threads', 'cluster'].flatMap((name) => [name, `node:${name}`]),
  'pino',
];

/** An import written as a run of `../` (or `./`) and then one of `folders`: `../lifecycle/x.js`, `../../config/y.js`. */
function upTo(...folders) {
  return `^(\\./)?(\\.\\./)+(${folders.join('|')})(/|$)`;
}

/** An import of a file at the root of src/ (`../main.js`, `../../cli.js`). */
function upToRootFile(...names) {
  return `^(\\./)?(\\.\\./)+(${names.join('|')})(\\.[jt]s)?$`;
}

const systemIsDomainFree = {
  regex: upTo('actions', 'config', 'lifecycle', 'settings', 'handler'),
  message: 'system/ is the port and its implementation: it imports no domain code (actions, config, lifecycle, settings, handler).',
};

/**
 * One no-restricted-imports block: the effect modules (only the System port's real
 * implementation may use them) plus the layer's forbidden folders.
 */
/** The real implementation of the System port: the only files that may touch the machine. */
const REAL_SYSTEM = ['src/system/real-system.ts', 'src/system/run-command.ts'];

function layerRule(files, patterns, effectMessage, effects = effectModules, ignores = REAL_SYSTEM) {
  const message = effectMessage || 'Use the System port (src/system/system.ts).';
  return {
    files,
    ignores,
    rules: {
      'no-restricted-imports': ['error', { paths: effects.map((name) => ({ name, message })), ...(patterns.length > 0 ? { patterns } : {}) }],
    },
  };
}

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
  // Layer rules (../shared/docs/style.md): handlers -> main/cli -> lifecycle -> actions -> {config, system}.
  // ESLint keeps only the last no-restricted-imports that matches a file, so each block
  // below repeats the effect modules. Imports are matched as written: a run of `../`
  // then the folder, so the rules hold at any depth (src/actions/ssh/x.ts importing
  // '../../lifecycle/enable.js'). Dynamic import() is not checked by this rule.
  layerRule(['src/**/*.ts'], [], ''),
  layerRule(
    ['src/actions/**/*.ts'],
    [
      { regex: upTo('lifecycle'), message: 'actions/ never imports lifecycle/: orchestration calls actions, not the other way round.' },
      { regex: upToRootFile('main', 'cli', 'entry'), message: 'actions/ never imports the composition root or the CLI.' },
    ],
  ),
  layerRule(
    ['src/config/**/*.ts'],
    [
      {
        regex: upTo('system', 'actions', 'lifecycle', 'handler'),
        message: 'config/ is pure (string in, string out): nothing from system/, actions/, lifecycle/ or handler/.',
      },
      { regex: upToRootFile('main', 'cli', 'entry'), message: 'config/ is pure: it never imports the composition root or the CLI.' },
    ],
    'config/ is pure: string in, string out.',
    configEffectModules,
  ),
  layerRule(
    ['src/system/**/*.ts'],
    [systemIsDomainFree],
    '',
    effectModules,
    REAL_SYSTEM,
  ),
  {
    // The real implementation is the one place that may touch the machine; it still imports no domain code.
    files: REAL_SYSTEM,
    rules: { 'no-restricted-imports': ['error', { patterns: [systemIsDomainFree] }] },
  },
  layerRule(
    ['src/handler/**/*.ts'],
    [
      { regex: upTo('actions', 'lifecycle'), message: 'handler/ (agent files: environment, sequence, status) never imports actions/ or lifecycle/.' },
      { regex: upToRootFile('main', 'cli', 'entry'), message: 'handler/ never imports the composition root or the CLI.' },
    ],
  ),
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
