import * as path from 'node:path';
import { HANDLER_ENVIRONMENT_FILE, readHandlerEnvironment } from '../handler/handler-environment.js';
import { readSequenceState, scrubSettingsFile } from '../handler/sequence-state.js';
import { resolveSequenceNumber } from '../handler/sequence.js';
import type { System } from '../system/system.js';

/**
 * The guest agent runs enable again with the same seq on every restart and reboot.
 * Answer that case before the CLI, the logger and the rest are loaded: the seq when it
 * was already applied to completion, else undefined, and on any doubt undefined too
 * (the full enable then decides, under its lock). The agent has just written the
 * protected blob back into the settings file, so it is scrubbed again here.
 */
export async function alreadyAppliedSeq(system: System, cwd: string, env: Readonly<Record<string, string | undefined>>): Promise<number | undefined> {
  try {
    const environment = await readHandlerEnvironment(system, path.resolve(cwd, HANDLER_ENVIRONMENT_FILE));
    const seq = await resolveSequenceNumber(system, environment.configFolder, env.ConfigSequenceNumber);
    if (seq === undefined) return undefined;
    const state = await readSequenceState(system, environment, seq);
    if (!state.isApplied) return undefined;
    await scrubSettingsFile(system, state);
    return seq;
  } catch {
    return undefined;
  }
}
