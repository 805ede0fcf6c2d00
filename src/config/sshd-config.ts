/**
 * Pure text transforms for sshd_config(5) files: read keywords the way sshd splits
 * them, find Include and Match lines, and add or remove the blocks vmaccess owns.
 *
 * Every edit works on whole lines and never re-serialises a line it does not own,
 * so comments, blank lines, tabs, quoting and a missing final newline survive byte
 * for byte (the ssh-config package re-quotes values, drops trailing blanks and eats
 * the space before an end-of-line comment; see docs/ssh-server.md).
 */

export interface SshdDirective {
  /** 0-based line number in the file. */
  line: number;
  /** Lower-case keyword, as sshd compares them. */
  keyword: string;
  args: string[];
  /** Inside a Match block (between a Match line and the next one, or end of file). */
  inMatch: boolean;
}

/** Splits text into lines; the last element is '' when the text ends with a newline. */
function splitLines(text: string): string[] {
  return text.split('\n');
}

/**
 * Tokenise one line as sshd does (misc.c argv_split with terminate_on_comment):
 * whitespace separates words, double or single quotes group them, a backslash
 * escapes a quote, space or backslash, and a word starting with `#` ends the line.
 * The keyword may be followed by `=` (`Port=22`).
 */
export function tokenizeSshdLine(line: string): { keyword: string; args: string[] } | undefined {
  const words: string[] = [];
  let index = 0;
  const text = line.replace(/[\s\f]+$/, '');
  while (index < text.length) {
    while (index < text.length && /[ \t\r]/.test(text[index] ?? '')) index++;
    if (index >= text.length) break;
    if (text[index] === '#') break;
    let word = '';
    let quote: string | undefined;
    while (index < text.length) {
      const char = text[index] ?? '';
      if (quote === undefined && /[ \t\r]/.test(char)) break;
      if (char === '\\' && index + 1 < text.length && /["'\\ ]/.test(text[index + 1] ?? '')) {
        word += text[index + 1];
        index += 2;
        continue;
      }
      if (quote === undefined && (char === '"' || char === "'")) {
        quote = char;
        index++;
        continue;
      }
      if (quote !== undefined && char === quote) {
        quote = undefined;
        index++;
        continue;
      }
      word += char;
      index++;
    }
    words.push(word);
  }
  if (words.length === 0) return undefined;
  let first = words[0] ?? '';
  const rest = words.slice(1);
  // `Keyword=value`, `Keyword= value` and `Keyword = value` are all accepted.
  const equals = first.indexOf('=');
  if (equals > 0) {
    const tail = first.slice(equals + 1);
    first = first.slice(0, equals);
    if (tail !== '') rest.unshift(tail);
  } else if (rest[0] === '=') {
    rest.shift();
  } else if (rest[0]?.startsWith('=') === true) {
    rest[0] = rest[0].slice(1);
  }
  return { keyword: first.toLowerCase(), args: rest };
}

export function parseSshdDirectives(text: string): SshdDirective[] {
  const directives: SshdDirective[] = [];
  let inMatch = false;
  splitLines(text).forEach((raw, line) => {
    const token = tokenizeSshdLine(raw);
    if (token === undefined) return;
    if (token.keyword === 'match') inMatch = true;
    directives.push({ line, keyword: token.keyword, args: token.args, inMatch: token.keyword === 'match' ? false : inMatch });
  });
  return directives;
}

/** Values of the first top-level (outside Match) use of a keyword, or undefined. */
export function firstGlobalValue(text: string, keyword: string): string[] | undefined {
  const wanted = keyword.toLowerCase();
  return parseSshdDirectives(text).find((directive) => directive.keyword === wanted && !directive.inMatch)?.args;
}

export interface IncludeDirective {
  line: number;
  patterns: string[];
  inMatch: boolean;
}

export function findIncludes(text: string): IncludeDirective[] {
  return parseSshdDirectives(text)
    .filter((directive) => directive.keyword === 'include')
    .map((directive) => ({ line: directive.line, patterns: directive.args, inMatch: directive.inMatch }));
}

/** sshd_config(5): "Files without absolute paths are assumed to be in /etc/ssh." */
export function absoluteIncludePattern(pattern: string, sshDir: string): string {
  return pattern.startsWith('/') ? pattern : `${sshDir.replace(/\/+$/, '')}/${pattern}`;
}

function quoteArg(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./*?[\]{}!-]+$/.test(value) ? value : `"${value.replace(/(["\\])/g, '\\$1')}"`;
}

/**
 * Rewrites every Include line's patterns with `map` (used to point a staged copy of
 * the configuration at staged drop-ins). Other lines are left untouched.
 */
export function rewriteIncludes(text: string, map: (pattern: string) => string): string {
  const lines = splitLines(text);
  for (const include of findIncludes(text)) {
    const raw = lines[include.line] ?? '';
    const indent = /^\s*/.exec(raw)?.[0] ?? '';
    const eol = raw.endsWith('\r') ? '\r' : '';
    lines[include.line] = `${indent}Include ${include.patterns.map((pattern) => quoteArg(map(pattern))).join(' ')}${eol}`;
  }
  return lines.join('\n');
}

/** Removes Include lines whose patterns all point into `directory` (for templates on systems without it). */
export function dropIncludesInto(text: string, directory: string, sshDir: string): string {
  const prefix = `${directory.replace(/\/+$/, '')}/`;
  const drop = new Set(
    findIncludes(text)
      .filter((include) => include.patterns.every((pattern) => absoluteIncludePattern(pattern, sshDir).startsWith(prefix)))
      .map((include) => include.line),
  );
  return splitLines(text)
    .filter((_line, index) => !drop.has(index))
    .join('\n');
}

// ---- glob(7) as sshd's Include uses it ---------------------------------------

/** A glob(7) pattern for one path component as a regular expression; no leading-dot matches. */
export function globComponentToRegExp(component: string): RegExp {
  let source = '';
  for (let index = 0; index < component.length; index++) {
    const char = component[index] ?? '';
    if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else if (char === '[') {
      const close = component.indexOf(']', index + 2);
      if (close === -1) {
        source += '\\[';
        continue;
      }
      let body = component.slice(index + 1, close);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      source += `[${body.replace(/\\/g, '\\\\')}]`;
      index = close;
    } else if (char === '\\' && index + 1 < component.length) {
      source += escapeRegExp(component[index + 1] ?? '');
      index++;
    } else source += escapeRegExp(char);
  }
  const leadingDot = component.startsWith('.') ? '' : '(?!\\.)';
  return new RegExp(`^${leadingDot}${source}$`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

export function hasGlobMagic(text: string): boolean {
  return /[*?[]/.test(text);
}

/** Whether an absolute path matches an absolute glob pattern, component by component. */
export function globMatches(pattern: string, candidate: string): boolean {
  const patternParts = pattern.split('/').filter(Boolean);
  const parts = candidate.split('/').filter(Boolean);
  if (patternParts.length !== parts.length) return false;
  return patternParts.every((part, index) => globComponentToRegExp(part).test(parts[index] ?? ''));
}

// ---- blocks vmaccess owns ---------------------------------------------------

/** Per-user settings vmaccess adds so that user can log in with a password. */
export interface PasswordGrant {
  user: string;
  /** Keyword and value pairs inside the user's Match block, in order. */
  settings: [string, string][];
}

export const MANAGED_BEGIN = '# BEGIN vmaccess password access: managed by the VMAccessForLinux extension, edits are replaced';
export const MANAGED_END = '# END vmaccess password access';
/** Closes the managed block's last Match User: what follows is global again. */
export const MATCH_ALL = 'Match all';
export const DROP_IN_HEADER = [
  '# Managed by the VMAccessForLinux extension (vmaccess): password login for the users below,',
  '# and only for them. Edits here are replaced the next time vmaccess resets a password.',
];

function renderGrants(grants: readonly PasswordGrant[]): string[] {
  const lines: string[] = [];
  for (const grant of [...grants].sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0))) {
    lines.push(`Match User ${grant.user}`);
    for (const [keyword, value] of grant.settings) lines.push(`\t${keyword} ${value}`);
  }
  return lines;
}

/** The whole drop-in file for these grants; '' when there are none. */
export function renderPasswordDropIn(grants: readonly PasswordGrant[]): string {
  if (grants.length === 0) return '';
  return `${[...DROP_IN_HEADER, ...renderGrants(grants)].join('\n')}\n`;
}

/** Grants in text vmaccess wrote (its drop-in, or the body of its managed block). */
export function parsePasswordGrants(text: string): PasswordGrant[] {
  const grants: PasswordGrant[] = [];
  let current: PasswordGrant | undefined;
  for (const raw of splitLines(text)) {
    const token = tokenizeSshdLine(raw);
    if (token === undefined) continue;
    if (token.keyword === 'match') {
      current = undefined;
      if (token.args.length === 2 && token.args[0]?.toLowerCase() === 'user' && token.args[1] !== undefined) {
        current = { user: token.args[1], settings: [] };
        grants.push(current);
      }
      continue;
    }
    const keyword = raw.trim().split(/[\s=]/)[0] ?? token.keyword;
    current?.settings.push([keyword, token.args.join(' ')]);
  }
  return grants;
}

interface ManagedBlock {
  start: number;
  /** Line index of the END marker. */
  end: number;
}

function findManagedBlock(lines: readonly string[]): ManagedBlock | undefined {
  const start = lines.findIndex((line) => line.trimEnd() === MANAGED_BEGIN);
  if (start === -1) return undefined;
  const endOffset = lines.slice(start + 1).findIndex((line) => line.trimEnd() === MANAGED_END);
  // A BEGIN without END (someone edited the file) is not treated as ours: there is
  // no telling where it stops, and removing too much could drop someone's settings.
  if (endOffset === -1) return undefined;
  return { start, end: start + 1 + endOffset };
}

export function readManagedBlockGrants(text: string): PasswordGrant[] | undefined {
  const lines = splitLines(text);
  const block = findManagedBlock(lines);
  if (block === undefined) return undefined;
  return parsePasswordGrants(lines.slice(block.start + 1, block.end).join('\n'));
}

export function removeManagedBlock(text: string): string {
  const lines = splitLines(text);
  const block = findManagedBlock(lines);
  if (block === undefined) return text;
  lines.splice(block.start, block.end - block.start + 1);
  return lines.join('\n');
}

/**
 * Puts the managed block where a Match block takes effect for the user: Match
 * blocks override global settings whatever their position, but among Match blocks
 * the first one that sets a keyword wins, so the block goes before the first
 * existing top-level Match (and the comment lines directly above it), else at the
 * end. The block ends with `Match all` (OpenSSH 6.5+; EL7 has 7.4): without it a
 * line appended to the file later (`echo 'UseDNS no' >> sshd_config`, cloud-init)
 * would land inside the last user's block, where a global-only keyword stops sshd
 * from starting ("not allowed within a Match block") and a Match keyword silently
 * applies to that one user. After `Match all` such a line is global again.
 */
export function insertManagedBlock(text: string, grants: readonly PasswordGrant[]): string {
  const base = removeManagedBlock(text);
  if (grants.length === 0) return base;
  const block = [MANAGED_BEGIN, ...renderGrants(grants), MATCH_ALL, MANAGED_END];
  const lines = splitLines(base);
  const firstMatch = parseSshdDirectives(base).find((directive) => directive.keyword === 'match');
  if (firstMatch === undefined) {
    const endsWithNewline = base === '' || base.endsWith('\n');
    const body = endsWithNewline ? base : `${base}\n`;
    return `${body}${block.join('\n')}\n`;
  }
  let at = firstMatch.line;
  while (at > 0 && /^\s*#/.test(lines[at - 1] ?? '') && (lines[at - 1] ?? '').trimEnd() !== MANAGED_END) at--;
  lines.splice(at, 0, ...block);
  return lines.join('\n');
}
