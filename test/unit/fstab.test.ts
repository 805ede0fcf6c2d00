import { describe, expect, test } from 'vitest';
import { parseFstab, parseTaggedSpec } from '../../src/config/fstab.js';

describe('parseFstab', () => {
  test('reads the fields, decodes escapes, applies fstab(5) defaults, skips comments', () => {
    const text = [
      '# /etc/fstab: static file system information.',
      'UUID=aaaa-root / ext4 defaults,discard 0 1',
      '',
      'LABEL=my\\040data   /data\\040disk  xfs  nofail,x-systemd.device-timeout=10 0 2',
      '/dev/sdb2 none swap sw 0 0',
      'server:/export /mnt/nfs nfs4',
      '   # indented comment',
      'broken-line-with-one-field',
    ].join('\n');
    const entries = parseFstab(text);
    expect(entries).toHaveLength(4);
    expect(entries[0]).toEqual({ spec: 'UUID=aaaa-root', file: '/', vfstype: 'ext4', options: ['defaults', 'discard'], freq: 0, passno: 1, line: 2 });
    expect(entries[1]).toMatchObject({ spec: 'LABEL=my data', file: '/data disk', vfstype: 'xfs', passno: 2, line: 4 });
    expect(entries[2]).toMatchObject({ spec: '/dev/sdb2', file: 'none', vfstype: 'swap' });
    expect(entries[3]).toMatchObject({ spec: 'server:/export', options: ['defaults'], freq: 0, passno: 0 });
  });
});

describe('parseTaggedSpec', () => {
  test.each([
    ['UUID=1111-2222', { tag: 'UUID', value: '1111-2222' }],
    ['LABEL="data disk"', { tag: 'LABEL', value: 'data disk' }],
    ['PARTUUID=abc-01', { tag: 'PARTUUID', value: 'abc-01' }],
    ['PARTLABEL=primary', { tag: 'PARTLABEL', value: 'primary' }],
    ['/dev/disk/by-uuid/1111-2222', { tag: 'UUID', value: '1111-2222' }],
    ['/dev/disk/by-label/data\\x20disk', { tag: 'LABEL', value: 'data disk' }],
    ['/dev/sdc1', undefined],
    ['/dev/disk/by-id/scsi-3600', undefined],
    ['datadisk', undefined],
  ])('%s', (spec, expected) => {
    expect(parseTaggedSpec(spec)).toEqual(expected);
  });
});
