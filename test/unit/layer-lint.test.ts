import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { beforeAll, describe, expect, test } from 'vitest';

/**
 * The layer rules in eslint.config.js, exercised with imports written into files that
 * do not exist: each row is one import at one path and whether the repo's config
 * refuses it. Type-aware rules are switched off (the project service cannot see
 * files that are not on disk); no-restricted-imports needs no types.
 */

const root = fileURLToPath(new URL('../..', import.meta.url));
let eslint: ESLint;

beforeAll(() => {
  eslint = new ESLint({
    cwd: root,
    overrideConfig: [
      { files: ['**/*.ts'], ...tseslint.configs.disableTypeChecked, languageOptions: { parserOptions: { projectService: false, project: null } } },
    ],
  });
});

async function restrictedImportMessages(file: string, importLine: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${importLine}\nexport const used = 1;\n`, { filePath: `${root}${file}` });
  if (result === undefined) throw new Error(`no lint result for ${file}`);
  const fatal = result.messages.filter((message) => message.fatal === true);
  if (fatal.length > 0) throw new Error(`${file} did not parse: ${fatal.map((message) => message.message).join('; ')}`);
  return result.messages.filter((message) => message.ruleId === 'no-restricted-imports').map((message) => message.message);
}

describe('layer rules', () => {
  test.each([
    ['src/actions/ssh/grant.ts', "import { enable } from '../../lifecycle/enable.js';"],
    ['src/actions/ssh/grant.ts', "import type { Runtime } from '../../lifecycle/runtime.js';"],
    ['src/actions/user.ts', "import { plan } from '../lifecycle/plan.js';"],
    ['src/actions/accounts/user.ts', "import { main } from '../../main.js';"],
    ['src/actions/disk/repair.ts', "export { createProgram } from '../../cli.js';"],
    ['src/actions/ssh/service.ts', "import { execa } from 'execa';"],
    ['src/config/passwd.ts', "import type { System } from '../system/system.js';"],
    ['src/config/ssh-key/wire.ts', "import { writeStatus } from '../../handler/status.js';"],
    ['src/config/sudoers.ts', "import { publicPlan } from '../actions/plan.js';"],
    ['src/config/sudoers.ts', "import { enable } from '../lifecycle/enable.js';"],
    ['src/config/sudoers.ts', "import * as net from 'node:net';"],
    ['src/config/sudoers.ts', "import { readFileSync } from 'node:fs';"],
    ['src/config/sudoers.ts', "import pino from 'pino';"],
    ['src/system/paths.ts', "import { parseRequest } from '../settings/schema.js';"],
    ['src/system/paths.ts', "import { parsePasswd } from '../config/passwd.js';"],
    ['src/system/paths.ts', "import { execa } from 'execa';"],
    ['src/system/real-system.ts', "import { publicPlan } from '../actions/plan.js';"],
    ['src/handler/status.ts', "import { dispatch } from '../lifecycle/dispatch.js';"],
    ['src/handler/status.ts', "import { loadActions } from '../actions/index.js';"],
  ])('%s refuses %s', async (file, importLine) => {
    expect(await restrictedImportMessages(file, importLine)).toHaveLength(1);
  });

  test.each([
    ['src/actions/ssh/grant.ts', "import { publicPlan } from '../plan.js';"],
    ['src/actions/ssh/grant.ts', "import type { System } from '../../system/system.js';"],
    ['src/actions/accounts/user.ts', "import { parsePasswd } from '../../config/passwd.js';"],
    ['src/config/sudoers.ts', "import { createHash } from 'node:crypto';"],
    ['src/config/ssh-key/wire.ts', "import { VmaccessError } from '../../errors.js';"],
    ['src/system/real-system.ts', "import { execa } from 'execa';"],
    ['src/system/paths.ts', "import { VmaccessError } from '../errors.js';"],
    ['src/handler/sequence-state.ts', "import { parseSettingsFile } from '../settings/settings-file.js';"],
    ['src/lifecycle/plan.ts', "import { publicPlan } from '../actions/plan.js';"],
  ])('%s allows %s', async (file, importLine) => {
    expect(await restrictedImportMessages(file, importLine)).toEqual([]);
  });
});
