import * as path from 'node:path';
import { LOCK_FILE } from './enable.js';
import { removeExpirySchedule } from './expire.js';
import type { Invocation, Runtime } from './runtime.js';

/**
 * uninstall: the agent deletes the handler directory afterwards and keeps the log
 * folder. vmaccess removes only its own transient state (and the access-expiry timer,
 * which would run files that are gone); the sshd_config backup,
 * /etc/sudoers.d/waagent and every account stay, since users rely on them.
 */
export async function uninstall(runtime: Runtime, invocation: Invocation): Promise<number> {
  await runtime.system.remove(path.join(invocation.environment.handlerDir, LOCK_FILE));
  // The access-expiry timer runs this handler's files, which the agent deletes next.
  try {
    await removeExpirySchedule(runtime, invocation.environment.handlerDir);
  } catch (error) {
    runtime.logger.warn({ err: error }, 'uninstall: the access-expiry timer could not be removed');
  }
  runtime.logger.info('uninstall: handler state removed; backups and accounts kept');
  await invocation.events.emit({ taskName: 'Uninstall', level: 'Informational', message: 'uninstalled; backups and accounts kept' });
  runtime.print('uninstall: done (sshd_config backup, sudoers and accounts kept)');
  return 0;
}
