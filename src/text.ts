/**
 * Small text helpers shared by every layer: pure, no imports. Limits are parameters
 * because each caller knows its budget (a status substatus, a one-line reason).
 */

/** `text` cut to at most `max` characters, ending in "..." when it was cut. */
export function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, Math.max(0, max - 3))}...` : text;
}

/** The first line of `text` that is not blank, trimmed and cut to `max` characters; `fallback` when there is none. */
export function firstLine(text: string, max: number, fallback = ''): string {
  const line = text.split('\n').find((candidate) => candidate.trim() !== '');
  return line === undefined ? fallback : line.trim().slice(0, max);
}
