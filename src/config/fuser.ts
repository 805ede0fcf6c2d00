/**
 * Processes using a mounted filesystem. fuser(1) splits its report across two
 * streams: the pids go to stdout, everything else (mount point, access letters, and
 * with -v the user and command columns) to stderr, so only the pids can be trusted
 * from it; user and command are read from /proc by the caller.
 */
export interface FilesystemHolder {
  pid: number;
  user: string;
  /** fuser's access letters: c cwd, e executable, f open file, r root, m mmap. */
  access: string;
  command: string;
}

/** The pids on `fuser -m <mount point>`'s stdout (`kernel` marks are not processes). */
export function parseFuserPids(stdout: string): number[] {
  return [...new Set((stdout.match(/\d+/g) ?? []).map(Number).filter((pid) => pid > 0))];
}

const ACCESS: Record<string, string> = { c: 'cwd', e: 'running', f: 'open file', F: 'open file', r: 'root', m: 'mmap' };

export function describeHolders(holders: readonly FilesystemHolder[], limit = 8): string {
  const shown = holders.slice(0, limit).map((holder) => {
    const uses = [...holder.access.replace(/\./g, '')].map((letter) => ACCESS[letter] ?? letter);
    return `${holder.command} (pid ${holder.pid}, ${holder.user}${uses.length > 0 ? `, ${[...new Set(uses)].join('/')}` : ''})`;
  });
  const more = holders.length > limit ? `, and ${holders.length - limit} more` : '';
  return `${shown.join(', ')}${more}`;
}

/**
 * Without fuser (psmisc is not on every image), `find /proc ... -lname` lists the
 * /proc/<pid>/{cwd,root,exe,fd/N} links that point into the mount point. This turns
 * those paths into holders with fuser's access letters; user and command are filled
 * in by the caller from /proc/<pid>/status and comm.
 */
export function parseProcLinkPaths(output: string): Map<number, string> {
  const access = new Map<number, Set<string>>();
  const letters: Record<string, string> = { cwd: 'c', root: 'r', exe: 'e' };
  for (const line of output.split('\n')) {
    const match = /^\/proc\/(\d+)\/(cwd|root|exe|fd\/\d+)$/.exec(line.trim());
    if (match === null) continue;
    const pid = Number(match[1]);
    const kind = match[2] ?? '';
    const letter = letters[kind] ?? 'f';
    if (!access.has(pid)) access.set(pid, new Set());
    access.get(pid)?.add(letter);
  }
  return new Map([...access].map(([pid, set]) => [pid, [...set].sort().join('')]));
}

/** fnmatch(3) pattern that matches `text` literally (for find -lname). */
export function globLiteral(text: string): string {
  return text.replace(/[\\*?[\]]/g, '\\$&');
}
