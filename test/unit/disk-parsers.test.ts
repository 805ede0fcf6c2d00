import { describe, expect, test } from 'vitest';
import { mergeBlockDevices, parseBlkidExport, parseLsblkJson, parseLsblkPairs } from '../../src/config/block-devices.js';
import { describeSuperblock, parseDumpe2fsHeader, superblockHasErrors } from '../../src/config/dumpe2fs.js';
import { describeFindings, e2fsckFindings, xfsRepairFindings } from '../../src/config/fsck-findings.js';
import { describeHolders, globLiteral, parseFuserPids, parseProcLinkPaths } from '../../src/config/fuser.js';
import { findKernelErrors } from '../../src/config/kernel-log.js';
import { decodeMountField, isSameOrBelow, normalizeMountPoint, parseMountinfo, parseMounts } from '../../src/config/mounts.js';

describe('mount tables', () => {
  test('decodes the kernel octal escapes in /proc/self/mounts', () => {
    const [entry] = parseMounts('/dev/sdc1 /mnt/my\\040data\\011tab ext4 rw,relatime 0 0\n');
    expect(entry).toEqual({ source: '/dev/sdc1', target: '/mnt/my data\ttab', fstype: 'ext4', options: ['rw', 'relatime'] });
    expect(decodeMountField('back\\134slash\\043hash')).toBe('back\\slash#hash');
  });

  test('skips blank and malformed lines', () => {
    expect(parseMounts('\n# comment\nonlytwo fields\n')).toEqual([]);
  });

  test('parses mountinfo, including optional fields and a bind-mount root', () => {
    const text = [
      '29 1 8:1 / / rw,relatime shared:1 - ext4 /dev/root rw,discard,errors=remount-ro',
      '200 29 8:33 /exports/web /srv/web\\040site rw,nosuid shared:90 master:3 - ext4 /dev/sdc1 rw',
    ].join('\n');
    const [root, bind] = parseMountinfo(text);
    expect(root).toMatchObject({ mountId: 29, majorMinor: '8:1', root: '/', target: '/', fstype: 'ext4', source: '/dev/root' });
    expect(bind).toMatchObject({ root: '/exports/web', target: '/srv/web site', mountOptions: ['rw', 'nosuid'], superOptions: ['rw'] });
  });

  test.each([
    ['/data', '/data', true],
    ['/data/x', '/data', true],
    ['/database', '/data', false],
    ['/var/lib/waagent', '/var/lib', true],
    ['/anything', '/', true],
    ['/data', '/data/', true],
  ])('isSameOrBelow(%s, %s) is %s', (inner, outer, expected) => {
    expect(isSameOrBelow(inner, outer)).toBe(expected);
  });

  test('normalizes mount points', () => {
    expect(normalizeMountPoint('//data//disk/')).toBe('/data/disk');
    expect(normalizeMountPoint('/')).toBe('/');
  });
});

describe('block devices', () => {
  test('lsblk JSON: booleans (util-linux >= 2.33) and "0"/"1" strings (older)', () => {
    const newer = parseLsblkJson(
      '{"blockdevices":[{"name":"/dev/sdc1","kname":"/dev/sdc1","pkname":"/dev/sdc","maj:min":"8:33","type":"part","fstype":"ext4","uuid":"u-1","label":null,"ro":false,"rm":false}]}',
    );
    expect(newer).toEqual([{ path: '/dev/sdc1', kname: '/dev/sdc1', parent: '/dev/sdc', majMin: '8:33', type: 'part', fstype: 'ext4', uuid: 'u-1', readOnly: false, removable: false }]);
    const older = parseLsblkJson('{"blockdevices":[{"name":"/dev/sr0","kname":"/dev/sr0","type":"rom","ro":"1","rm":"1"}]}');
    expect(older[0]).toMatchObject({ path: '/dev/sr0', type: 'rom', readOnly: true, removable: true });
  });

  test('lsblk JSON tree output is flattened with parents', () => {
    const devices = parseLsblkJson(
      '{"blockdevices":[{"name":"/dev/sdc","type":"disk","children":[{"name":"/dev/sdc1","type":"part","children":[{"name":"/dev/mapper/vg-data","kname":"/dev/dm-0","type":"lvm"}]}]}]}',
    );
    expect(devices.map((device) => [device.path, device.parent])).toEqual([
      ['/dev/sdc', undefined],
      ['/dev/sdc1', '/dev/sdc'],
      ['/dev/mapper/vg-data', '/dev/sdc1'],
    ]);
  });

  test('lsblk JSON that is not JSON gives no devices', () => {
    expect(parseLsblkJson('lsblk: unknown column')).toEqual([]);
  });

  test('lsblk -P pairs with \\x escapes', () => {
    const [device] = parseLsblkPairs('NAME="/dev/sdc1" KNAME="/dev/sdc1" PKNAME="/dev/sdc" MAJ:MIN="8:33" TYPE="part" FSTYPE="ext4" UUID="u-1" LABEL="my\\x20data" RO="0" RM="0"\n');
    expect(device).toMatchObject({ path: '/dev/sdc1', parent: '/dev/sdc', majMin: '8:33', label: 'my data', readOnly: false });
  });

  test('blkid -o export blocks, escaped values', () => {
    const devices = parseBlkidExport('DEVNAME=/dev/sdc1\nLABEL=my\\ data\nUUID=u-1\nTYPE=ext4\n\nDEVNAME=/dev/sdb2\nUUID=s-1\nTYPE=swap\n');
    expect(devices).toEqual([
      { path: '/dev/sdc1', label: 'my data', uuid: 'u-1', fstype: 'ext4' },
      { path: '/dev/sdb2', uuid: 's-1', fstype: 'swap' },
    ]);
  });

  test('blkid results fill what lsblk left empty (no udev), matched by kernel name too', () => {
    const merged = mergeBlockDevices(
      [{ path: '/dev/mapper/vg-data', kname: '/dev/dm-0', type: 'lvm' }],
      [{ path: '/dev/dm-0', fstype: 'xfs', uuid: 'x-1' }, { path: '/dev/loop9', fstype: 'ext4' }],
    );
    expect(merged).toEqual([
      { path: '/dev/mapper/vg-data', kname: '/dev/dm-0', type: 'lvm', fstype: 'xfs', uuid: 'x-1' },
      { path: '/dev/loop9', fstype: 'ext4' },
    ]);
  });
});

// Captured from dumpe2fs 1.47.0 on a mounted ext4 whose directory inode was cleared with debugfs.
const DUMPE2FS_WITH_ERRORS = `Filesystem volume name:   data
Filesystem state:         clean with errors
Errors behavior:          Continue
Mount count:              2
Maximum mount count:      -1
Last checked:             Sun Nov 29 14:26:15 2026
Inode size:\t          256
FS Error count:           1
First error time:         Sun Nov 29 14:26:15 2026
First error function:     ext4_lookup
First error line #:       1789
First error inode #:      2
First error err:          EFSCORRUPTED
Last error time:          Sun Nov 29 14:26:15 2026
Last error function:      ext4_lookup
Last error line #:        1789
Last error inode #:       2
Last error err:           EFSCORRUPTED
Checksum type:            crc32c
`;

describe('dumpe2fs -h', () => {
  test('reads state, error count and the error records', () => {
    const superblock = parseDumpe2fsHeader(DUMPE2FS_WITH_ERRORS);
    expect(superblock).toMatchObject({
      state: 'clean with errors',
      errorCount: 1,
      errorsBehavior: 'Continue',
      mountCount: 2,
      maxMountCount: -1,
      lastError: { function: 'ext4_lookup', inode: '2', err: 'EFSCORRUPTED', line: '1789' },
    });
    expect(superblockHasErrors(superblock)).toBe(true);
    expect(describeSuperblock(superblock)).toContain('last error Sun Nov 29 14:26:15 2026: ext4_lookup, inode 2, EFSCORRUPTED');
  });

  test.each([
    ['Filesystem state:         clean\n', false],
    // A mounted ext2 (no journal) reads "not clean" while mounted: not an error.
    ['Filesystem state:         not clean\n', false],
    ['Filesystem state:         not clean with errors\n', true],
    ['Filesystem state:         clean\nFS Error count:           3\n', true],
  ])('errors in %j: %s', (text, expected) => {
    expect(superblockHasErrors(parseDumpe2fsHeader(text))).toBe(expected);
  });
});

describe('kernel log', () => {
  const dmesg = [
    '[  521.877222] EXT4-fs (sdc1): mounted filesystem 28d2 r/w with ordered data mode.',
    '[  521.879274] EXT4-fs error (device sdc1): ext4_lookup:1789: inode #2: comm ls: deleted inode referenced: 12',
    '[  600.000000] blk_update_request: I/O error, dev sdc, sector 2048 op 0x0:(READ)',
    '[  601.000000] Buffer I/O error on dev sdc1, logical block 0, async page read',
    '[  700.000000] XFS (sdd1): Metadata corruption detected at xfs_dinode_verify+0x1a/0x2b',
    '[  701.000000] XFS (sdd1): Ending clean mount',
    '[  800.000000] EXT4-fs error (device sdc10): something else',
  ].join('\n');

  test('finds error lines for the device and its disk, not mount notices or other devices', () => {
    expect(findKernelErrors(dmesg, ['sdc1', 'sdc'])).toHaveLength(3);
    expect(findKernelErrors(dmesg, ['sdd1'])).toEqual(['[  700.000000] XFS (sdd1): Metadata corruption detected at xfs_dinode_verify+0x1a/0x2b']);
    expect(findKernelErrors(dmesg, ['sde1'])).toEqual([]);
    expect(findKernelErrors(dmesg, [])).toEqual([]);
  });
});

describe('kernel log: a reused device name', () => {
  test('only lines since the device was last attached or mounted count', () => {
    const dmesg = [
      '[ 10.0] EXT4-fs error (device loop0): ext4_lookup:1789: inode #2: comm ls: deleted inode referenced: 12',
      '[ 20.0] loop0: detected capacity change from 0 to 131072',
      '[ 20.1] EXT4-fs (loop0): mounted filesystem 28d2 r/w with ordered data mode.',
      '[ 30.0] XFS (loop1): Mounting V5 Filesystem ab3c',
      '[ 31.0] XFS (loop1): Metadata corruption detected at xfs_buf_ioend',
    ].join('\n');
    expect(findKernelErrors(dmesg, ['loop0'])).toEqual([]);
    expect(findKernelErrors(dmesg, ['loop1'])).toHaveLength(1);
  });
});

describe('processes holding a mount, from /proc links', () => {
  test('parses find output into pids with access letters', () => {
    expect([...parseProcLinkPaths('/proc/812/cwd\n/proc/812/fd/3\n/proc/900/exe\n/proc/self/cwd\nnoise\n')]).toEqual([
      [812, 'cf'],
      [900, 'e'],
    ]);
  });

  test('glob characters in a mount point are matched literally', () => {
    expect(globLiteral('/data[1]*?')).toBe('/data\\[1\\]\\*\\?');
  });
});

describe('fuser -m', () => {
  // Captured from psmisc fuser in the sandbox: pids on stdout, the rest on stderr.
  test('takes the pids from stdout, ignores the kernel mark', () => {
    expect(parseFuserPids('kernel    99')).toEqual([99]);
    expect(parseFuserPids('  1234  4321 1234')).toEqual([1234, 4321]);
    expect(parseFuserPids('')).toEqual([]);
  });

  test('describes holders with what they use', () => {
    const holders = [
      { user: 'azureuser', pid: 1234, access: 'c', command: 'bash' },
      { user: 'mysql', pid: 4321, access: 'f', command: 'mysqld' },
      { user: 'root', pid: 5, access: '', command: 'kworker' },
    ];
    expect(describeHolders(holders)).toBe('bash (pid 1234, azureuser, cwd), mysqld (pid 4321, mysql, open file), kworker (pid 5, root)');
    expect(describeHolders(holders, 1)).toBe('bash (pid 1234, azureuser, cwd), and 2 more');
  });
});

describe('checker findings', () => {
  test('e2fsck questions, answered yes or no', () => {
    const output = [
      "Entry 'dir' in / (2) has deleted/unused inode 12.  Clear? yes",
      '',
      "Entry 'dir' in / (2) has an incorrect filetype (was 2, should be 0).",
      'Fix? no',
      'Pass 3: Checking directory connectivity',
      'Inode 2 ref count is 4, should be 3.  Fix? yes',
      'Unattached inode 14',
      'Connect to /lost+found? yes',
    ].join('\n');
    const findings = e2fsckFindings(output, 2);
    expect(findings.count).toBe(4);
    expect(describeFindings(findings)).toBe(
      "Entry 'dir' in / (2) has deleted/unused inode 12.; Entry 'dir' in / (2) has an incorrect filetype (was 2, should be 0). (4 in all)",
    );
  });

  test('xfs_repair -n "would" lines', () => {
    const output = 'Phase 7 - verify link counts...\nwould have reset inode 128 nlinks from 3 to 2\ndisconnected inode 151, would move to lost+found\nNo modify flag set, skipping filesystem flush and exiting.\n';
    expect(xfsRepairFindings(output).count).toBe(2);
    expect(describeFindings(xfsRepairFindings('Phase 1\nPhase 2\n'))).toBe('');
  });
});
