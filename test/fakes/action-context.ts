import type { ActionContext } from '../../src/actions/action.js';
import { createSshChangeRequests } from '../../src/actions/action.js';
import { createSilentLogger } from '../../src/handler/log.js';
import { defaultSystemPaths } from '../../src/system/paths.js';
import type { System } from '../../src/system/system.js';

/** The context enable hands every action, over a test system, with a silent logger. */
export function createTestActionContext(system: System, overrides: Partial<ActionContext> = {}): ActionContext {
  return {
    system,
    logger: createSilentLogger(),
    paths: defaultSystemPaths(),
    ssh: createSshChangeRequests(),
    agentLibDir: '/var/lib/waagent',
    ...overrides,
  };
}
