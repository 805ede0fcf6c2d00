/**
 * Finds kernel messages about I/O and filesystem errors for one device in `dmesg`
 * output. The patterns are the kernel's own message formats (block layer, buffer
 * cache, SCSI, ext4, xfs, btrfs).
 */

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Lines that report an error for any of `names` (kernel names without /dev/, e.g.
 * `sdc1` and its disk `sdc`) since the device was last attached or mounted.
 * Mount/unmount notices are not errors.
 */
export function findKernelErrors(dmesg: string, names: readonly string[]): string[] {
  const wanted = names.filter((name) => name !== '').map(escapeRegExp);
  if (wanted.length === 0) return [];
  const name = `(?:${wanted.join('|')})`;
  const patterns = [
    new RegExp(`I/O error,? (?:on )?dev(?:ice)? ${name}\\b`),
    new RegExp(`Buffer I/O error on dev(?:ice)? ${name}\\b`),
    new RegExp(`EXT[234]-fs (?:error|warning) \\(device ${name}\\)`),
    new RegExp(`XFS \\(${name}\\): .*(?:[Cc]orrupt|I/O [Ee]rror|[Ss]hut ?down|[Mm]etadata|verifier|error)`),
    new RegExp(`BTRFS (?:error|critical|warning) \\(device ${name}\\b`),
    new RegExp(`\\[${name}\\] .*(?:Sense Key|Medium Error|tag#\\d+ FAILED)`),
  ];
  // Device names are reused (loop devices, a disk detached and attached again): only
  // what happened since the device last appeared or was last mounted is about this one.
  const fresh = [
    new RegExp(`\\b${name}: detected capacity change from 0 `),
    new RegExp(`EXT[234]-fs \\(${name}\\): mounted filesystem`),
    new RegExp(`XFS \\(${name}\\): Mounting `),
  ];
  const lines = dmesg.split('\n').map((line) => line.trimEnd());
  let start = 0;
  lines.forEach((line, index) => {
    if (fresh.some((pattern) => pattern.test(line))) start = index + 1;
  });
  return lines.slice(start).filter((line) => line !== '' && patterns.some((pattern) => pattern.test(line)));
}
