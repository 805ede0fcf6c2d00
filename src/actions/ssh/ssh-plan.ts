import * as path from 'node:path';
import { isVmaccessError } from '../../errors.js';
import type { VmaccessError } from '../../errors.js';
import { hostKeyFiles, hostKeyType } from '../../config/sshd-semantics.js';
import type { ActionContext, ActionPlan, PlannedStep } from '../plan.js';
import type { DistroProfile } from './distro.js';
import { planFirewall, readFirewallState } from './firewall.js';
import type { FirewallPlan, FirewallState } from './firewall.js';
import { effectiveChanges, isEmptyIntent } from './grants.js';
import type { Candidate, Intent, Strategy } from './grants.js';
import { journalDir, openSetup, OWN_DROP_IN } from './ssh-setup.js';
import type { Layout, SshActionOptions, SshSetup } from './ssh-setup.js';
import { backupHistoryDir, dropInBackupDir, planBackupHistory, planOriginalBackup } from './ssh-backup.js';
import { readJournal } from './ssh-undo.js';
import type { SshdRunner } from './ssh-candidate.js';
import { buildCandidate, candidateTree } from './ssh-changes.js';
import { plannedFiles, quarantineDirFor } from './ssh-plan-files.js';
import type { FileEffect } from './ssh-plan-files.js';
import { overlayView, systemView } from './ssh-tree.js';
import type { ChangeSet } from './ssh-tree.js';
import { decideServiceControl, describeRestart, detectServiceFacts, PID_FILES } from './sshd-service.js';
import type { ServiceDecision } from './sshd-service.js';
import { validateCandidate } from './ssh-validation.js';
import type { Pending, Validated } from './ssh-validation.js';

/**
 * The SSH plan: everything apply will do, computed once and read-only (sshd validates
 * the candidate in a staging folder that is removed again). Its `detail` is what apply
 * executes; its public part is what `vmaccess plan` prints.
 */

export interface SshPlanDetail {
  kind: 'skip' | 'nothing' | 'change';
  intent: Intent;
  layout?: Layout;
  profile?: DistroProfile;
  runner?: SshdRunner;
  /** Files an interrupted run's journal puts back first. */
  recovery: string[];
  /** The privilege separation directory to create before sshd is asked anything. */
  privsepDir?: string;
  hostKeys: string[];
  validation?: Validated | Pending;
  quarantineDir: string;
  /** restore_backup_ssh: where the consumed backup set goes once sshd runs the restored files. */
  historyDir?: string;
  strategy: Strategy | undefined;
  /** undefined: no firewall step (only reset_ssh opens the port). */
  firewall?: { ports: number[]; plan: FirewallPlan } | { ports: number[]; error: string };
  service?: ServiceDecision;
  /** Why this request cannot be carried out, once an interrupted run's files are back. */
  refusal?: VmaccessError;
}

/** The step line; the reason is on the plan's service line. */
function describeService(decision: ServiceDecision): string {
  if (decision.action === 'none') return `would not be reloaded or restarted (${decision.reason})`;
  const commands = decision.commands.map((command) => [command.file, ...command.args].join(' '));
  if (decision.restart !== undefined) commands.push(describeRestart(decision.restart));
  return `would run ${commands.join('; ')}`;
}

function emptyPlan(kind: 'skip' | 'nothing', intent: Intent, stateDir: string, step: PlannedStep): ActionPlan<SshPlanDetail> {
  return { action: 'ssh', steps: [step], files: [], commands: [], firewall: [], notes: [], detail: { kind, intent, recovery: [], hostKeys: [], quarantineDir: stateDir, strategy: undefined } };
}

/** The files as they will be once an interrupted run's journal has put its copies back. */
async function recoveredView(context: ActionContext): Promise<{ recovery: Map<string, Uint8Array | null>; changes: ChangeSet }> {
  const recovery = await readJournal(context.system, journalDir(context.paths));
  const changes: ChangeSet = new Map([...recovery].map(([file, bytes]) => [file, bytes === null ? null : new TextDecoder().decode(bytes)]));
  return { recovery, changes };
}

async function missingHostKeys(setup: SshSetup, changes: ChangeSet): Promise<string[]> {
  const tree = await candidateTree(setup, changes);
  const missing: string[] = [];
  for (const key of hostKeyFiles(tree.files.map((file) => file.content), setup.layout.sshDir)) {
    if (hostKeyType(key) !== undefined && (await setup.system.stat(key)) === undefined) missing.push(key);
  }
  return missing;
}

async function planFirewallStep(setup: SshSetup, validation: Validated | Pending, state: Promise<FirewallState>): Promise<NonNullable<SshPlanDetail['firewall']>> {
  const ports = validation.status === 'validated' && validation.candidatePorts.length > 0 ? validation.candidatePorts : [22];
  try {
    return { ports, plan: await planFirewall(setup.system, ports, await state) };
  } catch (error) {
    return { ports, error: error instanceof Error ? error.name : 'error' };
  }
}

/** Every file apply changes, in the order it changes them. */
async function fileEffects(setup: SshSetup, detail: SshPlanDetail, recovery: Map<string, Uint8Array | null>, changes: ChangeSet): Promise<Map<string, FileEffect>> {
  const effects = new Map<string, FileEffect>();
  const { layout } = setup;
  for (const [file, bytes] of recovery) effects.set(file, { content: bytes, reason: 'put back from the journal of an interrupted run' });
  for (const name of (await setup.system.listDir(journalDir(setup.paths))) ?? []) effects.set(path.join(journalDir(setup.paths), name), { content: null, reason: 'journal of the interrupted run' });
  for (const key of detail.hostKeys) {
    effects.set(key, { writtenBy: 'ssh-keygen', reason: 'missing host key' });
    effects.set(`${key}.pub`, { writtenBy: 'ssh-keygen', reason: 'missing host key' });
  }
  if (changes.size === 0) return effects;
  const mainContent = await setup.current.readText(layout.etcMain);
  for (const [file, content] of await planOriginalBackup(setup.current, setup.paths, { mainContent, dropInDir: layout.dropInDir, ownDropInName: OWN_DROP_IN })) {
    effects.set(file, { content, reason: 'the original configuration, kept once for restore_backup_ssh' });
  }
  const quarantine = detail.validation?.candidate.quarantineReasons ?? new Map<string, string>();
  for (const [file, content] of changes) {
    const why = quarantine.get(file);
    if (content === null && why !== undefined) {
      effects.set(file, { content: null, reason: `${why}: moved out of the active set into the backup set` });
      const kept = path.join(dropInBackupDir(setup.paths), path.basename(file));
      const live = await setup.system.readBytes(file);
      const earlier = await setup.system.readBytes(kept);
      if (earlier !== undefined && live !== undefined && Buffer.compare(Buffer.from(earlier), Buffer.from(live)) !== 0) {
        effects.set(path.join(detail.quarantineDir, path.basename(file)), { content: earlier, reason: `an earlier backup copy, displaced by ${file}` });
      }
      effects.set(kept, { content: live ?? null, reason: `${file}, kept for restore_backup_ssh (name, mode and bytes)` });
    } else {
      effects.set(file, { content, reason: 'SSH server configuration, validated with sshd -t before it is written', diff: true });
    }
  }
  if (detail.historyDir !== undefined) {
    for (const [file, bytes] of await planBackupHistory(setup.system, setup.paths, detail.historyDir)) {
      effects.set(file, { content: bytes, reason: bytes === null ? 'the restored backup is consumed once sshd runs it' : 'the consumed backup, kept in the history' });
    }
  }
  return effects;
}

function steps(setup: SshSetup, detail: SshPlanDetail, changes: ChangeSet): PlannedStep[] {
  const list: PlannedStep[] = [];
  if (detail.recovery.length > 0) list.push({ name: 'sshd_recovery', changes: true, summary: 'an earlier run stopped while changing the SSH server configuration; its files are put back first' });
  if (detail.hostKeys.length > 0) list.push({ name: 'host_keys', changes: true, summary: `generate the missing host keys ${detail.hostKeys.join(', ')}` });
  const pending = detail.validation?.status === 'pending' ? `; sshd -t checks the candidate once ${detail.privsepDir ?? 'the missing host keys'} ${detail.privsepDir === undefined ? 'exist' : 'exists'} (now: ${detail.validation.reason})` : '';
  list.push({ name: 'sshd_config', changes: changes.size > 0, summary: changes.size === 0 ? `no file would change${pending}` : `every changed file is validated with sshd -t before it is written${pending}` });
  if (detail.firewall !== undefined) {
    const rules = 'plan' in detail.firewall ? detail.firewall.plan.rules.length : 0;
    list.push({ name: 'firewall', changes: rules > 0, summary: 'plan' in detail.firewall ? `SSH port ${detail.firewall.ports.join(', ')}: ${rules > 0 ? 'rules to add' : 'no change'}` : `the firewall could not be inspected (${detail.firewall.error})` });
  }
  if (detail.service !== undefined) list.push({ name: 'sshd', changes: detail.service.commands.length > 0 || detail.service.restart !== undefined, summary: describeService(detail.service) });
  if (detail.intent.passwordUsers.length > 0) {
    list.push({ name: 'password_login', changes: changes.size > 0, summary: `for ${detail.intent.passwordUsers.join(', ')} via ${detail.strategy === 'main-block' ? `a marked block in ${setup.layout.etcMain}` : setup.layout.ownDropIn}` });
  }
  return list;
}

/** Validates and decides; `setup` sees the files as they are once any recovery is done. */
async function decide(setup: SshSetup, detail: SshPlanDetail, candidate: Candidate, recoveryCount: number, pidFiles: readonly string[]): Promise<ChangeSet> {
  const { intent } = detail;
  detail.hostKeys = intent.reset ? await missingHostKeys(setup, candidate.changes) : [];
  // What the firewall and the service manager say does not depend on the candidate: asked
  // while sshd judges it (read-only questions; awaited below, so never left unhandled).
  const firewallState = intent.reset ? readFirewallState(setup.system) : undefined;
  const serviceFacts = detectServiceFacts(setup.system, setup.profile, pidFiles);
  const settled = Promise.allSettled([firewallState, serviceFacts]);
  let validation: Validated | Pending;
  try {
    validation = await validateCandidate(setup, intent, candidate, detail.hostKeys.length > 0);
  } finally {
    await settled;
  }
  detail.validation = validation;
  detail.strategy = candidate.strategy;
  if (validation.status === 'pending' && validation.privsepDir !== undefined) detail.privsepDir = validation.privsepDir;
  if (firewallState !== undefined) detail.firewall = await planFirewallStep(setup, validation, firewallState);
  const facts = await serviceFacts;
  const listenChanged = validation.status === 'validated' && validation.listenChanged;
  detail.service = decideServiceControl(facts, { configChanged: validation.changes.size > 0 || recoveryCount > 0, listenChanged, ensureRunning: intent.reset, unmask: intent.reset, restart: intent.reset }, setup.runner.sshd);
  return validation.changes;
}

/** The change on top of `setup.current`; throws when sshd (or the request) rules it out. */
async function planChange(setup: SshSetup, intent: Intent, context: ActionContext, recovery: Map<string, Uint8Array | null>, recovered: boolean): Promise<ActionPlan<SshPlanDetail>> {
  const { system, paths } = context;
  const candidate = await buildCandidate(setup, intent);
  // Nothing to write and nothing to confirm (a removed user without a grant, a restore of
  // what is already there): no sshd call at all.
  if (!intent.reset && intent.passwordUsers.length === 0 && recovery.size === 0 && (await effectiveChanges(setup.current, candidate.changes)).size === 0) {
    return emptyPlan('nothing', intent, paths.stateDir, { name: 'sshd_config', changes: false, summary: 'the SSH server configuration already is as requested; sshd is not touched' });
  }
  const detail = changeDetail(setup, intent, recovery, system.now());
  // Debian's sshd refuses to start, and sshd -t to check, without /run/sshd (a tmpfs
  // directory systemd normally creates).
  if (setup.profile.privsepDir !== undefined && (await system.stat(setup.profile.privsepDir)) === undefined) detail.privsepDir = setup.profile.privsepDir;
  // Files put back from a journal count as changed: sshd may be running the half-made ones.
  const changes = await decide(setup, detail, candidate, recovered ? 1 : recovery.size, setup.options.pidFiles ?? PID_FILES);
  const files = await plannedFiles(system, await fileEffects(setup, detail, recovery, changes));
  const notes = [`distribution family ${setup.profile.family}; main configuration ${setup.layout.mainPath}`, ...setup.notes];
  if (detail.privsepDir !== undefined) notes.push(`creates ${detail.privsepDir} first (sshd needs it)`);
  if (intent.reset) {
    const moved = [...(detail.validation?.candidate.quarantineReasons ?? new Map<string, string>())].map(([file, why]) => `${file} (${why})`);
    notes.push(moved.length === 0 ? 'every drop-in is an unmodified package file and stays' : `drop-ins moved into the backup set ${dropInBackupDir(paths)}/: ${moved.join(', ')}`);
    notes.push('reset_ssh restarts sshd once, even when no file changes (a frozen or saturated sshd is only cleared by a restart)');
  }
  if (detail.firewall !== undefined && 'plan' in detail.firewall) notes.push(...detail.firewall.plan.notes.map((note) => `firewall: ${note}`));
  const commands = detail.hostKeys.map((key) => ({ argv: ['ssh-keygen', '-q', '-t', hostKeyType(key) ?? '', '-N', '', '-C', '', '-f', key], why: 'generate a missing host key' }));
  const service = detail.service === undefined ? {} : { service: { action: detail.service.action, reason: detail.service.reason } };
  const firewall = detail.firewall !== undefined && 'plan' in detail.firewall ? detail.firewall.plan.rules.map((rule) => rule.description) : [];
  return { action: 'ssh', steps: steps(setup, detail, changes), files, commands, ...service, firewall, notes, detail };
}

function changeDetail(setup: SshSetup, intent: Intent, recovery: Map<string, Uint8Array | null>, now: Date): SshPlanDetail {
  const { layout, profile, runner } = setup;
  const detail: SshPlanDetail = { kind: 'change', intent, layout, profile, runner, recovery: [...recovery.keys()], hostKeys: [], quarantineDir: quarantineDirFor(setup.paths.stateDir, now), strategy: undefined };
  if (intent.restore) detail.historyDir = backupHistoryDir(setup.paths, now);
  return detail;
}

/**
 * An interrupted run's files are put back even when this request cannot be carried out:
 * a half-made change must not stay for want of a valid request.
 */
async function recoveryOnlyPlan(setup: SshSetup, intent: Intent, recovery: Map<string, Uint8Array | null>, refusal: VmaccessError): Promise<ActionPlan<SshPlanDetail>> {
  const detail: SshPlanDetail = { ...changeDetail(setup, intent, recovery, setup.system.now()), refusal };
  const files = await plannedFiles(setup.system, await fileEffects(setup, detail, recovery, new Map()));
  const refused: PlannedStep = { name: 'sshd_config', changes: false, summary: `would fail: ${refusal.code}: ${refusal.statusMessage}` };
  return { action: 'ssh', steps: [...steps(setup, detail, new Map()).slice(0, 1), refused], files, commands: [], firewall: [], notes: [], detail };
}

/** `alreadyRecovered`: apply already put an interrupted run's files back (a plan completed after its prerequisites). */
export async function planSsh(intent: Intent, context: ActionContext, options: SshActionOptions, alreadyRecovered = false): Promise<ActionPlan<SshPlanDetail>> {
  if (isEmptyIntent(intent)) return emptyPlan('skip', intent, context.paths.stateDir, { name: 'sshd', changes: false, summary: 'no SSH server change' });
  const { recovery, changes: recovered } = await recoveredView(context);
  const setup = await openSetup(context, options, recovery.size > 0 ? overlayView(systemView(context.system), recovered) : undefined);
  try {
    return await planChange(setup, intent, context, recovery, alreadyRecovered);
  } catch (error) {
    if (recovery.size === 0 || !isVmaccessError(error)) throw error;
    return recoveryOnlyPlan(setup, intent, recovery, error);
  }
}
