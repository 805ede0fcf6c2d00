import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { OWN_DROP_IN, createSshAction } from '../../src/actions/ssh/ssh.js';
import { createWorld, driveFromRequest, fastVerify, fixtureFile, REPO, request, SSHD } from '../fakes/ssh-world.js';
import type { World } from '../fakes/ssh-world.js';

/**
 * reset_ssh and password grants on the SUSE layout (SLES 15 SP6's os-release from the
 * shared fixtures): the vendor default lives in /usr/etc/ssh/sshd_config and is only
 * read when /etc/ssh/sshd_config does not exist; admins and cloud-init add drop-ins in
 * /etc/ssh/sshd_config.d, the vendor's own in /usr/etc/ssh/sshd_config.d. No verbatim
 * SLES sshd_config is available (see the fixture's SOURCE.md), so the vendor file below
 * is a small stand-in with the structure that matters here: both Include lines, /etc first.
 */

const action = driveFromRequest(createSshAction({ verify: fastVerify, resourcesDir: path.join(REPO, 'resources') }));
const VENDOR = '/usr/etc/ssh/sshd_config';
const VENDOR_TEXT = 'Include /etc/ssh/sshd_config.d/*.conf\nInclude /usr/etc/ssh/sshd_config.d/*.conf\nAuthorizedKeysFile .ssh/authorized_keys\nUsePAM yes\n';
const DROP_IN = `/etc/ssh/sshd_config.d/${OWN_DROP_IN}`;

/** A SLES 15 SP6 world under systemd (sshd.service), sshd running; no /etc/ssh/sshd_config unless given. */
function sles(files: Record<string, string> = {}, options: { vendor?: boolean } = {}): World {
  const world = createWorld({ family: 'debian-12' });
  world.system.addFile('/etc/os-release', fixtureFile('sles-15.6', 'os-release'));
  void world.system.remove('/etc/ssh/sshd_config');
  // Debian's pristine copy must not be what a SUSE reset finds.
  void world.system.remove('/usr/share/openssh/sshd_config');
  world.system.addDir('/etc/ssh/sshd_config.d');
  if (options.vendor !== false) world.system.addFile(VENDOR, VENDOR_TEXT);
  for (const [file, text] of Object.entries(files)) world.system.addFile(file, text);
  // SUSE's unit is sshd.service (no socket unit); it keeps running and answering.
  world.system.onCommand('systemctl', (call) => {
    if (call.args[0] !== 'show') return { exitCode: 0 };
    return {
      stdout: call.args
        .slice(2)
        .map((unit) => (unit === 'sshd.service' ? 'Id=sshd.service\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled\n' : `Id=${unit}\nLoadState=not-found\nActiveState=inactive\nUnitFileState=\n`))
        .join('\n'),
    };
  });
  return world;
}

async function effective(world: World, main: string, user: string): Promise<string> {
  return (await world.system.run(SSHD, ['-T', '-f', main, '-C', `user=${user},host=h,addr=10.0.0.1`])).stdout;
}

describe('SUSE reset_ssh (vendor default in /usr/etc/ssh)', () => {
  test('a broken /etc/ssh/sshd_config override is replaced by the vendor default; the broken file is the backup', async () => {
    const broken = `${VENDOR_TEXT}Bogus yes\n`;
    const world = sles({ '/etc/ssh/sshd_config': broken });
    const outcomes = await action.apply(request({ resetSsh: true }), world.context);
    expect(outcomes.filter((outcome) => outcome.result === 'failed')).toEqual([]);
    expect(world.system.text('/etc/ssh/sshd_config')).toBe(VENDOR_TEXT);
    expect(world.system.text('/var/cache/vmaccess/backup')).toBe(broken);
    expect(world.system.text(VENDOR)).toBe(VENDOR_TEXT);
    expect(world.reloads()).toHaveLength(1);
  });

  test('a broken admin drop-in under /etc/ssh/sshd_config.d is moved to the quarantine; the vendor file stays untouched', async () => {
    const badDropIn = '/etc/ssh/sshd_config.d/40-admin.conf';
    const world = sles({ [badDropIn]: 'Bogus yes\n' });
    const outcomes = await action.apply(request({ resetSsh: true }), world.context);
    expect(outcomes.filter((outcome) => outcome.result === 'failed')).toEqual([]);
    expect(world.system.text(badDropIn)).toBeUndefined();
    const quarantined = [...world.system.nodes.keys()].filter((file) => file.startsWith('/var/cache/vmaccess/quarantine/') && file.endsWith('/40-admin.conf'));
    expect(quarantined).toHaveLength(1);
    expect(world.system.text(quarantined[0] ?? '')).toBe('Bogus yes\n');
    expect(world.system.text(VENDOR)).toBe(VENDOR_TEXT);
    expect(world.system.text('/etc/ssh/sshd_config')).toBeUndefined();
    expect((await world.system.run(SSHD, ['-t', '-f', VENDOR])).exitCode).toBe(0);
  });

  test('a broken vendor drop-in under /usr/etc/ssh/sshd_config.d is never moved or edited: reset fails with a code, nothing written', async () => {
    const vendorDropIn = '/usr/etc/ssh/sshd_config.d/40-suse.conf';
    const world = sles({ [vendorDropIn]: 'Bogus yes\n' });
    const files = (): Map<string, string> =>
      new Map([...world.system.nodes].filter(([, node]) => node.type === 'file').map(([key, node]) => [key, Buffer.from(node.data).toString('hex')]));
    const before = files();
    const failure = await action.apply(request({ resetSsh: true }), world.context).then(
      (outcomes) => outcomes.find((outcome) => outcome.result === 'failed')?.message,
      (error: unknown) => (error instanceof Error ? `${(error as { code?: string }).code ?? ''} ${error.message}` : String(error)),
    );
    expect(failure).toMatch(/SSHD_CONFIG_INVALID/);
    expect(failure).toContain(vendorDropIn);
    const after = files();
    const changed = [...new Set([...before.keys(), ...after.keys()])].filter((file) => before.get(file) !== after.get(file) && !file.startsWith('/var/cache/vmaccess/'));
    expect(changed).toEqual([]);
    expect(world.reloads()).toEqual([]);
  });

  test('neither /etc nor /usr/etc has an sshd_config: the extension writes its SUSE template to /etc/ssh/sshd_config', async () => {
    const world = sles({}, { vendor: false });
    const outcomes = await action.apply(request({ resetSsh: true }), world.context);
    expect(outcomes.filter((outcome) => outcome.result === 'failed')).toEqual([]);
    const written = world.system.text('/etc/ssh/sshd_config') ?? '';
    expect(written).toContain('Include /etc/ssh/sshd_config.d/*.conf');
    expect(written).toContain('UsePAM yes');
    expect(written).toBe((world.system.text(path.join(REPO, 'resources/sshd_config/suse')) ?? ''));
  });
});

describe('SUSE password grant with vendor drop-ins', () => {
  test('a vendor drop-in saying PasswordAuthentication no: the grant in /etc/ssh/sshd_config.d is read first and wins for the user only', async () => {
    const world = sles({ '/usr/etc/ssh/sshd_config.d/50-hardening.conf': 'PasswordAuthentication no\n' });
    world.context.ssh.passwordUsers.add('alice');
    const outcomes = await action.apply(request({ account: { username: 'alice', password: 'unused-here', removePriorKeys: false, passwordless: false } }), world.context);
    expect(outcomes.filter((outcome) => outcome.result === 'failed')).toEqual([]);
    expect(world.system.text(DROP_IN)).toContain('Match User alice');
    expect(await effective(world, VENDOR, 'alice')).toContain('passwordauthentication yes');
    expect(await effective(world, VENDOR, 'erin')).toContain('passwordauthentication no');
    expect(world.system.text('/usr/etc/ssh/sshd_config.d/50-hardening.conf')).toBe('PasswordAuthentication no\n');
    expect(world.system.text('/etc/ssh/sshd_config')).toBeUndefined();
  });
});
