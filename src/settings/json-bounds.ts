import { VmaccessError } from '../errors.js';

/**
 * Limits on a settings document, checked right after JSON.parse. V8 parses deep
 * nesting iteratively but JSON.stringify (the settings digest, the section merge)
 * recurses and overflows the stack on a few thousand levels; the contract's
 * settings are flat, so anything deeper or larger than these is not a request.
 */
export const SETTINGS_MAX_DEPTH = 32;
export const SETTINGS_MAX_VALUES = 10_000;
/** ssh_key may hold 256 KiB of keys; base64 CMS of that stays well under this. */
export const SETTINGS_MAX_BYTES = 2 * 1024 * 1024;

function tooLarge(what: string, detail: string): VmaccessError {
  return new VmaccessError('SETTINGS_TOO_LARGE', `${what} ${detail}.`, {
    hint: 'Send the flat settings the documentation describes and apply the extension again.',
  });
}

/** Throws SETTINGS_TOO_LARGE when `text` is over SETTINGS_MAX_BYTES characters. */
export function assertTextSize(text: string, what: string, maxBytes = SETTINGS_MAX_BYTES): void {
  if (text.length > maxBytes) throw tooLarge(what, `is larger than ${maxBytes} bytes`);
}

/**
 * Throws SETTINGS_TOO_LARGE when a parsed JSON value nests deeper than SETTINGS_MAX_DEPTH
 * or holds more than SETTINGS_MAX_VALUES values. Walks with an explicit stack, so the
 * check itself cannot overflow.
 */
export function assertJsonBounds(value: unknown, what: string): void {
  const pending: [unknown, number][] = [[value, 1]];
  let count = 0;
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, depth] = next;
    count += 1;
    if (count > SETTINGS_MAX_VALUES) throw tooLarge(what, `holds more than ${SETTINGS_MAX_VALUES} values`);
    if (typeof item !== 'object' || item === null) continue;
    if (depth > SETTINGS_MAX_DEPTH) throw tooLarge(what, `nests deeper than ${SETTINGS_MAX_DEPTH} levels`);
    const children: unknown[] = Array.isArray(item) ? item : Object.values(item);
    for (const child of children) pending.push([child, depth + 1]);
  }
}
