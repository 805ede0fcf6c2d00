import * as path from 'node:path';
import { dropIncludesInto, globMatches } from '../../config/sshd-config.js';
import { VmaccessError } from '../../errors.js';
import { desiredGrants, existingGrants, renderGrants } from './grants.js';
import type { Candidate, Intent, Strategy } from './grants.js';
import { describeOwnership, packageOwnership } from './package-owner.js';
import { readOriginalBackup } from './ssh-backup.js';
import { OWN_DROP_IN, defaultResourcesDir } from './ssh-setup.js';
import type { SshSetup } from './ssh-setup.js';
import { isUnconditionallyIncluded, overlayView, readSshdTree } from './ssh-tree.js';
import type { ChangeSet, SshdTree } from './ssh-tree.js';

/**
 * The candidate: every file the request changes, as content, before sshd has seen it.
 * restore_backup_ssh and reset_ssh give the base; the password grants go on top.
 */

async function restoreChanges(setup: SshSetup, changes: ChangeSet): Promise<void> {
  const { layout, system, paths } = setup;
  const backup = await readOriginalBackup(system, paths);
  if (backup.main === undefined) {
    throw new VmaccessError('SSH_BACKUP_MISSING', `There is no backup of sshd_config at ${paths.sshdBackup}, so there is nothing to restore.`, {
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

async function defaultConfiguration(setup: SshSetup): Promise<{ content: string; source: string } | undefined> {
  const { system, layout, profile } = setup;
  if (layout.mainPath !== layout.etcMain) return undefined; // SUSE /usr/etc layout: no /etc file is the default
  for (const pristine of profile.pristineConfigs) {
    if (pristine === layout.etcMain) continue;
    const content = await system.readText(pristine);
    if (content !== undefined && content.trim() !== '') return { content, source: pristine };
  }
  const template = path.join(setup.options.resourcesDir ?? defaultResourcesDir(), 'sshd_config', profile.template);
  const text = await system.readText(template);
  if (text === undefined) throw new VmaccessError('INTERNAL', `The default sshd_config template ${profile.template} is missing from the extension.`);
  const dirExists = await setup.current.isDirectory(layout.dropInDir);
  const rooted = text.split('/etc/ssh/').join(`${layout.sshDir}/`);
  // Keep the Include line only where the release has a drop-in folder (EL7/EL8 do not).
  const content = dirExists ? rooted : dropIncludesInto(rooted, layout.dropInDir, layout.sshDir);
  return { content, source: `the extension's ${profile.template} template` };
}

/** Changes from restore_backup_ssh and reset_ssh, before any password grants. */
async function baseChanges(setup: SshSetup, intent: Intent): Promise<ChangeSet> {
  const changes: ChangeSet = new Map();
  if (intent.restore) await restoreChanges(setup, changes);
  if (intent.reset) {
    const fresh = await defaultConfiguration(setup);
    if (fresh !== undefined) changes.set(setup.layout.etcMain, fresh.content);
    setup.notes.push(fresh === undefined ? `the distribution default (${setup.layout.mainPath}) is already in use` : `default configuration from ${fresh.source}`);
  }
  return changes;
}

export async function candidateTree(setup: SshSetup, changes: ChangeSet): Promise<SshdTree> {
  return readSshdTree(overlayView(setup.current, changes), setup.layout.mainPath, setup.layout.sshDir);
}

async function strategyFor(setup: SshSetup, changes: ChangeSet): Promise<Strategy> {
  const tree = await candidateTree(setup, changes);
  return isUnconditionallyIncluded(tree, setup.layout.ownDropIn) ? 'drop-in' : 'main-block';
}

/**
 * reset_ssh: the drop-ins the default main file includes that are not unmodified files of
 * the distribution's packages (path -> why). They leave the active set for the backup set,
 * so sshd's effective configuration is the distribution's default plus the extension's
 * own grants (its drop-in stays: the grants survive a reset).
 */
async function foreignDropIns(setup: SshSetup, base: ChangeSet): Promise<Map<string, string>> {
  const tree = await candidateTree(setup, base);
  const fromMain = tree.includes.filter((include) => include.file === setup.layout.mainPath);
  const foreign = new Map<string, string>();
  for (const file of tree.files) {
    if (file.path === setup.layout.mainPath || file.path === setup.layout.ownDropIn) continue;
    if (!fromMain.some((include) => globMatches(include.pattern, file.path))) continue;
    const ownership = await packageOwnership(setup.system, setup.profile.family, file.path);
    if (ownership.verdict !== 'package') foreign.set(file.path, describeOwnership(ownership));
  }
  return foreign;
}

/** The candidate for `intent`, built once per plan; validation may refine it. */
export async function buildCandidate(setup: SshSetup, intent: Intent): Promise<Candidate> {
  const base = await baseChanges(setup, intent);
  const quarantineReasons = intent.reset ? await foreignDropIns(setup, base) : new Map<string, string>();
  for (const file of quarantineReasons.keys()) base.set(file, null);
  const quarantine = new Set(quarantineReasons.keys());
  const afterBase = overlayView(setup.current, base);
  // reset_ssh keeps the grants the extension made (they move into the new layout);
  // restore_backup_ssh goes back to before the extension changed anything.
  const grants = desiredGrants(await existingGrants(intent.restore ? afterBase : setup.current, setup.layout), intent);
  const needsGrantFiles = grants.length > 0 || intent.removedUsers.length > 0 || (await afterBase.isFile(setup.layout.ownDropIn));
  if (!needsGrantFiles) return { changes: base, quarantine, quarantineReasons, grants, strategy: undefined };
  const strategy = await strategyFor(setup, base);
  const changes = await renderGrants(setup.current, setup.layout, base, grants, strategy);
  return { changes, quarantine, quarantineReasons, grants, strategy };
}
