import * as path from 'node:path';
import { errnoCode, VmaccessError } from '../../errors.js';
import type { System } from '../../system/system.js';
import { sha256Hex } from '../file-digest.js';

/**
 * The undo record of one SSH change set: the exact state of every file before the
 * run changes it (bytes, mode and owner of a file; the target of a symbolic link; or
 * "absent"), kept in memory for a rollback and on disk (the journal) while the set is
 * applied, because several files cannot be renamed in one step. The journal also
 * holds the digest of what the run writes at each path, recorded before the write, so
 * that a later recovery can tell the run's own half-made files (put back) from a file
 * someone changed since (kept, never overwritten).
 */

/** What was at a path before the run: links are kept as links, never as their target's bytes. */
export type SavedState =
  | { kind: 'absent' }
  | { kind: 'file'; content: Uint8Array; mode: number; uid: number; gid: number }
  | { kind: 'link'; target: string };

interface JournalEntry {
  path: string;
  /** Missing in journals written before links were recorded: `existed` says file or absent. */
  kind?: 'absent' | 'file' | 'link';
  existed?: boolean;
  mode: number;
  uid: number;
  gid: number;
  /** File name of the saved copy inside the journal folder (kind file). */
  copy?: string;
  /** Link target, as written in the link (kind link). */
  target?: string;
  /** sha256 of what the run writes there, null when it removes the file; absent in older journals. */
  written?: string | null;
}

export interface UndoRecord {
  /**
   * Remember a file's current state before the run changes it (first call wins), with
   * what the run is about to leave there (content; null: removed or moved away).
   */
  remember(file: string, intended: string | Uint8Array | null): Promise<void>;
  /** Put every remembered path back as it was; returns paths that could not be restored. */
  restore(): Promise<string[]>;
  /** The change set took effect (or was rolled back): forget the on-disk journal. */
  close(): Promise<void>;
  readonly paths: string[];
}

const MANIFEST = 'manifest.json';

export async function captureState(system: System, file: string): Promise<SavedState> {
  const info = await system.lstat(file);
  if (info === undefined) return { kind: 'absent' };
  if (info.type === 'symlink') {
    const target = await system.readLink(file);
    if (target !== undefined) return { kind: 'link', target };
  }
  if (info.type !== 'file') {
    throw new VmaccessError('SSHD_CONFIG_INVALID', `${file} is neither a regular file nor a symbolic link, so it was not changed.`);
  }
  const content = await system.readBytes(file);
  if (content === undefined) return { kind: 'absent' };
  return { kind: 'file', content, mode: info.mode, uid: info.uid, gid: info.gid };
}

export async function putBack(system: System, file: string, state: SavedState): Promise<void> {
  if (state.kind === 'absent') await system.remove(file);
  else if (state.kind === 'link') await system.writeSymlinkAtomic(file, state.target);
  else await system.writeFileAtomic(file, state.content, { mode: state.mode, uid: state.uid, gid: state.gid });
}

export function createUndoRecord(system: System, journalDir: string): UndoRecord {
  const entries = new Map<string, SavedState>();
  const journal: JournalEntry[] = [];
  return {
    get paths() {
      return [...entries.keys()];
    },
    async remember(file, intended) {
      if (entries.has(file)) return;
      const state = await captureState(system, file);
      if (journal.length === 0) await system.mkdir(journalDir, { recursive: true, mode: 0o700 });
      const record: JournalEntry = { path: file, kind: state.kind, mode: 0o600, uid: 0, gid: 0, written: intended === null ? null : sha256Hex(intended) };
      if (state.kind === 'file') {
        Object.assign(record, { mode: state.mode, uid: state.uid, gid: state.gid, copy: `file-${journal.length}` });
        await system.writeFileAtomic(path.join(journalDir, `file-${journal.length}`), state.content, { mode: 0o600 });
      } else if (state.kind === 'link') {
        record.target = state.target;
      }
      journal.push(record);
      // The manifest is written last and atomically: it only ever names complete copies.
      await system.writeFileAtomic(path.join(journalDir, MANIFEST), JSON.stringify(journal), { mode: 0o600 });
      entries.set(file, state);
    },
    async restore() {
      const failed: string[] = [];
      for (const [file, state] of [...entries].reverse()) {
        try {
          await putBack(system, file, state);
        } catch (error) {
          failed.push(`${file} (${errnoCode(error) ?? 'error'})`);
        }
      }
      return failed;
    },
    async close() {
      await system.remove(journalDir, { recursive: true });
    },
  };
}

async function journalEntries(system: System, journalDir: string): Promise<JournalEntry[]> {
  const text = await system.readText(path.join(journalDir, MANIFEST));
  if (text === undefined) return [];
  try {
    const parsed = JSON.parse(text) as unknown;
    return Array.isArray(parsed) ? (parsed as JournalEntry[]).filter((entry) => typeof entry.path === 'string' && path.isAbsolute(entry.path)) : [];
  } catch {
    return [];
  }
}

async function savedState(system: System, journalDir: string, entry: JournalEntry): Promise<SavedState | undefined> {
  const kind = entry.kind ?? (entry.existed === true ? 'file' : 'absent');
  if (kind === 'absent') return { kind };
  if (kind === 'link') return entry.target === undefined ? undefined : { kind, target: entry.target };
  const content = entry.copy === undefined ? undefined : await system.readBytes(path.join(journalDir, path.basename(entry.copy)));
  return content === undefined ? undefined : { kind, content, mode: entry.mode, uid: entry.uid, gid: entry.gid };
}

/** A path's state as a comparable token: `absent`, `link:<target>` or `file:<sha256>`. */
async function stateToken(system: System, file: string): Promise<string> {
  const state = await captureState(system, file).catch(() => undefined);
  if (state === undefined) return 'other';
  return tokenOf(state);
}

function tokenOf(state: SavedState): string {
  if (state.kind === 'absent') return 'absent';
  if (state.kind === 'link') return `link:${state.target}`;
  return `file:${sha256Hex(state.content)}`;
}

export interface JournalVerdict {
  path: string;
  state: SavedState;
  /**
   * restore: the path holds what the interrupted run wrote (its digest is in the journal);
   * intact: it still holds the state before the run (nothing to do);
   * conflict: it holds something else, i.e. someone changed it since: it is kept.
   */
  verdict: 'restore' | 'intact' | 'conflict';
}

/** What a recovery would do with each journal entry, decided on the files as they are now. */
export async function judgeJournal(system: System, journalDir: string): Promise<JournalVerdict[]> {
  const verdicts: JournalVerdict[] = [];
  for (const entry of await journalEntries(system, journalDir)) {
    const state = await savedState(system, journalDir, entry);
    if (state === undefined) continue; // the copy never made it: the run died before changing the file
    const now = await stateToken(system, entry.path);
    const written = entry.written === undefined ? undefined : entry.written === null ? 'absent' : `file:${entry.written}`;
    const verdict = now === tokenOf(state) ? 'intact' : now === written ? 'restore' : 'conflict';
    verdicts.push({ path: entry.path, state, verdict });
  }
  return verdicts;
}

export interface RecoveryReport {
  restored: string[];
  /** Paths someone changed after the interrupted run: kept as they are; `kept` holds the journal's copy of a file, `link` a link's target. */
  conflicts: { path: string; kept?: string; link?: string }[];
}

/**
 * A journal left by a run that died while applying: put back every file that still
 * holds what that run wrote, keep every file changed since (its earlier content goes
 * to `keptDir`, nothing is overwritten), and remove the journal.
 */
export async function recoverJournal(system: System, journalDir: string, keptDir: string): Promise<RecoveryReport> {
  const report: RecoveryReport = { restored: [], conflicts: [] };
  for (const { path: file, state, verdict } of (await judgeJournal(system, journalDir)).reverse()) {
    if (verdict === 'restore') {
      await putBack(system, file, state);
      report.restored.push(file);
    } else if (verdict === 'conflict') {
      const kept = path.join(keptDir, file);
      if (state.kind === 'absent') report.conflicts.push({ path: file });
      else if (state.kind === 'link') report.conflicts.push({ path: file, link: state.target });
      else {
        await system.mkdir(path.dirname(kept), { recursive: true, mode: 0o700 });
        await system.writeFileAtomic(kept, state.content, { mode: 0o600 });
        report.conflicts.push({ path: file, kept });
      }
    }
  }
  await system.remove(journalDir, { recursive: true });
  return report;
}

/**
 * What recoverJournal would put back, without doing it: path -> the bytes sshd will
 * read there (through a restored link, its target's), or null for a file the
 * interrupted run created. Empty when there is no journal.
 */
export async function readJournal(system: System, journalDir: string): Promise<Map<string, Uint8Array | null>> {
  const restores = new Map<string, Uint8Array | null>();
  for (const { path: file, state, verdict } of await judgeJournal(system, journalDir)) {
    if (verdict !== 'restore') continue;
    if (state.kind === 'absent') restores.set(file, null);
    else if (state.kind === 'file') restores.set(file, state.content);
    else restores.set(file, (await system.readBytes(path.resolve(path.dirname(file), state.target))) ?? new Uint8Array());
  }
  return restores;
}
