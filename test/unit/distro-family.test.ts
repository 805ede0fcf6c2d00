import { describe, expect, test } from 'vitest';
import { profileFor } from '../../src/actions/ssh/distro.js';
import { distroFamily, majorVersion, parseOsRelease } from '../../src/config/os-release.js';
import { defaultSystemPaths } from '../../src/system/paths.js';
import { fixtureFacts, fixtureFile } from '../fakes/ssh-world.js';

describe('distribution family from the fixtures\' /etc/os-release', () => {
  test.each([
    ['ubuntu-22.04', 'ubuntu'],
    ['ubuntu-24.04', 'ubuntu'],
    ['debian-12', 'debian'],
    ['rhel-9', 'rhel'],
    ['centos-7', 'rhel'],
    ['oraclelinux-8', 'rhel'],
    ['azurelinux-3', 'azurelinux'],
    ['flatcar-4459.0.0', 'flatcar'],
    ['sles-15.6', 'suse'],
  ])('%s -> %s', (fixture, family) => {
    expect(distroFamily(parseOsRelease(fixtureFile(fixture, 'os-release')))).toBe(family);
  });

  test.each(['ubuntu-22.04', 'ubuntu-24.04', 'debian-12', 'rhel-9', 'centos-7', 'oraclelinux-8', 'azurelinux-3', 'flatcar-4459.0.0'])(
    '%s: profile agrees with facts.json (service unit, pristine copy)',
    (fixture) => {
      const facts = fixtureFacts(fixture);
      const release = parseOsRelease(fixtureFile(fixture, 'os-release'));
      const profile = profileFor(distroFamily(release), release, defaultSystemPaths());
      expect(profile.serviceUnits[0]).toBe(`${facts.ssh_service}.service`);
      if (facts.pristine_sshd_config_copy === null) expect(profile.pristineConfigs).toEqual([]);
      else expect(profile.pristineConfigs).toContain(facts.pristine_sshd_config_copy);
    },
  );
});

describe('by ID first, then ID_LIKE; never by NAME', () => {
  test.each([
    ['ID=almalinux\nID_LIKE="rhel centos fedora"\n', 'rhel'],
    ['ID=rocky\n', 'rhel'],
    ['ID=fedora\n', 'rhel'],
    ['ID="opensuse-leap"\nID_LIKE="suse opensuse"\n', 'suse'],
    ['ID=opensuse-tumbleweed\n', 'suse'],
    ['ID=mariner\n', 'azurelinux'],
    ['ID=pop\nID_LIKE="ubuntu debian"\n', 'ubuntu'],
    ['ID=linuxmint\nID_LIKE=debian\n', 'debian'],
    ['ID=kali\nID_LIKE=debian\n', 'debian'],
    ['NAME="Ubuntu-ish"\nID=something\n', 'unknown'],
    ['', 'unknown'],
  ])('%j -> %s', (text, family) => {
    expect(distroFamily(parseOsRelease(text))).toBe(family);
  });

  test('quoted values and major version', () => {
    const release = parseOsRelease('ID="ol"\nVERSION_ID="8.9"\nPRETTY_NAME=\'Oracle\'\n');
    expect(release.id).toBe('ol');
    expect(majorVersion(release)).toBe(8);
    expect(release.prettyName).toBe('Oracle');
  });
});
