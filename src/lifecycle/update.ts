import * as path from 'node:path';
import { LOCK_FILE } from './enable.js';
import { mrseqPath } from '../handler/sequence.js';
import { moveExpirySchedule } from './expire.js';
import type { Invocation, Runtime } from './runtime.js';

/**
 * update (contract §4.3) runs in the new version's directory after the agent copied
 * the old `mrseq` and `status/*` over. vmaccess keeps its completion record inside
 * the status files, so that copy already carries the state; this only fills in
 * what an agent that skipped the copy (or a failed earlier attempt) left out,
 * reading from the old version's directory, which still exists at this step.
 */
export async function update(runtime: Runtime, invocation: Invocation): Promise<number> {
  const { system, logger } = runtime;
  const { environment, agentVariables } = invocation;
  const from = agentVariables.AZURE_GUEST_AGENT_UPDATING_FROM_VERSION;
  const target = agentVariables.VERSION;
  logger.info({ from, target }, 'update started');
  // On a downgrade the agent sets both variables to the target version and runs
  // the *old* handler's update: there is nothing to carry then.
  if (from === undefined || from === '' || from === target || !/^[0-9][0-9A-Za-z.+-]*$/.test(from)) {
    runtime.print('update: no earlier version to carry state from');
    return 0;
  }
  const oldDir = path.join(path.dirname(environment.handlerDir), `${environment.name}-${from}`);
  let copied = 0;
  if ((await system.stat(mrseqPath(environment.handlerDir))) === undefined) {
    const old = await system.readText(mrseqPath(oldDir));
    if (old !== undefined) {
      await system.writeFileAtomic(mrseqPath(environment.handlerDir), old, { mode: 0o600 });
      copied += 1;
    }
  }
  const oldStatus = path.join(oldDir, 'status');
  for (const name of (await system.listDir(oldStatus)) ?? []) {
    if (!/^\d+\.status$/.test(name)) continue;
    const target = path.join(environment.statusFolder, name);
    if ((await system.stat(target)) !== undefined) continue;
    const text = await system.readText(path.join(oldStatus, name));
    if (text === undefined) continue;
    await system.mkdir(environment.statusFolder, { recursive: true, mode: 0o700 });
    await system.writeFileAtomic(target, text, { mode: 0o600 });
    copied += 1;
  }
  // The access-expiry timer names the old folder, which the agent deletes after update.
  try {
    if (await moveExpirySchedule(runtime, environment.handlerDir)) logger.info('update: access-expiry timer moved to the new version');
  } catch (error) {
    logger.warn({ err: error }, 'update: the access-expiry timer could not be moved');
  }
  // A lock copied over from the old directory would only be stale.
  await system.remove(path.join(environment.handlerDir, LOCK_FILE));
  const message = `update from ${from}: state carried over (${copied} file(s) the agent had not copied)`;
  runtime.print(message);
  await invocation.events.emit({ taskName: 'Update', level: 'Informational', message });
  return 0;
}
