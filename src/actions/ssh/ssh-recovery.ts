import * as path from 'node:path';
import type { ActionContext, StepOutcome } from '../plan.js';
import { liveConfiguration } from './ssh-candidate.js';
import { journalDir, openSetup } from './ssh-setup.js';
import type { SshActionOptions } from './ssh-setup.js';
import { recoverJournal } from './ssh-undo.js';
import type { RecoveryReport } from './ssh-undo.js';
import { decideServiceControl, detectServiceFacts, PID_FILES, runServiceCommands } from './sshd-service.js';

/**
 * An SSH change set that died half-way (its undo journal is still on disk) is
 * finished at the start of every enable, whatever that enable asks for: left alone,
 * the journal would be replayed by the next SSH change, perhaps months later, over
 * what admins changed in between. Only files that still hold what the interrupted
 * run wrote are put back; a file changed since is kept and reported.
 */

/** Where recovery keeps the journal's copy of a file someone changed since (one folder per recovery). */
export function keptDirFor(stateDir: string, now: Date): string {
  return path.join(stateDir, 'sshd-undo-kept', now.toISOString().replace(/[:.]/g, '-'));
}

export function describeConflicts(report: RecoveryReport): string {
  const items = report.conflicts.map((conflict) => {
    if (conflict.kept !== undefined) return `${conflict.path} (the earlier version is kept at ${conflict.kept})`;
    return conflict.link !== undefined ? `${conflict.path} (was a symbolic link to ${conflict.link})` : `${conflict.path} (did not exist before that run)`;
  });
  return `An earlier run stopped while changing the SSH server configuration, and these files were changed since; they were left as they are: ${items.join(', ')}.`;
}

/** sshd reads the restored files now if it is running (checked with sshd -t first); a stopped sshd stays stopped. */
async function reloadAfterRecovery(context: ActionContext, options: SshActionOptions): Promise<string> {
  const setup = await openSetup(context, options);
  const complaint = await liveConfiguration(context.system, setup.runner, setup.layout.mainPath).check();
  if (complaint !== undefined) return `sshd was not reloaded: sshd -t rejects the restored configuration (${complaint.message})`;
  const facts = await detectServiceFacts(context.system, setup.profile, options.pidFiles ?? PID_FILES);
  const decision = decideServiceControl(facts, { configChanged: true, listenChanged: false, ensureRunning: false, unmask: false }, setup.runner.sshd);
  if (decision.commands.length === 0) return `sshd was not reloaded: ${decision.reason}`;
  const failure = await runServiceCommands(context.system, decision.commands);
  return failure === undefined ? `sshd ${decision.action === 'reload' ? 'reloaded' : decision.action} (${decision.reason})` : `${failure.command} failed (${failure.detail})`;
}

/** Finishes an interrupted SSH change; no outcome at all when there is none (one read). */
export async function recoverInterruptedChange(context: ActionContext, options: SshActionOptions): Promise<StepOutcome[]> {
  const { system, paths, logger } = context;
  if ((await system.lstat(path.join(journalDir(paths), 'manifest.json'))) === undefined) {
    // A journal folder without a manifest never named a file: nothing was changed yet.
    await system.remove(journalDir(paths), { recursive: true });
    return [];
  }
  const report = await recoverJournal(system, journalDir(paths), keptDirFor(paths.stateDir, system.now()));
  logger.info({ step: 'sshd_recovery', restored: report.restored, conflicts: report.conflicts }, 'interrupted SSH change recovered');
  const outcomes: StepOutcome[] = [];
  if (report.restored.length > 0) {
    const sshd = await reloadAfterRecovery(context, options);
    outcomes.push({ name: 'sshd_recovery', result: 'changed', message: `An earlier run stopped while changing the SSH server configuration; restored ${report.restored.join(', ')}; ${sshd}.` });
  }
  if (report.conflicts.length > 0) outcomes.push({ name: 'sshd_recovery', result: 'warning', message: describeConflicts(report) });
  return outcomes;
}
