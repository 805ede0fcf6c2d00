import { afterEach, describe, expect, test } from 'vitest';
import { createSandbox, emptyRequest, runActionInSandbox, sandboxUnavailableReason } from '../sandbox/index.js';
import type { Sandbox } from '../sandbox/index.js';

/**
 * The ssh action applied for real inside a throwaway Debian root (no systemd: sshd
 * under the SysV script), run through the same dispatcher enable uses: real
 * sshd -t/-T, real writes to /etc/ssh, a real reload, a real SSH login afterwards.
 */

const reason = await sandboxUnavailableReason();
if (reason !== undefined) console.warn(`ssh sandbox tests skipped: ${reason}`);

let sandbox: Sandbox | undefined;

afterEach(async () => {
  await sandbox?.destroy();
  sandbox = undefined;
});

async function fresh(): Promise<Sandbox> {
  sandbox = await createSandbox();
  return sandbox;
}

const PASSWORD = 'Rescue-Me-42!';

describe.skipIf(reason !== undefined)('ssh action in the sandbox', () => {
  test('password reset while a cloud-init drop-in says PasswordAuthentication no: that user logs in, another does not; one reload, then none', async () => {
    const box = await fresh();
    await box.writeFile('/etc/ssh/sshd_config.d/50-cloud-init.conf', 'PasswordAuthentication no\n', 0o600);
    await box.stopSshd();
    await box.startSshd();
    await box.execOk(['useradd', '-m', '-s', '/bin/bash', 'other']);
    await box.execOk(['chpasswd'], { input: `other:${PASSWORD}\n` });
    const listensBefore = await box.sshdListenCount();

    const request = emptyRequest({ account: { username: 'rescued', password: PASSWORD, removePriorKeys: false, passwordless: false } });
    const run = await runActionInSandbox(box, request);
    expect(run.failures).toEqual([]);
    expect(run.outcomes.find((outcome) => outcome.name === 'password_login')?.result).toBe('changed');
    expect(await box.sshdListenCount()).toBe(listensBefore + 1);

    expect((await box.ssh('rescued', { password: PASSWORD }, 'id -un')).stdout.trim()).toBe('rescued');
    expect((await box.ssh('other', { password: PASSWORD }, 'true')).exitCode).not.toBe(0);
    expect((await box.ssh(box.admin?.name ?? 'azureadmin', { identityFile: box.admin?.privateKeyPath ?? '' }, 'true')).exitCode).toBe(0);

    const again = await runActionInSandbox(box, request);
    expect(again.failures).toEqual([]);
    expect(again.outcomes.find((outcome) => outcome.name === 'sshd')?.result).toBe('unchanged');
    expect(await box.sshdListenCount()).toBe(listensBefore + 1);

    // remove_user: the account goes (user action) and so does its Match block (the last one: the file).
    const removal = await runActionInSandbox(box, emptyRequest({ removeUser: 'rescued' }));
    expect(removal.failures).toEqual([]);
    expect(await box.exists('/etc/ssh/sshd_config.d/00-vmaccess.conf')).toBe(false);
    expect(await box.sshdListenCount()).toBe(listensBefore + 2);
    expect(await box.sshdRunning()).toBe(true);
  }, 180_000);

  test('reset_ssh from an sshd_config that stops sshd from starting: key login works again', async () => {
    const box = await fresh();
    await box.stopSshd();
    await box.writeFile('/etc/ssh/sshd_config', 'Port 22\nNoSuchOption yes\n', 0o644);
    await box.writeFile('/etc/ssh/sshd_config.d/30-broken.conf', 'Match\n', 0o644);
    expect(await box.sshdRunning()).toBe(false);

    const run = await runActionInSandbox(box, emptyRequest({ resetSsh: true }));
    expect(run.failures.filter((failure) => failure.name !== 'firewall')).toEqual([]);
    expect(await box.sshdRunning()).toBe(true);
    expect((await box.ssh(box.admin?.name ?? 'azureadmin', { identityFile: box.admin?.privateKeyPath ?? '' }, 'sudo -n true')).exitCode).toBe(0);
    expect(await box.readText('/etc/ssh/sshd_config')).toBe(await box.readText('/usr/share/openssh/sshd_config'));
    expect(await box.readText('/var/cache/vmaccess/backup')).toBe('Port 22\nNoSuchOption yes\n');
    expect(await box.exists('/etc/ssh/sshd_config.d/30-broken.conf')).toBe(false);
    // Issue 11: a drop-in that is no package file moves into the backup set (it used to go to quarantine/<time>/).
    expect(await box.readText('/var/cache/vmaccess/backup.d/30-broken.conf')).toBe('Match\n');
  }, 180_000);

  test('reset_ssh opens port 22 in iptables, ip6tables and a native nftables table that drop it (Azure Linux style rules)', async () => {
    const box = await fresh();
    for (const tool of ['iptables', 'ip6tables']) {
      await box.execOk([tool, '-A', 'INPUT', '-m', 'state', '--state', 'RELATED,ESTABLISHED', '-j', 'ACCEPT']);
      await box.execOk([tool, '-P', 'INPUT', 'DROP']);
    }
    await box.execOk(['nft', 'add table inet guard']);
    await box.execOk(['nft', 'add chain inet guard input { type filter hook input priority 10; policy drop; }']);
    await box.execOk(['nft', 'add rule inet guard input ct state established,related accept']);
    const knock = 'timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/22; head -c 8 <&3"';
    expect((await box.sh(knock)).stdout).not.toBe('SSH-2.0-');

    const run = await runActionInSandbox(box, emptyRequest({ resetSsh: true }));
    expect(run.failures).toEqual([]);
    const firewall = run.outcomes.find((outcome) => outcome.name === 'firewall');
    expect(firewall?.result).toBe('changed');
    expect(firewall?.message).toBe(
      'Opened: iptables: accept tcp/22 at the top of INPUT; ip6tables: accept tcp/22 at the top of INPUT; nftables: accept tcp/22 in inet guard input.',
    );
    expect((await box.sh(knock)).stdout).toBe('SSH-2.0-');
    expect((await box.ssh(box.admin?.name ?? 'azureadmin', { identityFile: box.admin?.privateKeyPath ?? '' }, 'true')).exitCode).toBe(0);

    // Bounded and idempotent: a second reset adds nothing.
    const again = await runActionInSandbox(box, emptyRequest({ resetSsh: true }));
    expect(again.outcomes.find((outcome) => outcome.name === 'firewall')?.result).toBe('unchanged');
    // Each added rule says it is ours (#8), as the tools themselves list it.
    for (const tool of ['iptables', 'ip6tables']) {
      expect((await box.sh(`${tool} -S INPUT | grep -c -- "--dport 22 -m comment --comment vmaccess -j ACCEPT"`)).stdout.trim()).toBe('1');
    }
    expect((await box.sh('nft list chain inet guard input | grep -c \'tcp dport 22 accept comment "vmaccess"\'')).stdout.trim()).toBe('1');
  }, 180_000);

  test('restore_backup_ssh after a change brings back the original file', async () => {
    const box = await fresh();
    const original = await box.readText('/etc/ssh/sshd_config');
    await box.writeFile('/etc/ssh/sshd_config', `${original ?? ''}\n# broken by someone\nPermitRootLogin no\n`, 0o644);
    const reset = await runActionInSandbox(box, emptyRequest({ resetSsh: true }));
    expect(reset.failures.filter((failure) => failure.name !== 'firewall')).toEqual([]);
    // The backup is the file as it was before the extension's first change.
    const restore = await runActionInSandbox(box, emptyRequest({ restoreBackupSsh: true }));
    expect(restore.failures).toEqual([]);
    expect(await box.readText('/etc/ssh/sshd_config')).toBe(`${original ?? ''}\n# broken by someone\nPermitRootLogin no\n`);
    expect(await box.sshdRunning()).toBe(true);
  }, 180_000);

  test('sshd dies after the reload (cannot bind its ListenAddress): files rolled back, sshd running again, SSHD_ROLLED_BACK', async () => {
    const box = await fresh();
    const pristine = (await box.readText('/usr/share/openssh/sshd_config')) ?? '';
    const live = await box.readText('/etc/ssh/sshd_config');
    // Valid for sshd -t, fatal at bind time: an address no interface has.
    await box.writeFile('/usr/share/openssh/sshd_config', `${pristine}ListenAddress 192.0.2.77\n`, 0o644);
    await box.writeFile('/etc/ssh/sshd_config', `${live ?? ''}# local edit\n`, 0o644);

    const run = await runActionInSandbox(box, emptyRequest({ resetSsh: true }));
    const sshd = run.outcomes.find((outcome) => outcome.name === 'sshd');
    expect(sshd?.code).toBe('SSHD_ROLLED_BACK');
    expect(sshd?.message).toMatch(/after the rollback sshd answers on port 22/);
    expect(await box.readText('/etc/ssh/sshd_config')).toBe(`${live ?? ''}# local edit\n`);
    expect(await box.sshdRunning()).toBe(true);
    expect((await box.ssh(box.admin?.name ?? 'azureadmin', { identityFile: box.admin?.privateKeyPath ?? '' }, 'true')).exitCode).toBe(0);
  }, 180_000);
});
