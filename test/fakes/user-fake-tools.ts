import { createTestActionContext } from './action-context.js';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ActionContext } from '../../src/actions/action.js';
import { FakeSystem } from './fake-system.js';
import type { CommandCall } from './fake-system.js';

/**
 * The shadow tools, getent, visudo, perl's crypt and sshd -T, scripted against the fake
 * system's files with real state: useradd appends to /etc/passwd and makes the home,
 * chpasswd writes a hash to /etc/shadow, userdel removes both. Tests then assert on the
 * files, as they would on a real machine.
 */

export interface FakeMachine {
  system: FakeSystem;
  context: ActionContext;
  /** Accounts only the name service knows (LDAP/SSSD). */
  networkUsers: string[];
  /** Set to make sshd -T fail; else its AuthorizedKeysFile value. */
  authorizedKeysFile: string | undefined;
  /** Make chpasswd keep a `!` lock prefix (some PAM stacks do). */
  chpasswdKeepsLock: boolean;
  /** Reject every sudoers candidate in visudo. */
  visudoRejects: boolean;
}

export const BASE_PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
  'azureuser:x:1000:1000::/home/azureuser:/bin/bash',
  '',
].join('\n');

export const BASE_SHADOW = ['root:*:19000:0:99999:7:::', 'daemon:*:19000:0:99999:7:::', 'nobody:*:19000:0:99999:7:::', 'azureuser:!:19000:0:99999:7:::', ''].join('\n');

export function fakeHash(password: string): string {
  return `$6$fake$${createHash('sha256').update(password).digest('hex')}`;
}

/** The fake crypt(3): the setting, then a digest of the password (long enough to pass as a hash). */
export function fakeCrypt(password: string, setting: string): string {
  return `${setting}$${createHash('sha256').update(password).digest('hex')}`;
}

/** Whether a stored hash (from fakeHash or fakeCrypt) is of this password. */
export function isFakeHashOf(password: string, hash: string): boolean {
  const setting = hash.slice(0, hash.lastIndexOf('$'));
  return hash === fakeHash(password) || hash === fakeCrypt(password, setting);
}

function setShadowField(system: FakeSystem, name: string, index: number, value: (old: string) => string): void {
  const text = system.text('/etc/shadow') ?? '';
  const lines = text.split('\n').map((line) => {
    const fields = line.split(':');
    if (fields[0] !== name) return line;
    fields[index] = value(fields[index] ?? '');
    return fields.join(':');
  });
  system.addFile('/etc/shadow', lines.join('\n'), { mode: 0o640, gid: 42 });
}

function optionValue(args: string[], option: string): string | undefined {
  const at = args.indexOf(option);
  return at === -1 ? undefined : args[at + 1];
}

function lastArg(call: CommandCall): string {
  const dashes = call.args.indexOf('--');
  if (dashes === -1 || dashes !== call.args.length - 2) throw new Error(`${call.file}: the name must follow "--": ${call.args.join(' ')}`);
  return call.args.at(-1)!;
}

const realVisudo = ['/usr/sbin/visudo', '/usr/bin/visudo'].find((candidate) => fs.existsSync(candidate));

export function createFakeMachine(): FakeMachine {
  const system = new FakeSystem();
  system.addFile('/etc/passwd', BASE_PASSWD);
  system.addFile('/etc/shadow', BASE_SHADOW, { mode: 0o640, gid: 42 });
  system.addFile('/etc/login.defs', 'UID_MIN 1000\nUID_MAX 60000\n');
  system.addFile('/etc/default/useradd', 'SHELL=/bin/sh\n');
  system.addFile('/bin/sh', '');
  system.addFile('/bin/bash', '');
  system.addDir('/home');
  system.addDir('/home/azureuser', 0o750, 1000, 1000);
  system.addDir('/etc/sudoers.d', 0o755);
  system.addFile('/etc/sudoers.d/waagent', 'azureuser ALL=(ALL) NOPASSWD: ALL\n', { mode: 0o440 });
  system.addDir('/var/lib/waagent', 0o700);

  const machine: FakeMachine = {
    system,
    context: createTestActionContext(system),
    networkUsers: [],
    authorizedKeysFile: '.ssh/authorized_keys .ssh/authorized_keys2',
    chpasswdKeepsLock: false,
    visudoRejects: false,
  };

  system.onCommand('getent', (call) => {
    const name = call.args.at(-1)!;
    if (call.args[0] !== 'passwd' || call.args[1] !== '--') throw new Error(`getent: unexpected ${call.args.join(' ')}`);
    const local = (system.text('/etc/passwd') ?? '').split('\n').find((line) => line.split(':')[0] === name);
    if (local !== undefined) return { stdout: `${local}\n` };
    if (machine.networkUsers.includes(name)) return { stdout: `${name}:*:150001:150001:LDAP user:/home/${name}:/bin/bash\n` };
    return { exitCode: 2 };
  });

  system.onCommand('/usr/sbin/sshd', (call) => {
    if (call.args[0] !== '-T') throw new Error(`sshd: unexpected ${call.args.join(' ')}`);
    if (machine.authorizedKeysFile === undefined) return { exitCode: 255, stderr: 'sshd: no hostkeys available -- exiting.\n' };
    return { stdout: `port 22\npasswordauthentication no\nauthorizedkeysfile ${machine.authorizedKeysFile}\n` };
  });
  system.addFile('/usr/sbin/sshd', '', { mode: 0o755 });

  system.onCommand('useradd', (call) => {
    const name = lastArg(call);
    const passwd = system.text('/etc/passwd') ?? '';
    if (passwd.split('\n').some((line) => line.split(':')[0] === name)) return { exitCode: 9, stderr: `useradd: user '${name}' already exists\n` };
    const uids = passwd
      .split('\n')
      .map((line) => Number(line.split(':')[2]))
      .filter((uid) => uid >= 1000 && uid < 60000);
    const uid = Math.max(999, ...uids) + 1;
    const shell = optionValue(call.args, '--shell') ?? '/bin/sh';
    system.addFile('/etc/passwd', `${passwd}${name}:x:${uid}:${uid}::/home/${name}:${shell}\n`);
    const expiry = optionValue(call.args, '--expiredate');
    const expireDays = expiry === undefined ? '' : String(Date.UTC(+expiry.slice(0, 4), +expiry.slice(5, 7) - 1, +expiry.slice(8, 10)) / 86_400_000);
    system.addFile('/etc/shadow', `${system.text('/etc/shadow') ?? ''}${name}:!:20000:0:99999:7::${expireDays}:\n`, { mode: 0o640, gid: 42 });
    if (call.args.includes('--create-home')) system.addDir(`/home/${name}`, 0o700, uid, uid);
    return { exitCode: 0 };
  });

  system.onCommand('chpasswd', (call) => {
    const encrypted = call.args.length === 1 && call.args[0] === '-e';
    if (call.args.length !== 0 && !encrypted) throw new Error(`chpasswd: unexpected ${call.args.join(' ')}`);
    for (const line of (call.input ?? '').split('\n').filter(Boolean)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1);
      // -e: the value is the hash, stored as given (no PAM, no quality checks).
      setShadowField(system, name, 1, (old) => `${machine.chpasswdKeepsLock && old.startsWith('!') ? '!' : ''}${encrypted ? value : fakeHash(value)}`);
    }
    return { exitCode: 0 };
  });

  system.onCommand('perl', (call) => {
    const [password = '', second = ''] = (call.input ?? '').split('\n');
    const script = call.args[1] ?? '';
    // The hashing script prints crypt(password, setting); the matching one exits 0 on a match.
    if (script.includes('print')) return { exitCode: 0, stdout: fakeCrypt(password, second) };
    return { exitCode: isFakeHashOf(password, second) ? 0 : 1 };
  });

  system.onCommand('usermod', (call) => {
    const name = lastArg(call);
    if (call.args[0] === '--unlock') setShadowField(system, name, 1, (old) => old.replace(/^!+/, ''));
    else if (call.args[0] === '--expiredate') {
      const date = call.args[1]!;
      setShadowField(system, name, 7, () => String(Date.UTC(+date.slice(0, 4), +date.slice(5, 7) - 1, +date.slice(8, 10)) / 86_400_000));
    } else throw new Error(`usermod: unexpected ${call.args.join(' ')}`);
    return { exitCode: 0 };
  });

  system.onCommand('userdel', async (call) => {
    const name = lastArg(call);
    const passwd = system.text('/etc/passwd') ?? '';
    const line = passwd.split('\n').find((candidate) => candidate.split(':')[0] === name);
    if (line === undefined) return { exitCode: 6, stderr: `userdel: user '${name}' does not exist\n` };
    system.addFile('/etc/passwd', passwd.split('\n').filter((candidate) => candidate !== line).join('\n'));
    system.addFile('/etc/shadow', (system.text('/etc/shadow') ?? '').split('\n').filter((candidate) => candidate.split(':')[0] !== name).join('\n'), { mode: 0o640, gid: 42 });
    if (call.args.includes('--remove')) await system.remove(line.split(':')[5]!, { recursive: true });
    return { exitCode: 0 };
  });

  // The real visudo checks the candidate's text when it is installed (a temp file only).
  system.onCommand('visudo', (call) => {
    const file = call.args.at(-1)!;
    const text = system.text(file);
    if (text === undefined) return { exitCode: 1, stderr: `visudo: unable to open ${file}\n` };
    if (machine.visudoRejects) return { exitCode: 1, stderr: `${file}:1:1: syntax error\n` };
    if (realVisudo === undefined) return { exitCode: 0 };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmaccess-visudo-'));
    try {
      const copy = path.join(dir, 'candidate');
      fs.writeFileSync(copy, text, { mode: 0o440 });
      execFileSync(realVisudo, ['-c', '-q', '-f', copy], { stdio: 'ignore' });
      return { exitCode: 0 };
    } catch {
      return { exitCode: 1, stderr: `${file}: parse error\n` };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // setpriv running the key-writing script as the user: the kernel's permission check is
  // modelled as "the (resolved) parent directory is owned by that uid".
  system.onCommand('setpriv', async (call) => {
    const uid = Number(optionValue(call.args, '--reuid'));
    const gid = Number(optionValue(call.args, '--regid'));
    const dashes = call.args.indexOf('--');
    const [shell, , , name, ...rest] = call.args.slice(dashes + 1);
    if (shell !== '/bin/sh') throw new Error(`setpriv: unexpected ${call.args.join(' ')}`);
    if (name === 'vmaccess-keys-probe') return { exitCode: 0 };
    if (name === 'vmaccess-keys-read') {
      // The read script: a link or non-file at the name is refused, a missing file is exit 4.
      const info = await system.lstat(rest[0] ?? '');
      if (info === undefined) return { exitCode: 4 };
      if (info.type !== 'file') return { exitCode: 3, stderr: `it is ${info.type === 'symlink' ? 'a symbolic link' : 'not a regular file'}\n` };
      if (info.uid !== uid && (info.mode & 0o004) === 0) return { exitCode: 1, stderr: `dd: failed to open '${rest[0]}': Permission denied\n` };
      return { exitCode: 0, stdout: system.text(rest[0] ?? '') ?? '' };
    }
    if (name !== 'vmaccess-keys') throw new Error(`setpriv: unexpected script ${name ?? ''}`);
    const [mode = '600', file = '', ...dirs] = rest;
    const writable = async (dir: string): Promise<boolean> => {
      const info = await system.stat(dir);
      return info?.type === 'directory' && (info.uid === uid || (info.mode & 0o002) !== 0);
    };
    for (const dir of dirs) {
      if ((await system.lstat(dir)) !== undefined) return { exitCode: 1, stderr: `mkdir: cannot create directory '${dir}': File exists\n` };
      if (!(await writable(path.posix.dirname(dir)))) return { exitCode: 1, stderr: `mkdir: cannot create directory '${dir}': Permission denied\n` };
      await system.mkdir(dir, { mode: 0o700 });
      await system.chown(dir, uid, gid);
    }
    if (!(await writable(path.posix.dirname(file)))) return { exitCode: 1, stderr: `mktemp: failed to create file via template: Permission denied\n` };
    await system.writeFileAtomic(file, call.input ?? '', { mode: Number.parseInt(mode, 8), uid, gid });
    return { exitCode: 0 };
  });

  system.onCommand('restorecon', () => ({ exitCode: 0 }));
  return machine;
}

/** Every file's node object: writeFileAtomic replaces nodes, so identity shows what was written. */
export function snapshotNodes(system: FakeSystem): Map<string, object> {
  return new Map([...system.nodes.entries()].map(([key, node]) => [key, node]));
}

/** Paths whose node was replaced, added or removed since the snapshot (ignoring mutated metadata). */
export function changedPaths(system: FakeSystem, before: Map<string, object>): string[] {
  const changed = new Set<string>();
  for (const [key, node] of system.nodes) if (before.get(key) !== node) changed.add(key);
  for (const key of before.keys()) if (!system.nodes.has(key)) changed.add(key);
  return [...changed].sort();
}
