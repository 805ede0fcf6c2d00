import { FakeSystem } from './fake-system.js';

/**
 * A fake machine for login-path tests: one admin account with a key, a scripted sshd
 * (`-T` prints a Debian-like dump with per-test overrides, optionally per user; `-t`
 * passes), and the account tools (`id -Gn`, `chage -l`, `passwd -S`) answering from
 * plain tables, so each test changes exactly the fact it is about.
 */

export const SSHD = '/usr/sbin/sshd';

export interface LoginWorldAccount {
  name: string;
  uid: number;
  home: string;
  shell: string;
  groups: string[];
  /** `chage -l` "Account expires" value, e.g. `never` or `Jan 01, 2026`. */
  expires: string;
  /** `passwd -S` status letter: P, L or NP. */
  passwordStatus: string;
}

const BASE_DUMP: [string, string][] = [
  ['port', '22'],
  ['listenaddress', '[::]:22'],
  ['listenaddress', '0.0.0.0:22'],
  ['usepam', 'yes'],
  ['pubkeyauthentication', 'yes'],
  ['passwordauthentication', 'yes'],
  ['kbdinteractiveauthentication', 'no'],
  ['authorizedkeysfile', '.ssh/authorized_keys .ssh/authorized_keys2'],
  ['authenticationmethods', 'any'],
  ['strictmodes', 'yes'],
  ['hostkey', '/etc/ssh/ssh_host_ed25519_key'],
];

export class LoginWorld {
  readonly system: FakeSystem;
  readonly accounts = new Map<string, LoginWorldAccount>();
  /** Keyword overrides for every user (`allowusers` -> `nobody`); an array value repeats the keyword. */
  readonly overrides = new Map<string, string | string[]>();
  /** Overrides for one user only, as a Match User block would. */
  readonly userOverrides = new Map<string, Map<string, string>>();
  sshdTestFails: string | undefined;
  rootUsedPercent = 40;

  /** `system`: an existing fake to lay the machine into (an agent layout, say). */
  constructor(system: FakeSystem = new FakeSystem()) {
    this.system = system;
    system.clock = new Date('2026-06-15T10:00:00Z');
    system.addFile(SSHD, 'binary', { mode: 0o755 });
    system.addFile('/bin/bash', 'binary', { mode: 0o755 });
    system.addFile('/usr/sbin/nologin', 'binary', { mode: 0o755 });
    system.addFile('/etc/ssh/ssh_host_ed25519_key', 'private', { mode: 0o600 });
    system.addFile('/etc/ssh/sshd_config', 'Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\n');
    system.addDir('/etc/ssh/sshd_config.d');
    system.addFile('/etc/pam.d/sshd', '@include common-auth\naccount    required     pam_nologin.so\n@include common-account\n');
    system.addFile('/etc/pam.d/common-account', 'account [success=1 new_authtok_reqd=done default=ignore] pam_unix.so\naccount requisite pam_deny.so\n');
    system.banners.set('127.0.0.1:22', 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3');
    system.banners.set('::1:22', 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3');
    this.addAccount({ name: 'azureadmin', uid: 1000, home: '/home/azureadmin', shell: '/bin/bash', groups: ['azureadmin', 'sudo'], expires: 'never', passwordStatus: 'NP' });
    system.addFile('/home/azureadmin/.ssh/authorized_keys', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl admin\n', { mode: 0o600, uid: 1000, gid: 1000 });
    system.addFile('/etc/sudoers.d/waagent', 'azureadmin ALL=(ALL) NOPASSWD: ALL\n', { mode: 0o440 });
    system.addFile('/etc/os-release', 'ID=debian\nVERSION_ID="12"\n');
    system.addFile('/proc/self/mounts', '/dev/sda1 / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n');
    system.addFile('/etc/init.d/ssh', '#!/bin/sh\n', { mode: 0o755 });
    system.addFile('/run/sshd.pid', '812\n');
    system.addFile('/proc/812/comm', 'sshd\n');
    system.alivePids.add(812);
    this.script();
  }

  addAccount(account: LoginWorldAccount): this {
    this.accounts.set(account.name, account);
    const lines = [...this.accounts.values()].map((entry) => `${entry.name}:x:${entry.uid}:${entry.uid}::${entry.home}:${entry.shell}`);
    this.system.addFile('/etc/passwd', `root:x:0:0:root:/root:/bin/bash\n${lines.join('\n')}\n`);
    this.system.addDir(account.home, 0o755, account.uid, account.uid);
    this.system.addDir(`${account.home}/.ssh`, 0o700, account.uid, account.uid);
    return this;
  }

  dump(user: string): string {
    const values = new Map<string, string[]>();
    for (const [keyword, value] of BASE_DUMP) values.set(keyword, [...(values.get(keyword) ?? []), value]);
    for (const [keyword, value] of this.overrides) values.set(keyword, Array.isArray(value) ? value : [value]);
    for (const [keyword, value] of this.userOverrides.get(user) ?? []) values.set(keyword, [value]);
    return `${[...values].flatMap(([keyword, list]) => list.map((value) => `${keyword} ${value}`)).join('\n')}\n`;
  }

  private script(): void {
    const system = this.system;
    system.onCommand(SSHD, (call) => {
      if (call.args[0] === '-t') return this.sshdTestFails === undefined ? { exitCode: 0 } : { exitCode: 255, stderr: this.sshdTestFails };
      if (call.args[0] !== '-T') return undefined;
      const user = /user=([^,]+)/.exec(call.args[2] ?? '')?.[1] ?? '';
      return { stdout: this.dump(user) };
    });
    system.onCommand('id', (call) => {
      const account = this.accounts.get(call.args.at(-1) ?? '');
      return account === undefined ? { exitCode: 1, stderr: 'no such user' } : { stdout: `${account.groups.join(' ')}\n` };
    });
    system.onCommand('chage', (call) => {
      const account = this.accounts.get(call.args.at(-1) ?? '');
      if (account === undefined) return { exitCode: 1 };
      return { stdout: `Last password change\t\t\t\t\t: Jan 10, 2026\nPassword expires\t\t\t\t\t: never\nAccount expires\t\t\t\t\t\t: ${account.expires}\n` };
    });
    // diagnose's machine checks: no firewall tool installed, a roomy writable root, no time source.
    for (const tool of ['firewall-cmd', 'ufw', 'iptables', 'ip6tables', 'nft', 'chronyc', 'timedatectl']) system.onCommand(tool, () => ({ exitCode: 127, started: false }));
    system.onCommand('df', (call) => ({ stdout: `Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 30000000 ${this.rootUsedPercent * 300000} ${(100 - this.rootUsedPercent) * 300000} ${this.rootUsedPercent}% ${call.args.at(-1) ?? '/'}\n` }));
    system.onCommand('passwd', (call) => {
      const account = this.accounts.get(call.args.at(-1) ?? '');
      return account === undefined ? { exitCode: 1 } : { stdout: `${account.name} ${account.passwordStatus} 01/10/2026 0 99999 7 -1\n` };
    });
  }
}
