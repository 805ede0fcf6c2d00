/** A fixed PATH for every command: the agent's own PATH varies by distribution and may lack sbin. */
export const COMMAND_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Well-known paths on the managed machine. Passed around as a value (never read at
 * import time) so tests can point them elsewhere.
 */
export interface SystemPaths {
  osRelease: string;
  passwd: string;
  shadow: string;
  group: string;
  loginDefs: string;
  useraddDefaults: string;
  shells: string;
  sshdConfig: string;
  /** SUSE-style vendor configuration, used when /etc/ssh/sshd_config is absent. */
  vendorSshdConfig: string;
  sudoersFile: string;
  /** The original extension's sshd_config backup; VMs that ran it already have one. */
  sshdBackup: string;
  /** Folder of vmaccess's own machine-wide state (beside the backup, survives upgrades). */
  stateDir: string;
  /** Debian/Ubuntu keep the package's pristine sshd_config here. */
  pristineSshdConfig: string;
  procMounts: string;
  fstab: string;
  /** Where unit files of the local administrator go: the access-expiry timer lives here. */
  systemdUnitDir: string;
  /** Exists only when systemd is the running init (sd_booted(3)). */
  systemdRunDir: string;
  /** cron's drop-in folder: the access-expiry schedule where there is no systemd. */
  cronDir: string;
  /** The audit trail of every change (JSON lines, root 0600, rotated). */
  auditLog: string;
}

export function defaultSystemPaths(): SystemPaths {
  return {
    osRelease: '/etc/os-release',
    passwd: '/etc/passwd',
    shadow: '/etc/shadow',
    group: '/etc/group',
    loginDefs: '/etc/login.defs',
    useraddDefaults: '/etc/default/useradd',
    shells: '/etc/shells',
    sshdConfig: '/etc/ssh/sshd_config',
    vendorSshdConfig: '/usr/etc/ssh/sshd_config',
    sudoersFile: '/etc/sudoers.d/waagent',
    sshdBackup: '/var/cache/vmaccess/backup',
    stateDir: '/var/cache/vmaccess',
    pristineSshdConfig: '/usr/share/openssh/sshd_config',
    procMounts: '/proc/self/mounts',
    fstab: '/etc/fstab',
    systemdUnitDir: '/etc/systemd/system',
    systemdRunDir: '/run/systemd/system',
    cronDir: '/etc/cron.d',
    auditLog: '/var/log/vmaccess/audit.log',
  };
}
