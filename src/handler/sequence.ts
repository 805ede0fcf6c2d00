import * as path from 'node:path';
import type { System } from '../system/system.js';

/**
 * The sequence number to work on (contract §2.3, checklist item 1):
 * ConfigSequenceNumber from the agent, else the most recently modified
 * `<n>.settings` (not the highest number: numbers restart at 0 after a re-add).
 */

const SETTINGS_NAME = /^(\d+)\.settings$/;

export async function resolveSequenceNumber(system: System, configFolder: string, fromEnvironment: string | undefined): Promise<number | undefined> {
  const trimmed = fromEnvironment?.trim();
  if (trimmed !== undefined && /^\d+$/.test(trimmed)) return Number(trimmed);
  const names = (await system.listDir(configFolder)) ?? [];
  let newest: { seq: number; mtimeMs: number } | undefined;
  for (const name of names) {
    const match = SETTINGS_NAME.exec(name);
    if (match === null) continue;
    const info = await system.stat(path.join(configFolder, name));
    if (info?.type !== 'file') continue;
    const seq = Number(match[1]);
    if (newest === undefined || info.mtimeMs > newest.mtimeMs || (info.mtimeMs === newest.mtimeMs && seq > newest.seq)) {
      newest = { seq, mtimeMs: info.mtimeMs };
    }
  }
  return newest?.seq;
}

export function settingsPath(configFolder: string, seq: number): string {
  return path.join(configFolder, `${seq}.settings`);
}

/** The handler's own record of the last sequence number applied to completion. */
export function mrseqPath(handlerDir: string): string {
  return path.join(handlerDir, 'mrseq');
}

export async function readMrseq(system: System, handlerDir: string): Promise<number | undefined> {
  const text = await system.readText(mrseqPath(handlerDir));
  const trimmed = text?.trim();
  return trimmed !== undefined && /^\d+$/.test(trimmed) ? Number(trimmed) : undefined;
}

export async function writeMrseq(system: System, handlerDir: string, seq: number): Promise<void> {
  await system.writeFileAtomic(mrseqPath(handlerDir), String(seq), { mode: 0o600 });
}
