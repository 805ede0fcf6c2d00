import { VmaccessError, errnoCode } from '../errors.js';
import { parseSettingsFile, scrubSettingsText, type SettingsFile } from '../settings/settings-file.js';
import type { System } from '../system/system.js';
import type { HandlerEnvironment } from './handler-environment.js';
import { readMrseq, settingsPath } from './sequence.js';
import { readStatus, type StoredStatus } from './status.js';

/**
 * The state of one sequence number on disk, and whether it is done. Used both by
 * enable and by the start-up fast path (lifecycle/enable-noop.ts), so it lives here
 * rather than in the orchestrator: the fast path then loads neither enable nor what
 * enable alone needs (the lock, the request model).
 */

/**
 * Whether `seq` was already carried out to the end with these settings. vmaccess
 * records completion in the status file of that seq (the agent copies status files
 * on upgrade), so a run that died part-way, which leaves `transitioning`, is redone.
 */
export function isAlreadyApplied(seq: number, mrseq: number | undefined, stored: StoredStatus | undefined, settings: SettingsFile): boolean {
  if (stored === undefined) return false;
  if (stored.completion === undefined) {
    // A status written by the original Python extension, which records mrseq before
    // doing the work: only a terminal status for that same seq means it finished.
    return mrseq === seq && (stored.status === 'success' || stored.status === 'error');
  }
  // The same number with other public settings is new work.
  return stored.completion.complete && (stored.completion.settingsDigest === undefined || stored.completion.settingsDigest === settings.digest);
}

/** What is on disk for one seq: its settings file, parsed, and whether the seq is done. */
export interface SequenceState {
  file: string;
  text: string;
  settings: SettingsFile;
  isApplied: boolean;
}

/**
 * Read the settings of `seq` and decide whether it was already applied. Shared by
 * enable and the start-up fast path (enable-noop.ts), which must agree exactly.
 */
export async function readSequenceState(system: System, environment: HandlerEnvironment, seq: number): Promise<SequenceState> {
  const file = settingsPath(environment.configFolder, seq);
  let text: string | undefined;
  try {
    text = await system.readText(file);
  } catch (error) {
    throw new VmaccessError('SETTINGS_UNREADABLE', `The settings file ${file} cannot be read (${errnoCode(error) ?? 'unknown error'}).`, { cause: error });
  }
  if (text === undefined) {
    throw new VmaccessError('SETTINGS_MISSING', `The settings file ${file} does not exist.`, {
      hint: 'The guest agent writes it before enable; apply the extension again.',
    });
  }
  // The agent's own 0-byte 0.settings says "no settings for this handler" (contract §2.1).
  const settings = parseSettingsFile(text, { file, isNoSettingsMarker: seq === 0 });
  const mrseq = await readMrseq(system, environment.handlerDir);
  const stored = await readStatus(system, environment.statusFolder, seq);
  return { file, text, settings, isApplied: isAlreadyApplied(seq, mrseq, stored, settings) };
}

/**
 * Replace the protected blob in the settings file once it has been used. The agent
 * writes it back on its next pass, so this runs on every enable. True when it wrote.
 */
export async function scrubSettingsFile(system: System, state: SequenceState): Promise<boolean> {
  const scrubbed = scrubSettingsText(state.text, state.file);
  if (scrubbed === undefined) return false;
  await system.writeFileAtomic(state.file, scrubbed);
  return true;
}
