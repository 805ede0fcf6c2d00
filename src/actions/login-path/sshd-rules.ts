import { parseSshdDirectives } from '../../config/sshd-config.js';
import { authorizedKeysPatterns, expandAuthorizedKeysPath, parseListenAddress, userPatternMatches } from '../../config/sshd-semantics.js';
import type { EffectiveSshdConfig } from '../sshd-effective.js';
import { finding, ok, type CheckVerdict, type LoginMeans } from './verdict.js';

/**
 * What sshd -T says about one user, judged the way sshd judges a login (auth.c
 * allowed_user, auth2.c method lists). Pure: the effective configuration, the user's
 * groups and the configuration files' text come in as values.
 */

export interface ConfigSource {
  path: string;
  text: string;
}

/** The main sshd_config and, per Include line of it, the files it pulled in (sorted, as sshd globs them). */
export interface ConfigSources {
  main: ConfigSource;
  includes: { line: number; files: ConfigSource[] }[];
}

/** `file:line` of the first use of `keyword` in sshd's read order, or undefined. */
export function locateKeyword(sources: ConfigSources | undefined, keyword: string): string | undefined {
  if (sources === undefined) return undefined;
  const wanted = keyword.toLowerCase();
  for (const directive of parseSshdDirectives(sources.main.text)) {
    if (directive.keyword === 'include') {
      for (const file of sources.includes.find((entry) => entry.line === directive.line)?.files ?? []) {
        const hit = parseSshdDirectives(file.text).find((inner) => inner.keyword === wanted);
        if (hit !== undefined) return `${file.path}:${hit.line + 1}`;
      }
      continue;
    }
    if (directive.keyword === wanted) return `${sources.main.path}:${directive.line + 1}`;
  }
  return undefined;
}

function where(sources: ConfigSources | undefined, keyword: string): string {
  const location = locateKeyword(sources, keyword);
  return location === undefined ? '' : ` (${location})`;
}

function values(config: EffectiveSshdConfig, keyword: string): string[] {
  return config.getAll(keyword).flatMap((value) => value.split(/\s+/)).filter((value) => value !== '');
}

function groupMatches(pattern: string, group: string): boolean {
  return userPatternMatches(pattern, group);
}

/** AllowUsers, DenyUsers, AllowGroups, DenyGroups in sshd's order (auth.c allowed_user). */
export function judgeAccessLists(config: EffectiveSshdConfig, user: string, groups: readonly string[], sources?: ConfigSources): CheckVerdict {
  const name = 'sshd_access';
  const denyUsers = values(config, 'denyusers');
  const deniedBy = denyUsers.find((pattern) => userPatternMatches(pattern, user));
  if (deniedBy !== undefined) return finding(name, 'blocked', `DenyUsers ${deniedBy} matches ${user}${where(sources, 'denyusers')}`, { user, fix: 'reset_ssh' });
  const allowUsers = values(config, 'allowusers');
  if (allowUsers.length > 0 && !allowUsers.some((pattern) => userPatternMatches(pattern, user))) {
    return finding(name, 'blocked', `AllowUsers ${allowUsers.join(' ')} does not list ${user}${where(sources, 'allowusers')}`, { user, fix: 'reset_ssh' });
  }
  const denyGroups = values(config, 'denygroups');
  const deniedGroup = denyGroups.find((pattern) => groups.some((group) => groupMatches(pattern, group)));
  if (deniedGroup !== undefined) {
    return finding(name, 'blocked', `DenyGroups ${deniedGroup} matches a group of ${user} (${groups.join(', ')})${where(sources, 'denygroups')}`, { user, fix: 'reset_ssh' });
  }
  const allowGroups = values(config, 'allowgroups');
  if (allowGroups.length > 0 && !allowGroups.some((pattern) => groups.some((group) => groupMatches(pattern, group)))) {
    return finding(name, 'blocked', `AllowGroups ${allowGroups.join(' ')} matches none of ${user}'s groups (${groups.join(', ') || 'none'})${where(sources, 'allowgroups')}`, {
      user,
      fix: 'reset_ssh',
    });
  }
  return ok(name, 'no AllowUsers/DenyUsers/AllowGroups/DenyGroups entry refuses the user', user);
}

function isYes(config: EffectiveSshdConfig, keyword: string): boolean {
  return config.get(keyword)?.toLowerCase() === 'yes';
}

/** Which of the user's ways in sshd offers: `publickey`, `password`, `keyboard-interactive`. */
export function offeredMethods(config: EffectiveSshdConfig, means: LoginMeans): Set<string> {
  const offered = new Set<string>();
  if (means.key && isYes(config, 'pubkeyauthentication')) offered.add('publickey');
  if (means.password && isYes(config, 'passwordauthentication')) offered.add('password');
  // keyboard-interactive asks for the password through PAM when UsePAM is on.
  const kbd = config.get('kbdinteractiveauthentication') ?? config.get('challengeresponseauthentication');
  if (means.password && kbd?.toLowerCase() === 'yes' && isYes(config, 'usepam')) offered.add('keyboard-interactive');
  return offered;
}

/** PubkeyAuthentication for a key, PasswordAuthentication or keyboard-interactive for a password. */
export function judgeAuthentication(config: EffectiveSshdConfig, user: string, means: LoginMeans, sources?: ConfigSources): CheckVerdict[] {
  const results: CheckVerdict[] = [];
  const offered = offeredMethods(config, means);
  const wanted = (means.key ? 1 : 0) + (means.password ? 1 : 0);
  // With two ways in, losing one is a warning; losing the only one blocks.
  const severity = wanted > 1 ? 'warning' : 'blocked';
  if (means.key) {
    results.push(
      offered.has('publickey')
        ? ok('pubkey_auth', 'PubkeyAuthentication yes', user)
        : finding('pubkey_auth', severity, `PubkeyAuthentication ${config.get('pubkeyauthentication') ?? 'unset'}${where(sources, 'pubkeyauthentication')}`, { user, fix: 'reset_ssh' }),
    );
  }
  if (means.password) {
    results.push(
      offered.has('password') || offered.has('keyboard-interactive')
        ? ok('password_auth', offered.has('password') ? 'PasswordAuthentication yes' : 'keyboard-interactive through PAM', user)
        : finding('password_auth', severity, `PasswordAuthentication ${config.get('passwordauthentication') ?? 'unset'}${where(sources, 'passwordauthentication')} and no keyboard-interactive`, {
            user,
            fix: 'password',
          }),
    );
  }
  if (wanted === 0) {
    results.push(finding('credentials', 'blocked', 'the account has neither an authorized key nor a usable password', { user, fix: 'ssh_key' }));
  }
  return results;
}

/** AuthenticationMethods: at least one list made only of methods the user has and sshd offers. */
export function judgeAuthenticationMethods(config: EffectiveSshdConfig, user: string, means: LoginMeans, sources?: ConfigSources): CheckVerdict {
  const name = 'authentication_methods';
  const setting = config.get('authenticationmethods') ?? 'any';
  if (setting === 'any') return ok(name, 'AuthenticationMethods any', user);
  const offered = offeredMethods(config, means);
  const lists = setting.split(/\s+/).filter((list) => list !== '');
  // `keyboard-interactive:pam` names a submethod; the method is what counts here.
  const satisfiable = lists.find((list) => list.split(',').every((method) => offered.has(method.split(':')[0] ?? method)));
  if (satisfiable !== undefined) return ok(name, `AuthenticationMethods ${setting}: ${satisfiable} is possible`, user);
  return finding(name, 'blocked', `AuthenticationMethods ${setting}${where(sources, 'authenticationmethods')} needs a method the user cannot complete`, { user, fix: 'reset_ssh' });
}

/** The key files sshd reads for this user, from the effective AuthorizedKeysFile. */
export function keysFilesOf(config: EffectiveSshdConfig, account: { name: string; uid: number; home: string }): string[] {
  const patterns = authorizedKeysPatterns(config.get('authorizedkeysfile'));
  if (patterns.length === 1 && patterns[0]?.toLowerCase() === 'none') return [];
  return patterns.map((pattern) => expandAuthorizedKeysPath(pattern, account)).filter((file): file is string => file !== undefined);
}

/** The file the key went to (or the user's keys live in) must be one sshd reads. */
export function judgeKeysFile(config: EffectiveSshdConfig, account: { name: string; uid: number; home: string }, keyFile: string, sources?: ConfigSources): CheckVerdict {
  const name = 'authorized_keys_file';
  const files = keysFilesOf(config, account);
  if (files.includes(keyFile)) return ok(name, `AuthorizedKeysFile includes ${keyFile}`, account.name);
  const setting = config.get('authorizedkeysfile') ?? 'unset';
  const command = config.get('authorizedkeyscommand');
  const viaCommand = command !== undefined && command.toLowerCase() !== 'none';
  return finding(name, viaCommand ? 'warning' : 'blocked', `AuthorizedKeysFile ${setting}${where(sources, 'authorizedkeysfile')} does not include ${keyFile}${viaCommand ? ' (an AuthorizedKeysCommand may still supply keys)' : ''}`, {
    user: account.name,
    fix: 'reset_ssh',
  });
}

/** UsePAM no makes sshd itself refuse an account whose password is locked, even for a key. */
export function usesPam(config: EffectiveSshdConfig): boolean {
  return isYes(config, 'usepam');
}

export function strictModes(config: EffectiveSshdConfig): boolean {
  return config.get('strictmodes')?.toLowerCase() !== 'no';
}

/** 127.0.0.0/8 and ::1: an sshd listening only there is reachable from the VM itself alone. */
function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === '::1';
}

/** The addresses and ports of the effective ListenAddress lines. */
function listeners(config: EffectiveSshdConfig): { address: string; port: number }[] {
  return config.getAll('listenaddress').flatMap((entry) => parseListenAddress(entry) ?? []);
}

/** sshd answering only on loopback is a lockout for every remote login, however well it answers. */
export function judgeListenScope(config: EffectiveSshdConfig, sources?: ConfigSources): CheckVerdict {
  const name = 'listen_scope';
  const addresses = listeners(config).map((listener) => listener.address);
  if (addresses.length === 0 || !addresses.every(isLoopback)) return ok(name, addresses.length === 0 ? 'sshd listens on every address' : `sshd listens on ${addresses.join(', ')}`);
  return finding(name, 'blocked', `sshd listens only on ${addresses.join(', ')} (loopback)${where(sources, 'listenaddress')}: nothing from the network reaches it`, { fix: 'reset_ssh' });
}

/**
 * Port 22 is where clients, `az ssh` and the VM's default network rule go. Another port is
 * often deliberate, so diagnose says it as a warning, naming where it is set.
 */
export function judgeListenPort(config: EffectiveSshdConfig, sources?: ConfigSources): CheckVerdict {
  const name = 'listen_port';
  const ports = [...new Set(listeners(config).map((listener) => String(listener.port)))];
  const effective = ports.length > 0 ? ports : config.getAll('port');
  if (effective.length === 0 || effective.includes('22')) return ok(name, `sshd listens on port ${effective.length === 0 ? '22' : effective.join(', ')}`);
  return finding(name, 'warning', `sshd listens on port ${effective.join(', ')}, not 22${where(sources, 'port') || where(sources, 'listenaddress')}: clients (ssh -p) and the network security rules must use that port`, { fix: 'reset_ssh' });
}
