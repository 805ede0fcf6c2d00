import { finding, ok, type CheckVerdict } from './verdict.js';

/**
 * PAM account refusals the handler can see without logging in: pam_access in sshd's
 * account stack with a rule in access.conf(5) that denies the user. Pure text in,
 * verdicts out; the handler cannot clear these, so they are warnings.
 */

export interface PamModuleUse {
  /** The pam.d file and 1-based line. */
  where: string;
  /** `accessfile=` when given. */
  accessFile?: string;
}

/** Files an account stack pulls in: `@include x`, `account include x`, `account substack x`. */
export function pamAccountIncludes(text: string): string[] {
  const names: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const words = line.split(/\s+/);
    if (words[0] === '@include' && words[1] !== undefined) names.push(words[1]);
    else if (/^-?account$/.test(words[0] ?? '') && (words[1] === 'include' || words[1] === 'substack') && words[2] !== undefined) names.push(words[2]);
  }
  return names;
}

/** The first `account ... pam_access.so` line of one pam.d file. */
export function findPamAccess(text: string, file: string): PamModuleUse | undefined {
  const lines = text.split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!/^-?account\s/.test(line)) continue;
    // The control may be a bracketed list with spaces: find the module word instead of counting fields.
    const words = line.split(/\s+/);
    const moduleIndex = words.findIndex((word) => /(^|\/)pam_access\.so$/.test(word));
    if (moduleIndex === -1) continue;
    const accessFile = words.slice(moduleIndex + 1).find((word) => word.startsWith('accessfile='))?.slice('accessfile='.length);
    return { where: `${file}:${index + 1}`, ...(accessFile === undefined ? {} : { accessFile }) };
  }
  return undefined;
}

interface AccessRule {
  line: number;
  permission: '+' | '-';
  users: string[];
  origins: string[];
}

export function parseAccessConf(text: string): AccessRule[] {
  const rules: AccessRule[] = [];
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const first = line.indexOf(':');
    const second = first === -1 ? -1 : line.indexOf(':', first + 1);
    if (second === -1) continue;
    const permission = line.slice(0, first).trim();
    if (permission !== '+' && permission !== '-') continue;
    const list = (value: string): string[] => value.split(/[\s,]+/).filter((item) => item !== '');
    rules.push({ line: index + 1, permission, users: list(line.slice(first + 1, second)), origins: list(line.slice(second + 1)) });
  }
  return rules;
}

/** A list with an optional `EXCEPT` part matches when an item before it matches and none after it does. */
function listMatches(items: readonly string[], matches: (item: string) => boolean): boolean {
  const except = items.findIndex((item) => item === 'EXCEPT');
  const head = except === -1 ? items : items.slice(0, except);
  const tail = except === -1 ? [] : items.slice(except + 1);
  return head.some(matches) && !(tail.length > 0 && listMatches(tail, matches));
}

function userItemMatches(item: string, user: string, groups: readonly string[]): boolean {
  if (item === 'ALL') return true;
  if (item === user) return true;
  const grouped = /^\((.+)\)$/.exec(item)?.[1];
  if (grouped !== undefined) return groups.includes(grouped);
  // Without nodefgroup, pam_access also tries a plain item as a group name.
  return !item.startsWith('@') && groups.includes(item);
}

/** Whether an origins list covers every remote host (ALL, perhaps with EXCEPT), some, or none. */
function originScope(origins: readonly string[]): 'all' | 'some' | 'none' {
  const except = origins.indexOf('EXCEPT');
  const head = except === -1 ? origins : origins.slice(0, except);
  if (head.includes('ALL')) return except === -1 ? 'all' : 'some';
  // LOCAL and tty names never match an SSH connection from another host.
  return head.some((item) => item !== 'LOCAL' && !item.startsWith('tty') && !item.startsWith('/dev/')) ? 'some' : 'none';
}

export function judgePamAccess(user: string, groups: readonly string[], use: PamModuleUse | undefined, accessFile: string, accessConf: string | undefined): CheckVerdict {
  const name = 'pam_access';
  if (use === undefined) return ok(name, 'pam_access is not in the sshd account stack', user);
  if (accessConf === undefined) return ok(name, `pam_access is used (${use.where}) but ${accessFile} does not exist`, user);
  for (const rule of parseAccessConf(accessConf)) {
    if (!listMatches(rule.users, (item) => userItemMatches(item, user, groups))) continue;
    const scope = originScope(rule.origins);
    if (scope === 'none') continue;
    const evidence = `${accessFile}:${rule.line} "${rule.permission} : ${rule.users.join(' ')} : ${rule.origins.join(' ')}" (pam_access at ${use.where})`;
    if (rule.permission === '+') {
      if (scope === 'all') return ok(name, `allowed by ${evidence}`, user);
      continue;
    }
    return finding(name, 'warning', `${scope === 'all' ? 'denied' : 'denied from some hosts'} by ${evidence}`, {
      user,
      advice: `edit ${accessFile} by hand: no request of this handler changes PAM rules`,
    });
  }
  return ok(name, `no rule in ${accessFile} denies the user`, user);
}
