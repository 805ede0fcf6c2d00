/**
 * /etc/login.defs and /etc/default/useradd as text: the ranges and defaults the shadow
 * tools apply, which decide what counts as a system account here.
 */

/** `KEY value` pairs of login.defs(5); later lines win, as in the shadow tools. */
export function parseLoginDefs(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(\S+)\s+(.*)$/.exec(line);
    if (match === null) continue;
    values.set(match[1]!, match[2]!.trim().replace(/^"(.*)"$/, '$1'));
  }
  return values;
}

export interface UidRange {
  min: number;
  max: number;
}

/** shadow's built-in defaults when login.defs does not say (UID_MIN 1000, UID_MAX 60000). */
export const DEFAULT_UID_RANGE: UidRange = { min: 1000, max: 60000 };

export function uidRange(loginDefs: string | undefined): UidRange {
  const values = parseLoginDefs(loginDefs ?? '');
  const read = (key: string, fallback: number): number => {
    const value = values.get(key);
    return value !== undefined && /^\d+$/.test(value) ? Number(value) : fallback;
  };
  return { min: read('UID_MIN', DEFAULT_UID_RANGE.min), max: read('UID_MAX', DEFAULT_UID_RANGE.max) };
}

/** `KEY=value` pairs of /etc/default/useradd (SHELL, HOME, GROUP, ...). */
export function parseUseraddDefaults(text: string | undefined): Map<string, string> {
  const values = new Map<string, string>();
  for (const raw of (text ?? '').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Z_]+)=(.*)$/.exec(line);
    if (match !== null) values.set(match[1]!, match[2]!.trim().replace(/^"(.*)"$/, '$1'));
  }
  return values;
}

/** Shells listed in /etc/shells. */
export function parseShells(text: string | undefined): string[] {
  return (text ?? '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('/'));
}
