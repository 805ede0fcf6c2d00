import * as path from 'node:path';
import type { Logger } from '../../logger.js';
import { listeningPorts } from '../../config/sshd-semantics.js';
import { VmaccessError } from '../../errors.js';
import type { SystemPaths } from '../../system/paths.js';
import type { System } from '../../system/system.js';
import type { StepOutcome } from '../plan.js';
import { restoreSelinuxLabels } from '../selinux.js';
import type { DistroProfile } from './distro.js';
import { dropInBackupDir, ensureOriginalBackup, moveToBackupSet, readOriginalBackup } from './ssh-backup.js';
import { createUndoRecord } from './ssh-undo.js';
import type { UndoRecord } from './ssh-undo.js';
import { liveConfiguration } from './ssh-candidate.js';
import type { SshdRunner } from './ssh-candidate.js';
import { OWN_DROP_IN, PROBE_USER, journalDir } from './ssh-setup.js';
import type { Layout } from './ssh-setup.js';
import type { ChangeSet } from './ssh-tree.js';
import { confirmSshdReady, snapshotListeners } from './sshd-readiness.js';
import type { Readied } from './sshd-readiness.js';
import { decideServiceControl, detectServiceFacts, probeEndpoints, runServiceCommands } from './sshd-service.js';
import type { Endpoint, ServiceDecision, VerifyOptions } from './sshd-service.js';
import { RESTART_TIMING, restartSshd } from './sshd-restart.js';
import type { RestartTiming } from './sshd-restart.js';

/**
 * The change transaction: remember every file (the undo journal, also on disk), write
 * the validated candidate atomically, have sshd check it in place, and after the
 * service step put everything back if sshd does not answer.
 */

export interface Transaction {
  system: System;
  paths: SystemPaths;
  layout: Layout;
  profile: DistroProfile;
  runner: SshdRunner;
  logger: Logger;
  pidFiles: readonly string[];
  verify: VerifyOptions;
  /** Overrides of the restart deadlines (tests). */
  restartTiming?: Partial<Omit<RestartTiming, 'sleep'>>;
}

interface Written {
  /** `wrote X` / `removed X`, in order. */
  parts: string[];
  written: string[];
  quarantined: string[];
}

async function writeOne(tx: Transaction, file: string, content: string | null, moveAside: string | undefined, done: Written, reason?: string, newMode?: number): Promise<void> {
  const { system } = tx;
  if (content === null && moveAside !== undefined) {
    done.quarantined.push(`${file} (${reason ?? 'moved aside'}) -> ${await moveToBackupSet(system, tx.paths, file, moveAside)}`);
  } else if (content === null) {
    await system.remove(file);
    done.parts.push(`removed ${file}`);
  } else {
    const exists = (await system.stat(file)) !== undefined;
    if (!exists) await system.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
    // A symbolic link is replaced by a file (rename(2) over the link), never written
    // through: its target may be read-only (/usr), shared, or owned by configuration
    // management, and root writing wherever a link points is how links get abused. The
    // undo record keeps the link, so a rollback or recovery puts the link itself back.
    const link = await system.readLink(file);
    // New files: 0600 like cloud-init's drop-in, or the mode a restored drop-in had in the
    // backup set; existing files keep mode and owner (a link's: its target's).
    await system.writeFileAtomic(file, content, exists ? {} : { mode: newMode ?? 0o600 });
    done.written.push(file);
    done.parts.push(link === undefined ? `wrote ${file}` : `wrote ${file} as a file in place of its symbolic link to ${link} (the link target is unchanged)`);
  }
}

async function describeWrites(tx: Transaction, done: Written): Promise<string> {
  const parts = [...done.parts];
  if (done.quarantined.length > 0) parts.push(`moved drop-ins out of the active set into the backup set: ${done.quarantined.join(', ')}`);
  const backup = await readOriginalBackup(tx.system, tx.paths);
  if (backup.main !== undefined) parts.push(`original kept at ${tx.paths.sshdBackup}${backup.dropIns !== undefined ? ` (drop-ins in ${dropInBackupDir(tx.paths)})` : ''}`);
  return `${parts.join('; ')}. Validated with sshd -t.`;
}

/**
 * Writes `changes` (in order) under an undo record; the caller closes the record once
 * sshd answers (or after rolling back). Throws, with every file put back, when a write
 * fails or sshd rejects the files in place.
 */
export async function writeChanges(tx: Transaction, changes: ChangeSet, quarantine: ReadonlyMap<string, string>, quarantineDir: string, modes: ReadonlyMap<string, number> = new Map()): Promise<{ undo: UndoRecord; outcome: StepOutcome }> {
  const { system, layout } = tx;
  const undo = createUndoRecord(system, journalDir(tx.paths));
  if (changes.size === 0) return { undo, outcome: { name: 'sshd_config', result: 'unchanged', message: 'The SSH server configuration already was as requested.' } };
  await ensureOriginalBackup(system, tx.paths, { mainContent: await system.readText(layout.etcMain), dropInDir: layout.dropInDir, ownDropInName: OWN_DROP_IN });
  const done: Written = { parts: [], written: [], quarantined: [] };
  try {
    for (const [file, content] of changes) {
      await undo.remember(file, content);
      await writeOne(tx, file, content, quarantine.has(file) ? quarantineDir : undefined, done, quarantine.get(file), modes.get(file));
    }
  } catch (error) {
    await undo.restore();
    await undo.close();
    throw new VmaccessError('SSHD_ROLLED_BACK', 'Writing the SSH server configuration failed; every file was put back.', { cause: error });
  }
  await restoreSelinuxLabels(system, done.written, tx.logger);
  // The same files, read where sshd will read them: a last check before sshd sees them.
  const inPlace = await liveConfiguration(system, tx.runner, layout.mainPath).check();
  if (inPlace !== undefined) {
    const failedRestore = await undo.restore();
    await undo.close();
    throw new VmaccessError('SSHD_CONFIG_INVALID', `sshd rejected the written configuration, which was put back before sshd was touched: ${inPlace.message}${failedRestore.length > 0 ? `; could not restore ${failedRestore.join(', ')}` : ''}`);
  }
  return { undo, outcome: { name: 'sshd_config', result: 'changed', message: await describeWrites(tx, done) } };
}

function describeDecision(decision: ServiceDecision): string {
  if (decision.action === 'none') return decision.reason;
  const verb = decision.action === 'reload' ? 'reloaded' : decision.action === 'start' ? 'started' : 'restarted';
  return `sshd ${verb} (${decision.reason})`;
}

/** sshd did not come back: put the files back, bring sshd up on them, and say how that went. */
async function rollBack(tx: Transaction, undo: UndoRecord, what: string, listenChanged: boolean): Promise<StepOutcome> {
  const { system, profile, pidFiles } = tx;
  tx.logger.info({ step: 'sshd', what }, 'sshd did not come back: rolling back');
  const failedRestore = await undo.restore();
  const facts = await detectServiceFacts(system, profile, pidFiles);
  const back = decideServiceControl(facts, { configChanged: undo.paths.length > 0, listenChanged, ensureRunning: true, unmask: false }, tx.runner.sshd);
  const before = await snapshotListeners(system);
  await runServiceCommands(system, back.commands);
  // Where the restored configuration listens, as sshd itself reports it.
  const restored = await liveConfiguration(system, tx.runner, tx.layout.mainPath)
    .effective({ user: PROBE_USER })
    .catch(() => undefined);
  const ports = restored === undefined ? ['22'] : listeningPorts(restored.getAll('port'), restored.getAll('listenaddress')).map(String);
  const endpoints = probeEndpoints(restored?.getAll('listenaddress') ?? [], ports);
  const again = await confirmSshdReady(system, profile, pidFiles, { readiness: back.commands.length === 0 ? 'now' : (back.readiness ?? 'settle'), before, endpoints }, tx.verify);
  await undo.close();
  const restoredText = undo.paths.length > 0 ? `restored ${undo.paths.join(', ')}` : 'no file had changed';
  return {
    name: 'sshd',
    result: 'failed',
    code: 'SSHD_ROLLED_BACK',
    message: `sshd did not come back after the change (${what}); ${restoredText}${failedRestore.length > 0 ? ` except ${failedRestore.join(', ')}` : ''}; after the rollback ${again.ok ? again.detail : `sshd still does not answer: ${again.detail}`}.`,
  };
}

export interface ServiceStep {
  decision: ServiceDecision;
  /** Verify even without a command (files changed, or reset_ssh asked for a running sshd). */
  mustVerify: boolean;
  endpoints: Endpoint[];
  listenChanged: boolean;
}

/** Runs the planned service commands and confirms sshd answers; rolls back when it does not. */
export async function controlService(tx: Transaction, undo: UndoRecord, step: ServiceStep): Promise<StepOutcome> {
  const { decision } = step;
  if (!step.mustVerify || decision.leftStopped === true) {
    await undo.close();
    // A change that waits for a stopped sshd is not yet a way in: said as a warning.
    return { name: 'sshd', result: decision.leftStopped === true ? 'warning' : 'unchanged', message: `sshd was not reloaded: ${decision.reason}.` };
  }
  tx.logger.info({ step: 'sshd', action: decision.action, commands: decision.commands, reason: decision.reason }, 'sshd service control');
  const clock = tx.verify.clock ?? (() => performance.now());
  // The listening sockets as they are before sshd is signalled: the new sshd's are others.
  const before = await snapshotListeners(tx.system);
  const signalled = clock();
  const restartSteps: string[] = [];
  let failure = await runServiceCommands(tx.system, decision.commands);
  if (failure === undefined && decision.restart !== undefined) {
    failure = await restartSshd(tx.system, decision.restart, tx.pidFiles, { ...RESTART_TIMING, ...tx.restartTiming, sleep: tx.verify.sleep }, restartSteps);
    tx.logger.info({ step: 'sshd', restart: restartSteps }, 'sshd restarted');
  }
  const serviceMs = clock() - signalled;
  const touched = decision.commands.length > 0 || decision.restart !== undefined;
  const answered: Readied =
    failure === undefined
      ? await confirmSshdReady(tx.system, tx.profile, tx.pidFiles, { readiness: touched ? (decision.readiness ?? 'settle') : 'now', before, endpoints: step.endpoints }, tx.verify)
      : { ok: false, detail: `${failure.command} failed (${failure.detail})`, waitedMs: 0, basis: 'service command failed' };
  const round = (value: number): number => Math.round(value * 10) / 10;
  tx.logger.info({ step: 'sshd', ok: answered.ok, detail: answered.detail, basis: answered.basis, serviceMs: round(serviceMs), readyMs: round(answered.waitedMs), signalToVerifiedMs: round(clock() - signalled) }, 'sshd verified');
  if (!answered.ok) return rollBack(tx, undo, answered.detail, step.listenChanged);
  await undo.close();
  const how = restartSteps.length > 0 ? ` [${restartSteps.join('; ')}]` : '';
  return { name: 'sshd', result: touched ? 'changed' : 'unchanged', message: `${describeDecision(decision)}${how}; ${answered.detail}.` };
}
