import { distroFamily, parseOsRelease } from '../../config/os-release.js';
import type { DistroFamily, OsRelease } from '../../config/os-release.js';
import type { SystemPaths } from '../../system/paths.js';
import type { System } from '../../system/system.js';

/**
 * What differs between distribution families for the SSH server. The values come
 * from the packaging of each family (see /work/shared/fixtures/distros/<family>/
 * facts.json and SOURCE.md): unit names, where a pristine sshd_config is kept, the
 * sftp-server path and the privilege separation directory.
 */
export interface DistroProfile {
  family: DistroFamily;
  release: OsRelease | undefined;
  /** systemd service units to look for, in order. */
  serviceUnits: string[];
  /** systemd socket units that may activate sshd. */
  socketUnits: string[];
  /** Names for SysV `service <name>`. */
  sysvNames: string[];
  /** Pristine copies of the default sshd_config the package keeps, tried in order. */
  pristineConfigs: string[];
  /** File under resources/sshd_config/ used when there is no pristine copy. */
  template: string;
  /** Directory sshd refuses to start without (Debian creates it at run time). */
  privsepDir: string | undefined;
}

export function profileFor(family: DistroFamily, release: OsRelease | undefined, paths: SystemPaths): DistroProfile {
  const base = { family, release, socketUnits: ['ssh.socket', 'sshd.socket'] };
  switch (family) {
    case 'debian':
    case 'ubuntu':
      return {
        ...base,
        serviceUnits: ['ssh.service', 'sshd.service'],
        sysvNames: ['ssh', 'sshd'],
        pristineConfigs: [paths.pristineSshdConfig],
        template: 'debian',
        privsepDir: '/run/sshd',
      };
    case 'rhel':
      return { ...base, serviceUnits: ['sshd.service'], sysvNames: ['sshd'], pristineConfigs: [], template: 'rhel', privsepDir: undefined };
    case 'suse':
      return {
        ...base,
        serviceUnits: ['sshd.service'],
        sysvNames: ['sshd'],
        // openSUSE/SLES with the /usr/etc split ship the default as the vendor file.
        pristineConfigs: [paths.vendorSshdConfig],
        template: 'suse',
        privsepDir: undefined,
      };
    case 'azurelinux':
      return { ...base, serviceUnits: ['sshd.service'], sysvNames: ['sshd'], pristineConfigs: [], template: 'azurelinux', privsepDir: undefined };
    case 'flatcar':
      return {
        ...base,
        serviceUnits: ['sshd.service'],
        sysvNames: ['sshd'],
        // The read-only lower layer of Flatcar's /etc overlay keeps the image's files.
        pristineConfigs: ['/usr/share/flatcar/etc/ssh/sshd_config'],
        template: 'flatcar',
        privsepDir: undefined,
      };
    case 'unknown':
      return {
        ...base,
        serviceUnits: ['sshd.service', 'ssh.service'],
        sysvNames: ['sshd', 'ssh'],
        pristineConfigs: [],
        template: 'generic',
        privsepDir: undefined,
      };
  }
}

export async function detectDistro(system: System, paths: SystemPaths): Promise<DistroProfile> {
  const text = await system.readText(paths.osRelease);
  const release = text === undefined ? undefined : parseOsRelease(text);
  return profileFor(release === undefined ? 'unknown' : distroFamily(release), release, paths);
}

