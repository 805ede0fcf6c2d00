import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { StepOutcome } from '../../src/actions/action.js';
import type { DiskRequest } from '../../src/settings/request.js';
import { createSandbox, emptyRequest, runActionInSandbox, sandboxUnavailableReason } from '../sandbox/index.js';
import type { Sandbox } from '../sandbox/index.js';

/**
 * check_disk and repair_disk, run by the real disk action (through the same dispatcher
 * enable uses) inside a throwaway Debian root with its own mount namespace and its own
 * /dev holding only loop devices: the action cannot see or reach this machine's disks.
 * Real ext4 and xfs images, corrupted on purpose with debugfs and xfs_db.
 */

const unavailable = await sandboxUnavailableReason();
const title = unavailable === undefined ? 'disk action on loop devices' : `disk action on loop devices (skipped: ${unavailable})`;
if (unavailable !== undefined) console.warn(`[disk integration] skipped: ${unavailable}`);

type Kind = 'ext4' | 'xfs';

interface Image {
  device: string;
  image: string;
  mountPoint: string;
  uuid: string;
}

const KEEP_TEXT = 'written before the corruption';

function q(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

async function sh(sandbox: Sandbox, script: string): Promise<string> {
  const result = await sandbox.sh(`set -eu\n${script}`, { timeoutMs: 60_000 });
  if (result.exitCode !== 0) throw new Error(`sandbox script failed (exit ${result.exitCode}):\n${script}\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/**
 * An image with /keep.txt and a directory /dir of 20 files, attached to a loop device;
 * corrupted (the directory's inode destroyed) when asked; mounted at mountPoint when asked.
 */
async function makeImage(sandbox: Sandbox, name: string, kind: Kind, options: { corrupt: boolean; mounted: boolean; mountOptions?: string; label?: string }): Promise<Image> {
  const image = `/srv/images/${name}.img`;
  const mountPoint = `/${name}`;
  const size = kind === 'xfs' ? '320M' : '64M';
  const mkfs = kind === 'xfs' ? `mkfs.xfs -q ${options.label === undefined ? '' : `-L ${q(options.label)}`}` : `mkfs.ext4 -q ${options.label === undefined ? '' : `-L ${q(options.label)}`}`;
  const corrupt =
    kind === 'xfs'
      ? `xfs_db -x -c "inode $ino" -c "write core.mode 0" "$dev" >/dev/null`
      : `debugfs -w -R 'clri /dir' "$dev" 2>/dev/null`;
  const out = await sh(
    sandbox,
    `mkdir -p /srv/images ${q(mountPoint)}
truncate -s ${size} ${q(image)}
${mkfs} ${q(image)}
dev=$(losetup -f --show ${q(image)})
mount "$dev" ${q(mountPoint)}
printf %s ${q(KEEP_TEXT)} > ${q(`${mountPoint}/keep.txt`)}
mkdir ${q(`${mountPoint}/dir`)}
for i in $(seq 1 20); do echo "$i" > ${q(`${mountPoint}/dir`)}/f$i; done
ino=$(stat -c %i ${q(`${mountPoint}/dir`)})
umount ${q(mountPoint)}
${options.corrupt ? corrupt : ':'}
${options.mounted ? `mount ${options.mountOptions === undefined ? '' : `-o ${options.mountOptions}`} "$dev" ${q(mountPoint)}` : ':'}
echo "$dev"
blkid -c /dev/null -s UUID -o value "$dev"`,
  );
  const [device = '', uuid = ''] = out.trim().split('\n');
  return { device, image, mountPoint, uuid };
}

async function sha256(sandbox: Sandbox, file: string): Promise<string> {
  return (await sh(sandbox, `sha256sum ${q(file)} | cut -d' ' -f1`)).trim();
}

async function checkerExit(sandbox: Sandbox, kind: Kind, device: string): Promise<number> {
  const command = kind === 'xfs' ? ['xfs_repair', '-n', device] : ['e2fsck', '-f', '-n', device];
  return (await sandbox.exec(command, { timeoutMs: 60_000 })).exitCode;
}

/** The mount of a mount point as the kernel shows it inside the sandbox. */
async function mountOf(sandbox: Sandbox, mountPoint: string): Promise<{ source: string; fstype: string; options: string[] } | undefined> {
  const table = (await sandbox.readText('/proc/self/mounts')) ?? '';
  const line = table.split('\n').find((entry) => entry.split(' ')[1] === mountPoint);
  if (line === undefined) return undefined;
  const [source = '', , fstype = '', options = ''] = line.split(' ');
  return { source, fstype, options: options.split(',') };
}

async function run(sandbox: Sandbox, disk: DiskRequest): Promise<StepOutcome[]> {
  const result = await runActionInSandbox(sandbox, emptyRequest({ disk }), { timeoutMs: 240_000 });
  return result.outcomes;
}

function outcomeFor(outcomes: StepOutcome[], device: string): StepOutcome {
  const outcome = outcomes.find((entry) => entry.name === `disk:${device}`);
  if (outcome === undefined) throw new Error(`no outcome for ${device}: ${JSON.stringify(outcomes, null, 2)}`);
  return outcome;
}

describe.skipIf(unavailable !== undefined)(title, () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await createSandbox({ provision: false, startSshd: false });
  });

  afterAll(async () => {
    // Kills processes, unmounts, detaches the loop devices the sandbox attached.
    await sandbox?.destroy();
  });

  test('check_disk: reports each filesystem, finds the corruption, and modifies no image', async () => {
    const cleanMounted = await makeImage(sandbox, 'chk-ext4-clean', 'ext4', { corrupt: false, mounted: true });
    const badExt4 = await makeImage(sandbox, 'chk-ext4-bad', 'ext4', { corrupt: true, mounted: false });
    const badXfs = await makeImage(sandbox, 'chk-xfs-bad', 'xfs', { corrupt: true, mounted: false });
    const cleanXfs = await makeImage(sandbox, 'chk-xfs-clean', 'xfs', { corrupt: false, mounted: false });
    const mountedXfs = await makeImage(sandbox, 'chk-xfs-mounted', 'xfs', { corrupt: false, mounted: true });
    // A corrupted ext4 that is mounted and has hit the damage: the kernel recorded it.
    const badMounted = await makeImage(sandbox, 'chk-ext4-bad-mounted', 'ext4', { corrupt: true, mounted: true });
    await sandbox.exec(['ls', `${badMounted.mountPoint}/dir`]);
    await sh(sandbox, 'sync');
    const fstab = [badExt4, badXfs, cleanXfs]
      .map((image) => `UUID=${image.uuid} ${image.mountPoint} ${image === badExt4 ? 'ext4' : 'xfs'} defaults,nofail 0 2`)
      .join('\n');
    await sandbox.writeFile('/etc/fstab', `# test fstab\n${fstab}\n`);
    const unmounted = [badExt4, badXfs, cleanXfs];
    const before = await Promise.all(unmounted.map((image) => sha256(sandbox, image.image)));

    const outcomes = await run(sandbox, { mode: 'check' });

    expect(outcomes.filter((outcome) => outcome.result === 'failed')).toEqual([]);
    expect(outcomeFor(outcomes, badExt4.device).message).toMatch(/: errors found: e2fsck -f -n: errors found \(exit 4\); Entry 'dir' in \/ \(2\) has deleted\/unused inode/);
    expect(outcomeFor(outcomes, badXfs.device).message).toContain('errors found: xfs_repair -n: corruption found (exit 1)');
    expect(outcomeFor(outcomes, cleanXfs.device).message).toContain('clean: xfs_repair -n: clean (exit 0)');
    // Devices with errors carry the repair_disk request that fixes them; clean ones do not.
    for (const bad of [badExt4, badXfs]) expect(outcomeFor(outcomes, bad.device).warning).toContain(`run repair_disk with disk_name "${bad.device}"`);
    expect(outcomeFor(outcomes, cleanXfs.device).warning).toBeUndefined();
    expect(outcomeFor(outcomes, cleanMounted.device).message).toContain(`(ext4, mounted at ${cleanMounted.mountPoint}): clean: superblock state clean, 0 errors recorded`);
    // xfs keeps no error counter on disk: the kernel's health report is what there is.
    expect(outcomeFor(outcomes, mountedXfs.device).message).toContain(
      `(xfs, mounted at ${mountedXfs.mountPoint}): clean: kernel health report: no problems recorded; no errors in the kernel log; mounted, so not checked with fsck`,
    );
    const mountedBad = outcomeFor(outcomes, badMounted.device).message;
    expect(mountedBad).toContain('errors found: superblock state clean with errors');
    expect(mountedBad).toContain('kernel error counter');
    for (const outcome of outcomes) expect(outcome.result).not.toBe('changed');
    const summary = outcomes.at(-1);
    expect(summary).toMatchObject({ name: 'disk', result: 'unchanged' });
    expect(summary?.message).toContain('Nothing was changed.');

    const after = await Promise.all(unmounted.map((image) => sha256(sandbox, image.image)));
    expect(after).toEqual(before);
    expect(await mountOf(sandbox, cleanMounted.mountPoint)).toBeDefined();
    expect(await mountOf(sandbox, badExt4.mountPoint)).toBeUndefined();
  });

  test('check_disk plan lists the filesystems and checks nothing', async () => {
    const result = await runActionInSandbox(sandbox, emptyRequest({ disk: { mode: 'check' } }), { mode: 'plan' });
    expect(result.plan.some((line) => /^disk:\/dev\/loop\d+: unchanged: would check \/dev\/loop\d+ \(xfs, not mounted \(fstab: \/chk-xfs-bad\)\) read-only: xfs_repair -n /.test(line))).toBe(true);
  });

  test.each([
    // [kind, mounted, how disk_name is given]
    ['ext4', true, 'legacy'],
    ['ext4', false, 'label'],
    ['xfs', true, 'device'],
    ['xfs', false, 'uuid'],
  ] as const)('repair_disk: corrupted %s (mounted: %s, disk_name by %s) checks clean afterwards, is where it was, and keep.txt survives', async (kind, mounted, by) => {
    const name = `fix-${kind}-${mounted ? 'm' : 'u'}`;
    const image = await makeImage(sandbox, name, kind, { corrupt: true, mounted, mountOptions: 'noatime', label: `L${name}`.slice(0, 12) });
    expect(await checkerExit(sandbox, kind, image.device)).not.toBe(0);
    const diskName = by === 'legacy' ? name : by === 'label' ? `LABEL=L${name}`.slice(0, 18) : by === 'uuid' ? `UUID=${image.uuid}` : image.device;
    const before = mounted ? await mountOf(sandbox, image.mountPoint) : undefined;

    const outcomes = await run(sandbox, { mode: 'repair', diskName });

    expect(outcomes).toHaveLength(1);
    const [outcome] = outcomes;
    expect(outcome, JSON.stringify(outcomes)).toMatchObject({ name: `disk:${image.device}`, result: 'changed' });
    expect(outcome?.message).toContain(`disk_name resolved to ${image.device} (${kind})`);
    expect(outcome?.message).toContain('Errors were found and corrected.');
    if (mounted) {
      expect(outcome?.message).toContain(`Unmounted ${image.mountPoint}.`);
      expect(outcome?.message).toContain(`Mounted again at ${image.mountPoint}`);
      const after = await mountOf(sandbox, image.mountPoint);
      expect(after?.source).toBe(image.device);
      expect(after?.options).toEqual(before?.options);
      expect(after?.options).toContain('noatime');
      expect(await sandbox.readText(`${image.mountPoint}/keep.txt`)).toBe(KEEP_TEXT);
      await sh(sandbox, `umount ${q(image.mountPoint)}`);
    } else {
      expect(outcome?.message).toContain('It was not mounted before and was left unmounted.');
      expect(await mountOf(sandbox, image.mountPoint)).toBeUndefined();
    }
    expect(await checkerExit(sandbox, kind, image.device)).toBe(0);
    // The file written before the corruption is still there and readable.
    await sh(sandbox, `mount ${image.device} ${q(image.mountPoint)}`);
    expect(await sandbox.readText(`${image.mountPoint}/keep.txt`)).toBe(KEEP_TEXT);
    await sh(sandbox, `umount ${q(image.mountPoint)}`);
  });

  test('repair_disk on xfs with a dirty log: replays it by mounting, never with -L, then repairs', async () => {
    const image = await makeImage(sandbox, 'dirty-xfs', 'xfs', { corrupt: false, mounted: true });
    // shutdown -f writes the log, then stops before the metadata is written back: a crash.
    await sh(sandbox, `mkdir ${q(`${image.mountPoint}/late`)} && touch ${q(`${image.mountPoint}/late/a`)} && xfs_io -x -c 'shutdown -f' ${q(image.mountPoint)} && umount ${q(image.mountPoint)}`);
    // xfs_repair itself refuses until the log is replayed (and would suggest -L).
    expect((await sandbox.exec(['xfs_repair', image.device])).exitCode).toBe(2);

    const outcomes = await run(sandbox, { mode: 'repair', diskName: image.device });

    expect(outcomes[0], JSON.stringify(outcomes)).toMatchObject({ name: `disk:${image.device}`, result: 'changed' });
    expect(outcomes[0]?.message).toContain('the log must be replayed first; mounting once to replay it');
    expect(outcomes[0]?.message).toContain('verification xfs_repair -n: clean (exit 0)');
    expect(await checkerExit(sandbox, 'xfs', image.device)).toBe(0);
    // The private mount point used for the replay is gone again.
    expect(((await sandbox.sh('ls /var/cache/vmaccess 2>/dev/null')).stdout).trim()).toBe('');
    await sh(sandbox, `mount ${image.device} ${q(image.mountPoint)}`);
    expect(await sandbox.readText(`${image.mountPoint}/keep.txt`)).toBe(KEEP_TEXT);
    await sh(sandbox, `umount ${q(image.mountPoint)}`);
  });

  test('repair_disk puts a bind mount of a subdirectory back as a bind mount', async () => {
    const image = await makeImage(sandbox, 'bind-ext4', 'ext4', { corrupt: true, mounted: true });
    await sh(sandbox, `mkdir -p /srv/web ${q(`${image.mountPoint}/www`)} && echo page > ${q(`${image.mountPoint}/www/index.html`)} && mount --bind ${q(`${image.mountPoint}/www`)} /srv/web`);

    const outcomes = await run(sandbox, { mode: 'repair', diskName: image.mountPoint });

    expect(outcomes[0], JSON.stringify(outcomes)).toMatchObject({ result: 'changed' });
    expect(outcomes[0]?.message).toContain(`Unmounted /srv/web, ${image.mountPoint}.`);
    expect(outcomes[0]?.message).toContain(`Mounted again at ${image.mountPoint} (rw,relatime), /srv/web (bind of /www).`);
    expect((await sandbox.readText('/srv/web/index.html'))?.trim()).toBe('page');
    expect(await sandbox.readText(`${image.mountPoint}/keep.txt`)).toBe(KEEP_TEXT);
    await sh(sandbox, `umount /srv/web && umount ${q(image.mountPoint)}`);
    expect(await checkerExit(sandbox, 'ext4', image.device)).toBe(0);
  });

  test('repair_disk on a busy mount names the process and changes nothing', async () => {
    const image = await makeImage(sandbox, 'busy-ext4', 'ext4', { corrupt: false, mounted: true });
    await sh(sandbox, `cd ${q(image.mountPoint)} && (setsid sleep 120 </dev/null >/dev/null 2>&1 &) ; sleep 0.2`);
    try {
      const outcomes = await run(sandbox, { mode: 'repair', diskName: image.mountPoint });
      expect(outcomes).toHaveLength(1);
      expect(outcomes[0]).toMatchObject({ name: `disk:${image.device}`, result: 'failed', code: 'DISK_BUSY' });
      expect(outcomes[0]?.message).toMatch(/cannot be unmounted: it is busy, in use by sleep \(pid \d+, root, cwd\)\. Nothing was repaired\./);
      expect((await mountOf(sandbox, image.mountPoint))?.source).toBe(image.device);
    } finally {
      await sandbox.sh('pkill -x sleep; true');
    }
  });

  test('repair_disk refuses a filesystem with another one mounted on top of its mount point, unmounting nothing', async () => {
    const image = await makeImage(sandbox, 'stacked-ext4', 'ext4', { corrupt: false, mounted: true });
    // A tmpfs mounted over it later: `umount /stacked-ext4` would take the tmpfs off.
    await sh(sandbox, `mount -t tmpfs stacked-top ${q(image.mountPoint)}`);
    try {
      const outcomes = await run(sandbox, { mode: 'repair', diskName: image.device });
      expect(outcomes).toHaveLength(1);
      expect(outcomes[0]).toMatchObject({ name: `disk:${image.device}`, result: 'failed', code: 'DISK_BUSY' });
      expect(outcomes[0]?.message).toContain(`mounted on top of it (stacked-top on ${image.mountPoint})`);
      const table = ((await sandbox.readText('/proc/self/mounts')) ?? '').split('\n').filter((line) => line.split(' ')[1] === image.mountPoint);
      expect(table.map((line) => line.split(' ')[0])).toEqual([image.device, 'stacked-top']);
    } finally {
      await sandbox.sh(`umount ${q(image.mountPoint)}`);
    }
  });

  test('repair_disk refuses a filesystem holding the guest agent directory, touching nothing', async () => {
    const image = await makeImage(sandbox, 'agent-lib', 'ext4', { corrupt: true, mounted: false });
    await sh(sandbox, `mkdir -p /var/lib/waagent && mount ${image.device} /var/lib/waagent`);
    try {
      const outcomes = await run(sandbox, { mode: 'repair', diskName: image.device });
      expect(outcomes).toEqual([
        {
          name: `disk:${image.device}`,
          result: 'failed',
          code: 'DISK_PROTECTED',
          message: `repair_disk refused: ${image.device} at /var/lib/waagent holds /var/lib/waagent (the guest agent and this handler). Nothing was touched.`,
        },
      ]);
      expect((await mountOf(sandbox, '/var/lib/waagent'))?.source).toBe(image.device);
    } finally {
      await sandbox.sh('umount /var/lib/waagent');
    }
    // Still corrupted: nothing ran against it.
    expect(await checkerExit(sandbox, 'ext4', image.device)).toBe(4);
  });
});
