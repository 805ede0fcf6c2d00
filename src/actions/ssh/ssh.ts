import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  dropIncludesInto,
  firstGlobalValue,
  insertManagedBlock,
  parsePasswordGrants,
  parseSshdDirectives,
  readManagedBlockGrants,
  removeManagedBlock,
  renderPasswordDropIn,
} from '../../config/sshd-config.js';
import type { PasswordGrant } from '../../config/sshd-config.js';
import { unifiedDiff } from '../../config/unified-diff.js';
import { VmaccessError, errnoCode, isVmaccessError } from '../../errors.js';
import type { VmaccessRequest } from '../../settings/request.js';
import type { SystemPaths } from '../../system/paths.js';
import type { System } from '../../system/system.js';
import type { LegacyAction, ActionContext, StepOutcome } from '../action.js';
import { detectDistro } from './distro.js';
import type { DistroProfile } from './distro.js';
import { applyFirewall, planFirewall } from './firewall.js';
import type { FirewallPlan } from './firewall.js';
import { createUndoRecord, dropInBackupDir, ensureOriginalBackup, quarantineFile, readOriginalBackup, recoverJournal } from './ssh-backup.js';
import { liveConfiguration, withStagedCandidate } from './ssh-candidate.js';
import type { SshdComplaint, SshdRunner, StagedCandidate } from './ssh-candidate.js';
import { overlayView, readSshdTree, systemView, isUnconditionallyIncluded } from './ssh-tree.js';
import type { ChangeSet, FileView, SshdTree } from './ssh-tree.js';
import { findSshd } from '../sshd-effective.js';
import type { EffectiveSshdConfig } from '../sshd-effective.js';
import {
  PID_FILES,
  confirmSshdUp,
  decideServiceControl,
  detectServiceFacts,
  probeEndpoints,
  runServiceCommands,
} from './sshd-service.js';
import type { ServiceDecision, VerifyOptions } from './sshd-service.js';

/**
 * The `ssh` action: runs last in an enable and applies every SSH server change of
 * the run at once (reset_ssh, restore_backup_ssh, password login for the users the
 * user action gave a password, clean-up for removed users): build the candidate,
 * have sshd validate it, write it atomically, reload at most once, check sshd
 * answers, and put everything back if it does not.
 */

/** The extension's drop-in. It holds only `Match User` blocks; among Match blocks the
 * first that sets a keyword wins, so it sorts before every usual drop-in (cloud-init's
 * 50-cloud-init.conf, 60-cloudimg-settings.conf, RHEL's 50-redhat.conf, Flatcar's
 * 9999999gentoo-pam.conf). */
export const OWN_DROP_IN = '00-vmaccess.conf';
/** A user name no account has, to prove other users' settings did not change. */
export const PROBE_USER = 'vmaccess-probe-nobody';

export interface SshActionOptions {
  /** sshd binary or a wrapper (tests). Default: found in the usual places. */
  sshd?: string;
  /** Extra sshd arguments for validation calls (tests: `-h <temporary host key>`). */
  sshdExtraArgs?: string[];
  /** Folder holding sshd_config/<template>. Default: resources/ of the install. */
  resourcesDir?: string;
  pidFiles?: string[];
  verify?: Partial<VerifyOptions>;
}

interface Intent {
  reset: boolean;
  restore: boolean;
  passwordUsers: string[];
  removedUsers: string[];
}

function intentOf(request: VmaccessRequest, context: ActionContext, forPlan: boolean): Intent {
  const passwordUsers = new Set(context.ssh.passwordUsers);
  const removedUsers = new Set(context.ssh.removedUsers);
  // In plan mode the user action has not run, so nobody has been recorded yet.
  if (forPlan && request.account?.password !== undefined) passwordUsers.add(request.account.username);
  if (forPlan && request.removeUser !== undefined) removedUsers.add(request.removeUser);
  return { reset: request.resetSsh, restore: request.restoreBackupSsh, passwordUsers: [...passwordUsers].sort(), removedUsers: [...removedUsers].sort() };
}

function isEmptyIntent(intent: Intent): boolean {
  return !intent.reset && !intent.restore && intent.passwordUsers.length === 0 && intent.removedUsers.length === 0;
}

interface Layout {
  sshDir: string;
  /** The file sshd reads first: /etc/ssh/sshd_config, or the vendor file when that is absent. */
  mainPath: string;
  /** Where the extension may write the main file. */
  etcMain: string;
  dropInDir: string;
  ownDropIn: string;
}

async function layoutOf(system: System, paths: SystemPaths): Promise<Layout> {
  const sshDir = path.dirname(paths.sshdConfig);
  const etcExists = (await system.stat(paths.sshdConfig)) !== undefined;
  const vendorExists = !etcExists && (await system.stat(paths.vendorSshdConfig))?.type === 'file';
  const dropInDir = path.join(sshDir, 'sshd_config.d');
  return { sshDir, mainPath: vendorExists ? paths.vendorSshdConfig : paths.sshdConfig, etcMain: paths.sshdConfig, dropInDir, ownDropIn: path.join(dropInDir, OWN_DROP_IN) };
}

/** Where a change set in progress keeps its undo copies (see createUndoRecord). */
function journalDir(paths: SystemPaths): string {
  return path.join(paths.stateDir, 'sshd-undo');
}

function defaultResourcesDir(): string {
  // Only for runs from source (src/actions/ssh/ssh.ts): the bundle's entry passes resourcesDir.
  return fileURLToPath(new URL('../../../resources', import.meta.url));
}

type Strategy = 'drop-in' | 'main-block';

interface Candidate {
  changes: ChangeSet;
  quarantine: Set<string>;
  grants: PasswordGrant[];
  strategy: Strategy | undefined;
}

/** Files vmaccess wrote grants into, merged (drop-in first). */
async function existingGrants(view: FileView, layout: Layout): Promise<PasswordGrant[]> {
  const byUser = new Map<string, PasswordGrant>();
  const dropIn = await view.readText(layout.ownDropIn);
  for (const grant of dropIn === undefined ? [] : parsePasswordGrants(dropIn)) if (!byUser.has(grant.user)) byUser.set(grant.user, grant);
  const main = await view.readText(layout.etcMain);
  for (const grant of main === undefined ? [] : (readManagedBlockGrants(main) ?? [])) if (!byUser.has(grant.user)) byUser.set(grant.user, grant);
  return [...byUser.values()];
}

function ensureSetting(grant: PasswordGrant, keyword: string, value: string): PasswordGrant {
  const settings = grant.settings.filter(([name]) => name.toLowerCase() !== keyword.toLowerCase());
  const existing = grant.settings.find(([name]) => name.toLowerCase() === keyword.toLowerCase());
  if (existing !== undefined && existing[1] === value) return grant;
  return { user: grant.user, settings: [...settings, [keyword, value]] };
}

/** Writes `grants` with `strategy` on top of `base` (reset/restore/quarantine changes). */
async function renderGrants(current: FileView, layout: Layout, base: ChangeSet, grants: PasswordGrant[], strategy: Strategy): Promise<ChangeSet> {
  const changes: ChangeSet = new Map(base);
  const view = overlayView(current, changes);
  const main = await view.readText(layout.etcMain);
  const dropInExists = await view.isFile(layout.ownDropIn);
  if (strategy === 'drop-in') {
    if (grants.length > 0) changes.set(layout.ownDropIn, renderPasswordDropIn(grants));
    else if (dropInExists) changes.set(layout.ownDropIn, null);
    if (main !== undefined && readManagedBlockGrants(main) !== undefined) changes.set(layout.etcMain, removeManagedBlock(main));
  } else {
    if (main === undefined) throw new VmaccessError('SSHD_CONFIG_INVALID', `There is no ${layout.etcMain} to hold per-user password settings.`);
    changes.set(layout.etcMain, insertManagedBlock(main, grants));
    if (dropInExists) changes.set(layout.ownDropIn, null);
  }
  return changes;
}

/** Drops entries that would not change anything. */
async function effectiveChanges(current: FileView, changes: ChangeSet): Promise<ChangeSet> {
  const result: ChangeSet = new Map();
  for (const [file, content] of changes) {
    const now = await current.readText(file);
    if (content === null ? now !== undefined : now !== content) result.set(file, content);
  }
  return result;
}

function passwordAloneAllowed(methods: string | undefined): boolean {
  if (methods === undefined || methods === 'any') return true;
  return methods.split(/\s+/).some((list) => list.split(',').every((method) => method === 'password'));
}

interface UserCheck {
  user: string;
  effective: boolean;
  blockedByMethods: boolean;
  warnings: string[];
}

function checkUser(user: string, config: EffectiveSshdConfig): UserCheck {
  const warnings: string[] = [];
  const deny = config.getAll('denyusers').flatMap((value) => value.split(/\s+/));
  const allow = config.getAll('allowusers').flatMap((value) => value.split(/\s+/));
  const matches = (pattern: string): boolean => new RegExp(`^${(pattern.split('@')[0] ?? '').replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(user);
  if (deny.some(matches)) warnings.push(`DenyUsers names ${user}`);
  if (allow.length > 0 && !allow.some(matches)) warnings.push(`AllowUsers does not include ${user}`);
  if (config.getAll('allowgroups').length > 0 || config.getAll('denygroups').length > 0) warnings.push('AllowGroups/DenyGroups also apply');
  const methods = config.get('authenticationmethods');
  return { user, effective: config.get('passwordauthentication') === 'yes' && passwordAloneAllowed(methods), blockedByMethods: !passwordAloneAllowed(methods), warnings };
}

/** HostKey files sshd will load from the candidate, or its defaults when none is set. */
function hostKeyFiles(tree: SshdTree, sshDir: string): string[] {
  const keys = tree.files.flatMap((file) => parseSshdDirectives(file.content).filter((directive) => directive.keyword === 'hostkey' && !directive.inMatch).map((directive) => directive.args[0] ?? ''));
  const chosen = keys.filter((key) => key !== '');
  if (chosen.length > 0) return chosen;
  return ['rsa', 'ecdsa', 'ed25519'].map((type) => path.join(sshDir, `ssh_host_${type}_key`));
}

function keyTypeOf(file: string): string | undefined {
  const match = /ssh_host_(rsa|ecdsa|ed25519)_key$/.exec(path.basename(file));
  return match?.[1];
}

function portsOf(config: EffectiveSshdConfig): number[] {
  const ports = new Set<number>();
  for (const value of config.getAll('port')) ports.add(Number(value));
  for (const entry of config.getAll('listenaddress')) {
    const port = /:(\d+)(\s|$)/.exec(entry)?.[1];
    if (port !== undefined) ports.add(Number(port));
  }
  return [...ports].filter((port) => Number.isInteger(port) && port > 0).sort((a, b) => a - b);
}

function listenSignature(config: EffectiveSshdConfig | undefined): string {
  if (config === undefined) return '';
  return JSON.stringify([config.getAll('port'), config.getAll('listenaddress')]);
}

class Run {
  readonly notes: string[] = [];
  constructor(
    readonly system: System,
    readonly context: ActionContext,
    readonly options: SshActionOptions,
    readonly layout: Layout,
    readonly profile: DistroProfile,
    readonly runner: SshdRunner,
    readonly current: FileView,
  ) {}

  /** Changes from restore_backup_ssh and reset_ssh, before any password grants. */
  async baseChanges(intent: Intent): Promise<ChangeSet> {
    const changes: ChangeSet = new Map();
    const { layout, system, context } = this;
    if (intent.restore) {
      const backup = await readOriginalBackup(system, context.paths);
      if (backup.main === undefined) {
        throw new VmaccessError('SSH_BACKUP_MISSING', `There is no backup of sshd_config at ${context.paths.sshdBackup}, so there is nothing to restore.`, {
          hint: 'Use reset_ssh to install the default configuration instead.',
        });
      }
      changes.set(layout.etcMain, backup.main);
      if (backup.dropIns !== undefined) {
        for (const [name, content] of backup.dropIns) changes.set(path.join(layout.dropInDir, name), content);
        if (!backup.dropIns.has(OWN_DROP_IN)) changes.set(layout.ownDropIn, null);
      } else {
        changes.set(layout.ownDropIn, null);
      }
    }
    if (intent.reset) {
      const fresh = await this.defaultConfiguration();
      if (fresh !== undefined) changes.set(layout.etcMain, fresh.content);
      this.notes.push(fresh === undefined ? `the distribution default (${layout.mainPath}) is already in use` : `default configuration from ${fresh.source}`);
    }
    return changes;
  }

  async defaultConfiguration(): Promise<{ content: string; source: string } | undefined> {
    const { system, layout, profile } = this;
    if (layout.mainPath !== layout.etcMain) return undefined; // SUSE /usr/etc layout: no /etc file is the default
    for (const pristine of profile.pristineConfigs) {
      if (pristine === layout.etcMain) continue;
      const content = await system.readText(pristine);
      if (content !== undefined && content.trim() !== '') return { content, source: pristine };
    }
    const template = path.join(this.options.resourcesDir ?? defaultResourcesDir(), 'sshd_config', profile.template);
    const text = await system.readText(template);
    if (text === undefined) throw new VmaccessError('INTERNAL', `The default sshd_config template ${profile.template} is missing from the extension.`);
    const dirExists = (await system.stat(layout.dropInDir))?.type === 'directory';
    // Keep the Include line only where the release has a drop-in folder (EL7/EL8 do not).
    const content = dirExists ? text.split('/etc/ssh/').join(`${layout.sshDir}/`) : dropIncludesInto(text.split('/etc/ssh/').join(`${layout.sshDir}/`), layout.dropInDir, layout.sshDir);
    return { content, source: `the extension's ${profile.template} template` };
  }

  async candidateTree(changes: ChangeSet): Promise<SshdTree> {
    return readSshdTree(overlayView(this.current, changes), this.layout.mainPath, this.layout.sshDir);
  }

  async strategyFor(changes: ChangeSet): Promise<Strategy> {
    const tree = await this.candidateTree(changes);
    return isUnconditionallyIncluded(tree, this.layout.ownDropIn) ? 'drop-in' : 'main-block';
  }

  desiredGrants(existing: PasswordGrant[], intent: Intent): PasswordGrant[] {
    const removed = new Set(intent.removedUsers);
    const byUser = new Map(existing.filter((grant) => !removed.has(grant.user)).map((grant) => [grant.user, grant]));
    for (const user of intent.passwordUsers) {
      if (removed.has(user)) continue;
      byUser.set(user, ensureSetting(byUser.get(user) ?? { user, settings: [] }, 'PasswordAuthentication', 'yes'));
    }
    return [...byUser.values()];
  }

  async build(intent: Intent): Promise<Candidate> {
    const base = await this.baseChanges(intent);
    const afterBase = overlayView(this.current, base);
    // reset_ssh keeps the grants the extension made (they move into the new layout);
    // restore_backup_ssh goes back to before the extension changed anything.
    const grants = this.desiredGrants(await existingGrants(intent.restore ? afterBase : this.current, this.layout), intent);
    const needsGrantFiles = grants.length > 0 || intent.removedUsers.length > 0 || (await afterBase.isFile(this.layout.ownDropIn));
    if (!needsGrantFiles) return { changes: base, quarantine: new Set(), grants, strategy: undefined };
    const strategy = await this.strategyFor(base);
    const changes = await renderGrants(this.current, this.layout, base, grants, strategy);
    return { changes, quarantine: new Set(), grants, strategy };
  }
}

export function createSshAction(options: SshActionOptions = {}): LegacyAction {
  async function open(context: ActionContext): Promise<Run> {
    const { system, paths } = context;
    const layout = await layoutOf(system, paths);
    const profile = await detectDistro(system, paths);
    const sshd = options.sshd ?? (await findSshd(system));
    const runner: SshdRunner = { sshd, extraArgs: options.sshdExtraArgs ?? [] };
    return new Run(system, context, options, layout, profile, runner, systemView(system));
  }

  return {
    name: 'ssh',
    wants: (request) => request.resetSsh || request.restoreBackupSsh || request.account?.password !== undefined || request.removeUser !== undefined,

    async plan(request, context) {
      const intent = intentOf(request, context, true);
      if (isEmptyIntent(intent)) return ['sshd: no SSH server change'];
      const lines: string[] = [];
      try {
        const run = await open(context);
        const candidate = await run.build(intent);
        const changes = await effectiveChanges(run.current, candidate.changes);
        lines.push(`sshd: distribution family ${run.profile.family}; main configuration ${run.layout.mainPath}`);
        if ((await context.system.stat(path.join(journalDir(context.paths), 'manifest.json'))) !== undefined) {
          lines.push('sshd_config: an earlier run stopped while changing the SSH server configuration; its files would be put back first');
        }
        for (const note of run.notes) lines.push(`sshd_config: ${note}`);
        if (intent.passwordUsers.length > 0) {
          lines.push(`password_login: for ${intent.passwordUsers.join(', ')} via ${candidate.strategy === 'drop-in' ? run.layout.ownDropIn : `a marked block in ${run.layout.etcMain}`}`);
        }
        for (const [file, content] of changes) {
          const before = await run.current.readText(file);
          lines.push(`sshd_config: ${content === null ? 'would remove' : before === undefined ? 'would create' : 'would change'} ${file}`);
          lines.push(...unifiedDiff(before, content ?? undefined, `a${file}`, `b${file}`).trimEnd().split('\n'));
        }
        if (intent.reset) {
          lines.push('sshd_config: drop-ins that sshd -t rejects would be moved to /var/cache/vmaccess/quarantine/');
          const tree = await run.candidateTree(candidate.changes);
          for (const key of hostKeyFiles(tree, run.layout.sshDir)) {
            if ((await context.system.stat(key)) === undefined && keyTypeOf(key) !== undefined) lines.push(`host_keys: would generate ${key}`);
          }
          const ports = firstGlobalValue(tree.files.map((file) => file.content).join('\n'), 'port') ?? ['22'];
          const firewall = await planFirewall(context.system, ports.map(Number));
          for (const rule of firewall.rules) lines.push(`firewall: would add ${rule.description}`);
          for (const note of firewall.notes) lines.push(`firewall: ${note}`);
        }
        const facts = await detectServiceFacts(context.system, run.profile, options.pidFiles ?? PID_FILES);
        const decision = decideServiceControl(facts, { configChanged: changes.size > 0, listenChanged: false, ensureRunning: intent.reset, unmask: intent.reset }, run.runner.sshd);
        lines.push(changes.size === 0 ? 'sshd_config: no file would change' : 'sshd_config: every changed file is validated with sshd -t before it is written');
        lines.push(
          decision.action === 'none'
            ? `sshd: would not be reloaded or restarted (${decision.reason})`
            : `sshd: would be ${decision.action === 'reload' ? 'reloaded' : decision.action === 'start' ? 'started' : 'restarted'}: ${decision.commands.map((command) => [command.file, ...command.args].join(' ')).join('; ')} (${decision.reason})`,
        );
      } catch (error) {
        if (isVmaccessError(error)) lines.push(`sshd: would fail: ${error.code}: ${error.message}`);
        else if (errnoCode(error) === 'EACCES' || errnoCode(error) === 'EPERM') lines.push('sshd: some SSH server files are readable only by root; run the plan as root for the full picture');
        else throw error;
      }
      return lines;
    },

    async apply(request, context) {
      const intent = intentOf(request, context, false);
      if (isEmptyIntent(intent)) return [{ name: 'sshd', result: 'skipped', message: 'No SSH server change was needed.' }];
      const run = await open(context);
      return applyIntent(run, intent, options);
    },
  };
}

interface Validated {
  candidate: Candidate;
  changes: ChangeSet;
  checks: UserCheck[];
  candidatePorts: number[];
  /** `sshd -T` listenaddress lines of the candidate, for the probe after the reload. */
  candidateListen: string[];
  listenChanged: boolean;
}

async function validate(run: Run, intent: Intent): Promise<Validated> {
  const { system, context, layout, runner } = run;
  const candidate = await run.build(intent);
  let changes = candidate.changes;
  const live = liveConfiguration(system, runner, layout.mainPath);
  const liveProbe = await live.effective({ user: PROBE_USER }).catch(() => undefined);
  const quarantineLimit = (await run.candidateTree(changes)).files.length + 1;
  let privsepFixed = false;

  for (let round = 0; round < quarantineLimit + 4; round++) {
    const tree = await run.candidateTree(changes);
    type Staged = { complaint: SshdComplaint } | { probe: EffectiveSshdConfig; checks: UserCheck[] };
    const outcome = await withStagedCandidate(system, runner, tree, layout.sshDir, context.paths.stateDir, async (staged: StagedCandidate): Promise<Staged> => {
      const complaint = await staged.check();
      if (complaint !== undefined) return { complaint };
      const probe = await staged.effective({ user: PROBE_USER });
      const checks: UserCheck[] = [];
      for (const user of intent.passwordUsers) checks.push(checkUser(user, await staged.effective({ user })));
      return { probe, checks };
    });

    if ('complaint' in outcome) {
      const complaint: SshdComplaint = outcome.complaint;
      if (complaint.missingPrivsepDir !== undefined && !privsepFixed) {
        privsepFixed = true;
        await system.mkdir(complaint.missingPrivsepDir, { recursive: true, mode: 0o755 });
        run.notes.push(`created the privilege separation directory ${complaint.missingPrivsepDir}`);
        continue;
      }
      const culprit = complaint.file;
      // Only drop-ins in sshd_config.d are moved aside; a file elsewhere that sshd
      // includes (RHEL's crypto-policies back-end, say) belongs to someone else.
      const isDropIn = culprit !== undefined && path.dirname(culprit) === layout.dropInDir && culprit !== layout.ownDropIn && tree.files.some((file) => file.path === culprit);
      if (intent.reset && isDropIn && !candidate.quarantine.has(culprit)) {
        // reset_ssh: a drop-in that stops sshd from starting is moved aside, never deleted.
        candidate.quarantine.add(culprit);
        changes = new Map(changes).set(culprit, null);
        continue;
      }
      throw new VmaccessError('SSHD_CONFIG_INVALID', `sshd rejected the new configuration, so nothing was changed: ${complaint.message}`, {
        hint: intent.reset ? 'The default configuration itself was rejected; check the sshd package.' : 'Fix the file sshd names, or use reset_ssh.',
      });
    }

    const blocked = outcome.checks.filter((check) => !check.effective);
    if (blocked.length > 0) {
      const fixable = blocked.filter((check) => check.blockedByMethods);
      const needsMethods = fixable.filter((check) => !candidate.grants.find((grant) => grant.user === check.user)?.settings.some(([name]) => name.toLowerCase() === 'authenticationmethods'));
      if (needsMethods.length > 0) {
        // AuthenticationMethods demands more than a password (e.g. publickey,password): for
        // these users only, allow any single method, so the new password is enough.
        candidate.grants = candidate.grants.map((grant) => (needsMethods.some((check) => check.user === grant.user) ? ensureSetting(grant, 'AuthenticationMethods', 'any') : grant));
        changes = await renderGrants(run.current, layout, withoutGrantFiles(changes, candidate, layout), candidate.grants, candidate.strategy ?? 'drop-in');
        continue;
      }
      throw new VmaccessError('SSHD_CONFIG_INVALID', `sshd would still refuse password login for ${blocked.map((check) => check.user).join(', ')} with the per-user settings in place; nothing was changed.`, {
        hint: 'Look for a Match block that turns PasswordAuthentication off for these users.',
      });
    }

    if (!intent.reset && !intent.restore && liveProbe !== undefined) {
      for (const keyword of ['passwordauthentication', 'authenticationmethods', 'kbdinteractiveauthentication']) {
        if (liveProbe.get(keyword) !== outcome.probe.get(keyword)) {
          throw new VmaccessError('SSHD_CONFIG_INVALID', `The change would alter ${keyword} for users it was not meant for; nothing was changed.`);
        }
      }
    }
    const effective = await effectiveChanges(run.current, changes);
    return {
      candidate,
      changes: effective,
      checks: outcome.checks,
      candidatePorts: portsOf(outcome.probe),
      candidateListen: outcome.probe.getAll('listenaddress'),
      listenChanged: liveProbe !== undefined && listenSignature(liveProbe) !== listenSignature(outcome.probe),
    };
  }
  throw new VmaccessError('SSHD_CONFIG_INVALID', 'sshd kept rejecting the candidate configuration; nothing was changed.');
}

/** The base changes (restore/reset/quarantine) without the grant files, for re-rendering. */
function withoutGrantFiles(changes: ChangeSet, candidate: Candidate, layout: Layout): ChangeSet {
  const base: ChangeSet = new Map(changes);
  base.delete(layout.ownDropIn);
  const main = changes.get(layout.etcMain);
  if (typeof main === 'string') base.set(layout.etcMain, removeManagedBlock(main));
  for (const file of candidate.quarantine) base.set(file, null);
  return base;
}

async function ensureHostKeys(run: Run, tree: SshdTree): Promise<string[]> {
  const made: string[] = [];
  for (const key of hostKeyFiles(tree, run.layout.sshDir)) {
    const type = keyTypeOf(key);
    if (type === undefined || (await run.system.stat(key)) !== undefined) continue;
    // The passphrase is empty (host keys have none); nothing secret on the command line.
    const result = await run.system.run('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', '', '-f', key], { timeoutMs: 60_000 });
    if (result.exitCode !== 0) throw new VmaccessError('SSHD_NOT_RUNNING', `ssh-keygen could not create the missing host key ${key}.`);
    made.push(key);
  }
  await restoreSelinuxLabels(run.system, made.flatMap((key) => [key, `${key}.pub`]));
  return made;
}

/**
 * Files made by rename or by ssh-keygen take the folder's default SELinux type; host
 * keys must be sshd_key_t on RHEL-family systems. restorecon puts the policy's labels
 * back. Only where SELinux is on and restorecon exists; a failure is not fatal (sshd -t
 * and the confirmation after the reload decide).
 */
async function restoreSelinuxLabels(system: System, files: string[]): Promise<void> {
  if (files.length === 0 || (await system.stat('/sys/fs/selinux/enforce')) === undefined) return;
  for (const restorecon of ['/usr/sbin/restorecon', '/sbin/restorecon']) {
    if ((await system.stat(restorecon))?.type !== 'file') continue;
    await system.run(restorecon, ['-F', '--', ...files], { timeoutMs: 30_000 });
    return;
  }
}

function describeDecision(decision: ServiceDecision): string {
  if (decision.action === 'none') return decision.reason;
  const verb = decision.action === 'reload' ? 'reloaded' : decision.action === 'start' ? 'started' : 'restarted';
  return `sshd ${verb} (${decision.reason})`;
}

async function applyIntent(run: Run, intent: Intent, options: SshActionOptions): Promise<StepOutcome[]> {
  const { system, context, layout, profile } = run;
  const outcomes: StepOutcome[] = [];
  const pidFiles = options.pidFiles ?? PID_FILES;

  // A run that died while writing left its journal: put those files back first, and make
  // sure sshd is reloaded at the end whatever this run changes (it may be running them).
  const recovered = await recoverJournal(system, journalDir(context.paths));
  if (recovered.length > 0) {
    outcomes.push({ name: 'sshd_recovery', result: 'changed', message: `An earlier run stopped while changing the SSH server configuration; restored ${recovered.join(', ')}.` });
    context.logger.info({ step: 'sshd', recovered }, 'interrupted change rolled back');
  }

  // Debian's sshd refuses to start, and sshd -t to check, without /run/sshd (a tmpfs
  // directory systemd normally creates).
  if (profile.privsepDir !== undefined && (await system.stat(profile.privsepDir)) === undefined) {
    await system.mkdir(profile.privsepDir, { recursive: true, mode: 0o755 });
    run.notes.push(`created ${profile.privsepDir}`);
  }

  // Nothing to write and nothing to confirm (a removed user without a grant, a restore
  // of what is already there): no sshd call at all.
  if (!intent.reset && intent.passwordUsers.length === 0 && recovered.length === 0) {
    const preview = await run.build(intent);
    if ((await effectiveChanges(run.current, preview.changes)).size === 0) {
      return [...outcomes, { name: 'sshd_config', result: 'unchanged', message: 'The SSH server configuration already was as requested; sshd was not touched.' }];
    }
  }

  let hostKeys: string[] = [];
  if (intent.reset) {
    const preview = await run.build(intent);
    hostKeys = await ensureHostKeys(run, await run.candidateTree(preview.changes));
    if (hostKeys.length > 0) outcomes.push({ name: 'host_keys', result: 'changed', message: `Generated missing host keys: ${hostKeys.join(', ')}.` });
  }

  const { logger } = context;
  logger.info({ step: 'sshd', family: profile.family, main: layout.mainPath, reset: intent.reset, restore: intent.restore, passwordUsers: intent.passwordUsers, removedUsers: intent.removedUsers }, 'ssh changes requested');
  const validated = await validate(run, intent);
  const { changes, candidate } = validated;
  logger.info({ step: 'sshd', files: [...changes.keys()], quarantine: [...candidate.quarantine], strategy: candidate.strategy }, 'candidate validated by sshd');

  const verifyOptions: VerifyOptions = {
    settleMs: options.verify?.settleMs ?? 1_000,
    attempts: options.verify?.attempts ?? 40,
    delayMs: options.verify?.delayMs ?? 250,
    probeTimeoutMs: options.verify?.probeTimeoutMs ?? 2_000,
    sleep: options.verify?.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
  };

  const undo = createUndoRecord(system, journalDir(context.paths));
  const written: string[] = [];
  const quarantined: string[] = [];
  if (changes.size > 0) {
    const liveMain = await system.readText(layout.etcMain);
    await ensureOriginalBackup(system, context.paths, { mainContent: liveMain, dropInDir: layout.dropInDir, ownDropInName: OWN_DROP_IN });
    const quarantineDir = path.join(context.paths.stateDir, 'quarantine', system.now().toISOString().replace(/[:.]/g, '-'));
    try {
      for (const [file, content] of changes) {
        await undo.remember(file);
        if (content === null && candidate.quarantine.has(file)) {
          quarantined.push(`${file} -> ${await quarantineFile(system, file, quarantineDir)}`);
        } else if (content === null) {
          await system.remove(file);
          written.push(`removed ${file}`);
        } else {
          const exists = (await system.stat(file)) !== undefined;
          if (!exists) await system.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
          // New files: 0600 like cloud-init's drop-in; existing files keep mode and owner.
          await system.writeFileAtomic(file, content, exists ? {} : { mode: 0o600 });
          written.push(file);
        }
      }
    } catch (error) {
      await undo.restore();
      await undo.close();
      throw new VmaccessError('SSHD_ROLLED_BACK', 'Writing the SSH server configuration failed; every file was put back.', { cause: error });
    }
    await restoreSelinuxLabels(system, written.filter((file) => !file.startsWith('removed ')));
    // The same files, read where sshd will read them: a last check before sshd sees them.
    const inPlace = await liveConfiguration(system, run.runner, layout.mainPath).check();
    if (inPlace !== undefined) {
      const failedRestore = await undo.restore();
      await undo.close();
      throw new VmaccessError('SSHD_CONFIG_INVALID', `sshd rejected the written configuration, which was put back before sshd was touched: ${inPlace.message}${failedRestore.length > 0 ? `; could not restore ${failedRestore.join(', ')}` : ''}`);
    }
    const parts = [...written.map((file) => (file.startsWith('removed ') ? file : `wrote ${file}`))];
    if (quarantined.length > 0) parts.push(`moved aside drop-ins sshd rejected: ${quarantined.join(', ')}`);
    const backup = await readOriginalBackup(system, context.paths);
    if (backup.main !== undefined) parts.push(`original kept at ${context.paths.sshdBackup}${backup.dropIns !== undefined ? ` (drop-ins in ${dropInBackupDir(context.paths)})` : ''}`);
    outcomes.push({ name: 'sshd_config', result: 'changed', message: `${parts.join('; ')}. Validated with sshd -t.` });
  } else {
    outcomes.push({ name: 'sshd_config', result: 'unchanged', message: 'The SSH server configuration already was as requested.' });
  }

  // reset_ssh opens the port before sshd is reloaded and probed: a firewall that drops the
  // port would otherwise make the probe fail and roll back a good configuration. The rules
  // only ever add an accept for sshd's own port(s), so they stay even if sshd is rolled back.
  if (intent.reset) {
    outcomes.push(await openFirewall(system, validated.candidatePorts.length > 0 ? validated.candidatePorts : [22]));
    logger.info({ step: 'firewall', result: outcomes[outcomes.length - 1]?.result }, 'firewall checked');
  }

  // One reload (or start/restart), then proof that sshd answers.
  const facts = await detectServiceFacts(system, profile, pidFiles);
  logger.debug({ step: 'sshd', facts }, 'service facts');
  const decision = decideServiceControl(facts, { configChanged: changes.size > 0 || recovered.length > 0, listenChanged: validated.listenChanged, ensureRunning: intent.reset, unmask: intent.reset }, run.runner.sshd);
  // Verify whenever sshd was touched or its files changed (a socket-activated sshd is
  // started by the probe itself, with the new files); never on a no-change run.
  const mustVerify = decision.commands.length > 0 || changes.size > 0 || recovered.length > 0 || intent.reset;
  if (mustVerify) {
    const endpoints = probeEndpoints(validated.candidateListen, validated.candidatePorts.map(String));
    logger.info({ step: 'sshd', action: decision.action, commands: decision.commands, reason: decision.reason }, 'sshd service control');
    const failure = await runServiceCommands(system, decision.commands);
    // The settle time is for a daemon that was just signalled or started; when nothing was
    // sent to sshd (reset_ssh on a configuration that already was the default) it only costs seconds.
    const options = decision.commands.length === 0 ? { ...verifyOptions, settleMs: 0 } : verifyOptions;
    const answered = failure === undefined ? await confirmSshdUp(system, profile, pidFiles, endpoints, options) : { ok: false, detail: `${failure.command} failed (${failure.detail})` };
    logger.info({ step: 'sshd', ok: answered.ok, detail: answered.detail }, 'sshd verified');
    if (!answered.ok) {
      const what = answered.detail;
      logger.info({ step: 'sshd', what }, 'sshd did not come back: rolling back');
      const failedRestore = await undo.restore();
      const backFacts = await detectServiceFacts(system, profile, pidFiles);
      const back = decideServiceControl(backFacts, { configChanged: undo.paths.length > 0, listenChanged: validated.listenChanged, ensureRunning: true, unmask: false }, run.runner.sshd);
      await runServiceCommands(system, back.commands);
      // Where the restored configuration listens, as sshd itself reports it.
      const restored = await liveConfiguration(system, run.runner, layout.mainPath)
        .effective({ user: PROBE_USER })
        .catch(() => undefined);
      const backEndpoints = probeEndpoints(restored?.getAll('listenaddress') ?? [], restored === undefined ? ['22'] : portsOf(restored).map(String));
      const again = await confirmSshdUp(system, profile, pidFiles, backEndpoints, verifyOptions);
      await undo.close();
      const restoredText = undo.paths.length > 0 ? `restored ${undo.paths.join(', ')}` : 'no file had changed';
      outcomes.push({
        name: 'sshd',
        result: 'failed',
        code: 'SSHD_ROLLED_BACK',
        message: `sshd did not come back after the change (${what}); ${restoredText}${failedRestore.length > 0 ? ` except ${failedRestore.join(', ')}` : ''}; after the rollback ${again.ok ? again.detail : `sshd still does not answer: ${again.detail}`}.`,
      });
      return outcomes;
    }
    await undo.close();
    outcomes.push({ name: 'sshd', result: decision.commands.length > 0 ? 'changed' : 'unchanged', message: `${describeDecision(decision)}; ${answered.detail}.` });
  } else {
    await undo.close();
    outcomes.push({ name: 'sshd', result: 'unchanged', message: `sshd was not reloaded: ${decision.reason}.` });
  }

  if (intent.passwordUsers.length > 0 || intent.removedUsers.length > 0) {
    const where = candidate.strategy === 'main-block' ? `a marked block in ${layout.etcMain}` : layout.ownDropIn;
    const warnings = validated.checks.flatMap((check) => check.warnings);
    const parts: string[] = [];
    if (intent.passwordUsers.length > 0) parts.push(`Password login is on for ${intent.passwordUsers.join(', ')} (Match User in ${where}), confirmed with sshd -T; unchanged for other users`);
    if (intent.removedUsers.length > 0) parts.push(`per-user SSH settings removed for ${intent.removedUsers.join(', ')}`);
    if (warnings.length > 0) parts.push(`note: ${[...new Set(warnings)].join('; ')}`);
    outcomes.push({ name: 'password_login', result: changes.size > 0 ? 'changed' : 'unchanged', message: `${parts.join('; ')}.` });
  }

  return outcomes;
}

async function openFirewall(system: System, ports: number[]): Promise<StepOutcome> {
  let plan: FirewallPlan;
  try {
    plan = await planFirewall(system, ports);
  } catch (error) {
    return { name: 'firewall', result: 'failed', code: 'FIREWALL_FAILED', message: `The firewall could not be inspected (${error instanceof Error ? error.name : 'error'}).` };
  }
  if (plan.rules.length === 0) return { name: 'firewall', result: 'unchanged', message: `SSH port ${ports.join(', ')} needs no firewall change (${plan.notes.join('; ') || 'no firewall found'}).` };
  const result = await applyFirewall(system, plan);
  if (result.failed.length > 0) {
    return { name: 'firewall', result: 'failed', code: 'FIREWALL_FAILED', message: `Could not add: ${result.failed.join('; ')}.${result.added.length > 0 ? ` Added: ${result.added.join('; ')}.` : ''}` };
  }
  return { name: 'firewall', result: 'changed', message: `Opened: ${result.added.join('; ')}.` };
}
