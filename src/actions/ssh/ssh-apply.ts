import { hostKeyType } from '../../config/sshd-semantics.js';
import { VmaccessError } from '../../errors.js';
import type { ActionContext, ActionPlan, StepOutcome } from '../plan.js';
import { restoreSelinuxLabels } from '../selinux.js';
import { applyFirewall } from './firewall.js';
import { describeConflicts, keptDirFor } from './ssh-recovery.js';
import { recoverJournal } from './ssh-undo.js';
import { backupModes, moveBackupToHistory } from './ssh-backup.js';
import { planSsh } from './ssh-plan.js';
import type { SshPlanDetail } from './ssh-plan.js';
import { refuseIfStale } from './ssh-plan-files.js';
import { journalDir } from './ssh-setup.js';
import type { SshActionOptions } from './ssh-setup.js';
import { controlService, writeChanges } from './ssh-transaction.js';
import type { Transaction } from './ssh-transaction.js';
import { PID_FILES, probeEndpoints } from './sshd-service.js';
import type { VerifyOptions } from './sshd-service.js';
import type { Validated } from './ssh-validation.js';

/**
 * Executes an SSH plan, step by step, exactly as planned: recovery, prerequisites,
 * the change transaction, the firewall, one service action and its confirmation.
 */

export function verifyOptions(options: SshActionOptions): VerifyOptions {
  return {
    settleMs: options.verify?.settleMs ?? 1_000,
    attempts: options.verify?.attempts ?? 40,
    delayMs: options.verify?.delayMs ?? 250,
    probeTimeoutMs: options.verify?.probeTimeoutMs ?? 2_000,
    sleep: options.verify?.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    pollMs: options.verify?.pollMs,
    deadlineMs: options.verify?.deadlineMs,
    clock: options.verify?.clock,
    observeListeners: options.verify?.observeListeners,
  };
}

async function generateHostKeys(context: ActionContext, keys: readonly string[]): Promise<StepOutcome[]> {
  if (keys.length === 0) return [];
  for (const key of keys) {
    // The passphrase is empty (host keys have none); nothing secret on the command line.
    const result = await context.system.run('ssh-keygen', ['-q', '-t', hostKeyType(key) ?? 'ed25519', '-N', '', '-C', '', '-f', key], { timeoutMs: 60_000 });
    if (result.exitCode !== 0) throw new VmaccessError('SSHD_NOT_RUNNING', `ssh-keygen could not create the missing host key ${key}.`);
  }
  await restoreSelinuxLabels(context.system, keys.flatMap((key) => [key, `${key}.pub`]), context.logger);
  return [{ name: 'host_keys', result: 'changed', message: `Generated missing host keys: ${keys.join(', ')}.` }];
}

async function openFirewall(context: ActionContext, firewall: NonNullable<SshPlanDetail['firewall']>): Promise<StepOutcome> {
  if ('error' in firewall) return { name: 'firewall', result: 'failed', code: 'FIREWALL_FAILED', message: `The firewall could not be inspected (${firewall.error}).` };
  const { plan, ports } = firewall;
  if (plan.rules.length === 0) return { name: 'firewall', result: 'unchanged', message: `SSH port ${ports.join(', ')} needs no firewall change (${plan.notes.join('; ') || 'no firewall found'}).` };
  const result = await applyFirewall(context.system, plan);
  if (result.failed.length > 0) {
    return { name: 'firewall', result: 'failed', code: 'FIREWALL_FAILED', message: `Could not add: ${result.failed.join('; ')}.${result.added.length > 0 ? ` Added: ${result.added.join('; ')}.` : ''}` };
  }
  return { name: 'firewall', result: 'changed', message: `Opened: ${result.added.join('; ')}.` };
}

function passwordOutcome(detail: SshPlanDetail, validation: Validated, etcMain: string, ownDropIn: string): StepOutcome[] {
  const { intent } = detail;
  if (intent.passwordUsers.length === 0 && intent.removedUsers.length === 0) return [];
  const where = detail.strategy === 'main-block' ? `a marked block in ${etcMain}` : ownDropIn;
  const warnings = validation.checks.flatMap((check) => check.warnings);
  const parts: string[] = [];
  if (intent.passwordUsers.length > 0) parts.push(`Password login is on for ${intent.passwordUsers.join(', ')} (Match User in ${where}), confirmed with sshd -T; unchanged for other users`);
  if (intent.removedUsers.length > 0) parts.push(`per-user SSH settings removed for ${intent.removedUsers.join(', ')}`);
  if (warnings.length > 0) parts.push(`note: ${[...new Set(warnings)].join('; ')}`);
  return [{ name: 'password_login', result: validation.changes.size > 0 ? 'changed' : 'unchanged', message: `${parts.join('; ')}.` }];
}

/** The change itself, from a plan whose validation is complete. */
async function applyValidated(plan: ActionPlan<SshPlanDetail>, context: ActionContext, options: SshActionOptions, recovered: boolean): Promise<StepOutcome[]> {
  const { detail } = plan;
  const { validation, layout, profile, runner, service } = detail;
  if (validation?.status !== 'validated' || layout === undefined || profile === undefined || runner === undefined || service === undefined) {
    throw new VmaccessError('INTERNAL', 'The SSH plan is incomplete.');
  }
  const tx: Transaction = { system: context.system, paths: context.paths, layout, profile, runner, logger: context.logger, pidFiles: options.pidFiles ?? PID_FILES, verify: verifyOptions(options) };
  if (options.restartTiming !== undefined) tx.restartTiming = options.restartTiming;
  context.logger.info({ step: 'sshd', files: [...validation.changes.keys()], quarantine: [...validation.candidate.quarantine], strategy: detail.strategy }, 'candidate validated by sshd');
  const outcomes: StepOutcome[] = [];
  const { undo, outcome } = await writeChanges(tx, validation.changes, validation.candidate.quarantineReasons, detail.quarantineDir, detail.intent.restore ? await backupModes(context.system, context.paths, layout.dropInDir, validation.changes.keys()) : new Map());
  outcomes.push(outcome);
  // reset_ssh opens the port before sshd is reloaded and probed: a firewall that drops the
  // port would otherwise make the probe fail and roll back a good configuration. The rules
  // only ever add an accept for sshd's own port(s), so they stay even if sshd is rolled back.
  if (detail.firewall !== undefined) outcomes.push(await openFirewall(context, detail.firewall));
  // Verify whenever sshd was touched or its files changed (a socket-activated sshd is
  // started by the probe itself, with the new files); never on a no-change run.
  const mustVerify = service.commands.length > 0 || validation.changes.size > 0 || recovered || detail.intent.reset;
  const endpoints = probeEndpoints(validation.candidateListen, validation.candidatePorts.map(String));
  const sshd = await controlService(tx, undo, { decision: service, mustVerify, endpoints, listenChanged: validation.listenChanged });
  outcomes.push(sshd);
  if (sshd.result === 'failed') return outcomes;
  // The live files are now the candidate sshd judged: its answers are the live ones.
  context.sshdAnswers?.replaced(validation.answers);
  if (detail.historyDir !== undefined) {
    const moved = await moveBackupToHistory(context.system, context.paths, detail.historyDir);
    outcomes.push({ name: 'ssh_backup', result: 'changed', message: `The backup was restored and moved to ${moved}; the next change takes a fresh backup.` });
  }
  return [...outcomes, ...passwordOutcome(detail, validation, layout.etcMain, layout.ownDropIn)];
}

export async function applySshPlan(plan: ActionPlan<SshPlanDetail>, context: ActionContext, options: SshActionOptions): Promise<StepOutcome[]> {
  const { detail } = plan;
  if (detail.kind === 'skip') return [{ name: 'sshd', result: 'skipped', message: 'No SSH server change was needed.' }];
  if (detail.kind === 'nothing') return [{ name: 'sshd_config', result: 'unchanged', message: 'The SSH server configuration already was as requested; sshd was not touched.' }];
  await refuseIfStale(context.system, plan.files);
  // From here the live files may change (recovery, the change, a rollback).
  context.sshdAnswers?.replaced();
  const outcomes: StepOutcome[] = [];
  // A run that died while writing left its journal: put those files back first (the plan
  // was made on the files as they are after that, and reloads sshd whatever else changes).
  if (detail.recovery.length > 0) {
    const report = await recoverJournal(context.system, journalDir(context.paths), keptDirFor(context.paths.stateDir, context.system.now()));
    if (report.restored.length > 0) outcomes.push({ name: 'sshd_recovery', result: 'changed', message: `An earlier run stopped while changing the SSH server configuration; restored ${report.restored.join(', ')}.` });
    if (report.conflicts.length > 0) outcomes.push({ name: 'sshd_recovery', result: 'warning', message: describeConflicts(report) });
    context.logger.info({ step: 'sshd', recovered: report.restored, conflicts: report.conflicts }, 'interrupted change rolled back');
  }
  if (detail.refusal !== undefined) throw detail.refusal;
  if (detail.privsepDir !== undefined) await context.system.mkdir(detail.privsepDir, { recursive: true, mode: 0o755 });
  outcomes.push(...(await generateHostKeys(context, detail.hostKeys)));
  let ready = plan;
  if (detail.validation?.status === 'pending') {
    // sshd could not judge the candidate before these existed; it can now. The plan said
    // so; what sshd decides now is the plan that is executed.
    ready = await planSsh(detail.intent, context, options, detail.recovery.length > 0);
    if (ready.detail.validation?.status !== 'validated') {
      throw new VmaccessError('SSHD_CONFIG_INVALID', `sshd rejected the new configuration, so nothing was changed: ${ready.detail.validation?.status === 'pending' ? ready.detail.validation.reason : 'no candidate'}`);
    }
  }
  context.logger.info({ step: 'sshd', family: detail.profile?.family, reset: detail.intent.reset, restore: detail.intent.restore, passwordUsers: detail.intent.passwordUsers, removedUsers: detail.intent.removedUsers }, 'ssh changes requested');
  return [...outcomes, ...(await applyValidated(ready, context, options, detail.recovery.length > 0))];
}
