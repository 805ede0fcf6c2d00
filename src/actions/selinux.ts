import type { Logger } from '../logger.js';
import type { System } from '../system/system.js';

/** Present when the kernel runs SELinux. */
export const SELINUX_ENFORCE_FILE = '/sys/fs/selinux/enforce';

/**
 * Files made by rename, by ssh-keygen or in a new directory take the folder's default
 * SELinux type, while sshd needs its policy's types (ssh_home_t, sshd_key_t) on
 * RHEL-family systems. restorecon puts the policy's labels back on exactly `paths`.
 * It is found through the system's fixed command PATH (which holds both sbin folders),
 * so a missing program shows as "not started" rather than by guessing its location.
 */
export async function restoreSelinuxLabels(system: System, paths: string[], logger?: Logger): Promise<void> {
  if (paths.length === 0 || (await system.stat(SELINUX_ENFORCE_FILE)) === undefined) return;
  // -F: reset the whole context, not only the type, as the policy has it.
  const result = await system.run('restorecon', ['-F', '--', ...paths], { timeoutMs: 30_000 });
  if (result.started && result.exitCode === 0) return;
  // Not fatal: the files are written and correct, and undoing them would make access
  // worse, not better. A wrong label shows up in what comes next (sshd -t, the login).
  logger?.warn(
    { paths, exitCode: result.started ? result.exitCode : undefined, installed: result.started },
    'restorecon could not restore SELinux labels; the new files may carry the wrong label',
  );
}
