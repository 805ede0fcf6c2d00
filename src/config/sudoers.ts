import { VmaccessError } from '../errors.js';

/**
 * /etc/sudoers.d/waagent as text: one line per user, in the form the guest agent itself
 * writes (`name ALL=(ALL) NOPASSWD: ALL` or `name ALL=(ALL) ALL`). Lines that are not a
 * single-user entry for the user being changed are kept byte for byte.
 */

/** Characters a user name may have in a line we write (portable login names, plus upper case and a trailing `$`). */
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/;
/** Names that may stand unquoted: anything else (ALL, upper-case alias-like names, dots) is double-quoted. */
const BARE_NAME = /^[a-z_][a-z0-9_-]*\$?$/;

/**
 * The user name as sudoers must see it. Unquoted, `ALL` would grant everyone and an
 * upper-case name would be read as a User_Alias; quoting makes each a plain user name
 * (checked with `visudo -x`). Anything outside the safe set is refused outright, so no
 * name can carry sudoers syntax (newlines, commas, `=`, `:`, `#`, `%`, quotes).
 */
export function sudoersUserToken(name: string): string {
  if (name.length === 0 || name.length > 32 || !SAFE_NAME.test(name)) {
    throw new VmaccessError('SETTINGS_INVALID', 'The user name contains characters that cannot be written safely to sudoers.');
  }
  return BARE_NAME.test(name) ? name : `"${name}"`;
}

export function sudoersLine(name: string, options: { nopasswd: boolean }): string {
  return `${sudoersUserToken(name)} ALL=(ALL) ${options.nopasswd ? 'NOPASSWD: ' : ''}ALL`;
}

/** The user list at the start of a sudoers entry, unquoted and unescaped, or undefined for other lines. */
export function sudoersEntryUsers(line: string): string[] | undefined {
  const text = line.replace(/^[ \t]+/, '');
  if (text === '' || text.startsWith('#') || text.startsWith('@') || /^(Defaults|User_Alias|Runas_Alias|Host_Alias|Cmnd_Alias|Cmd_Alias)\b/.test(text)) {
    return undefined;
  }
  const users: string[] = [];
  let current = '';
  let index = 0;
  const isBlank = (char: string | undefined): boolean => char === ' ' || char === '\t' || char === '\n';
  for (; index < text.length; index += 1) {
    const char = text[index]!;
    if (char === '"') {
      const end = text.indexOf('"', index + 1);
      if (end === -1) return undefined;
      current += text.slice(index + 1, end);
      index = end;
    } else if (char === '\\' && text[index + 1] === '\n') {
      index += 1;
    } else if (char === '\\' && index + 1 < text.length) {
      current += text[index + 1];
      index += 1;
    } else if (char === ',') {
      users.push(current);
      current = '';
      while (isBlank(text[index + 1])) index += 1;
    } else if (isBlank(char)) {
      // `alice , bob ALL=...`: blanks before a comma continue the list.
      let next = index;
      while (isBlank(text[next])) next += 1;
      if (text[next] !== ',') break;
      index = next - 1;
    } else {
      current += char;
    }
  }
  if (current !== '') users.push(current);
  return users.length > 0 && index < text.length ? users : undefined;
}

interface LogicalLine {
  /** Physical lines (without their newline) making up this logical line. */
  physical: string[];
}

function logicalLines(text: string): { lines: LogicalLine[]; hadFinalNewline: boolean } {
  if (text === '') return { lines: [], hadFinalNewline: false };
  const physical = text.split('\n');
  const hadFinalNewline = text.endsWith('\n');
  if (hadFinalNewline) physical.pop();
  const lines: LogicalLine[] = [];
  let current: string[] = [];
  for (const line of physical) {
    current.push(line);
    // A trailing backslash continues an entry on the next line (sudoers(5)).
    if (!line.endsWith('\\')) {
      lines.push({ physical: current });
      current = [];
    }
  }
  if (current.length > 0) lines.push({ physical: current });
  return { lines, hadFinalNewline };
}

function isEntryFor(line: LogicalLine, name: string): boolean {
  const users = sudoersEntryUsers(line.physical.join('\n'));
  return users !== undefined && users.length === 1 && users[0] === name;
}

function render(lines: LogicalLine[], finalNewline: boolean): string {
  if (lines.length === 0) return '';
  const body = lines.map((line) => line.physical.join('\n')).join('\n');
  return finalNewline ? `${body}\n` : body;
}

/**
 * Give `name` exactly one line: the first entry that is for this user alone is replaced,
 * later ones dropped, and the line appended when there was none. Entries naming several
 * users are someone else's and stay as they are.
 */
export function setSudoersUser(existing: string | undefined, name: string, options: { nopasswd: boolean }): string {
  const wanted = sudoersLine(name, options);
  const { lines, hadFinalNewline } = logicalLines(existing ?? '');
  const result: LogicalLine[] = [];
  let placed = false;
  for (const line of lines) {
    if (!isEntryFor(line, name)) {
      result.push(line);
    } else if (!placed) {
      result.push({ physical: [wanted] });
      placed = true;
    }
  }
  if (!placed) result.push({ physical: [wanted] });
  // A file that lacked a final newline keeps lacking it unless our line ends up last.
  const last = result.at(-1)?.physical;
  const endsWithOurs = last?.length === 1 && last[0] === wanted;
  return render(result, hadFinalNewline || lines.length === 0 || endsWithOurs);
}

/** Drop every entry for `name` alone; everything else byte for byte. */
export function removeSudoersUser(existing: string | undefined, name: string): string {
  if (existing === undefined) return '';
  const { lines, hadFinalNewline } = logicalLines(existing);
  const kept = lines.filter((line) => !isEntryFor(line, name));
  if (kept.length === lines.length) return existing;
  // The line that is now last had its newline in the original unless it was already last.
  return render(kept, hadFinalNewline || kept.at(-1) !== lines.at(-1));
}

/** `- old` / `+ new` lines between two versions of a small file, for plans. */
export function lineDiff(before: string, after: string): string[] {
  const oldLines = before === '' ? [] : before.replace(/\n$/, '').split('\n');
  const newLines = after === '' ? [] : after.replace(/\n$/, '').split('\n');
  const oldSet = new Set(oldLines);
  const newSet = new Set(newLines);
  return [...oldLines.filter((line) => !newSet.has(line)).map((line) => `- ${line}`), ...newLines.filter((line) => !oldSet.has(line)).map((line) => `+ ${line}`)];
}
