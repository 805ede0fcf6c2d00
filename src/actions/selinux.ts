import type { Logger } from 'pino';
import type { System } from '../system/system.js';

/** Present exactly when SELinux is enabled (enforcing or permissive). */
export const SELINUX_ENFORCE_FILE = '/sys/fs/selinux/enforce';

/**
 * Files made by rename(2) or by a program (ssh-keygen, useradd) take their folder's
 * default SELinux type, but sshd on RHEL-family systems needs the policy's types
 * (sshd_key_t for host keys, ssh_home_t for ~/.ssh). restorecon puts the policy's
 * labels back. It is found through the fixed command PATH (/usr/sbin and /sbin are on
 * it), so one call both finds and runs it.
 *
 * A failure is logged and otherwise ignored, on purpose: a wrong label must not fail an
 * access rescue whose files are already in place and validated (sshd -t, and the check
 * that sshd answers, decide whether the change holds).
 */
export async function restoreSelinuxLabels(system: System, paths: string[], logger?: Logger): Promise<void> {
  if (paths.length === 0 || (await system.stat(SELINUX_ENFORCE_FILE)) === undefined) return;
  // -F resets the whole context, not only the type, as the policy says it should be.
  const result = await system.run('restorecon', ['-F', '--', ...paths], { timeoutMs: 30_000 });
  if (!result.started) logger?.info({ step: 'selinux', paths }, 'SELinux is enabled but restorecon is missing: the files may carry the wrong label');
  else if (result.exitCode !== 0) logger?.info({ step: 'selinux', paths, exitCode: result.exitCode }, 'restorecon failed: the files may carry the wrong label');
}
