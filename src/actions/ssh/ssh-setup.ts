import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SystemPaths } from '../../system/paths.js';
import type { System } from '../../system/system.js';
import type { ActionContext } from '../plan.js';
import { findSshd } from '../sshd-effective.js';
import { detectDistro } from './distro.js';
import type { DistroProfile } from './distro.js';
import type { SshdRunner } from './ssh-candidate.js';
import { systemView } from './ssh-tree.js';
import type { FileView } from './ssh-tree.js';
import type { VerifyOptions } from './sshd-service.js';
import type { RestartTiming } from './sshd-restart.js';

/** The extension's drop-in. It holds only `Match User` blocks; among Match blocks the
 * first that sets a keyword wins, so it sorts before every usual drop-in (cloud-init's
 * 50-cloud-init.conf, 60-cloudimg-settings.conf, RHEL's 50-redhat.conf, Flatcar's
 * 9999999gentoo-pam.conf). */
export const OWN_DROP_IN = '00-vmaccess.conf';
/** A user name no account has, to prove other users' settings did not change. */
export { PROBE_USER } from '../sshd-effective.js';

export interface SshActionOptions {
  /** sshd binary or a wrapper (tests). Default: found in the usual places. */
  sshd?: string;
  /** Extra sshd arguments for validation calls (tests: `-h <temporary host key>`). */
  sshdExtraArgs?: string[];
  /** Folder holding sshd_config/<template>. Default: resources/ of the install. */
  resourcesDir?: string;
  pidFiles?: string[];
  verify?: Partial<VerifyOptions>;
  /** Deadlines of reset_ssh's restart (tests shorten them). */
  restartTiming?: Partial<Omit<RestartTiming, 'sleep'>>;
}

export interface Layout {
  sshDir: string;
  /** The file sshd reads first: /etc/ssh/sshd_config, or the vendor file when that is absent. */
  mainPath: string;
  /** Where the extension may write the main file. */
  etcMain: string;
  dropInDir: string;
  ownDropIn: string;
}

/** What every step of a plan needs to know about this machine's SSH server. */
export interface SshSetup {
  system: System;
  paths: SystemPaths;
  options: SshActionOptions;
  layout: Layout;
  profile: DistroProfile;
  runner: SshdRunner;
  /** The files as they are before this run's change (after recovering an interrupted one). */
  current: FileView;
  /** `current` is what an interrupted run's journal puts back, not yet what is on disk. */
  recovering: boolean;
  /** Remarks for people gathered while planning. */
  notes: string[];
}

async function layoutOf(view: FileView, paths: SystemPaths): Promise<Layout> {
  const sshDir = path.dirname(paths.sshdConfig);
  const etcExists = await view.isFile(paths.sshdConfig);
  const vendorExists = !etcExists && (await view.isFile(paths.vendorSshdConfig));
  const dropInDir = path.join(sshDir, 'sshd_config.d');
  return { sshDir, mainPath: vendorExists ? paths.vendorSshdConfig : paths.sshdConfig, etcMain: paths.sshdConfig, dropInDir, ownDropIn: path.join(dropInDir, OWN_DROP_IN) };
}

/** `current` overrides the view of the files (a plan that first recovers an interrupted run). */
export async function openSetup(context: ActionContext, options: SshActionOptions, current?: FileView): Promise<SshSetup> {
  const { system, paths } = context;
  const view = current ?? systemView(system);
  const layout = await layoutOf(view, paths);
  const profile = await detectDistro(system, paths);
  const sshd = options.sshd ?? (await findSshd(system));
  return { system, paths, options, layout, profile, runner: { sshd, extraArgs: options.sshdExtraArgs ?? [] }, current: view, recovering: current !== undefined, notes: [] };
}

export { journalDir } from './journal-dir.js';

export function defaultResourcesDir(): string {
  // Only for runs from source (src/actions/ssh/ssh-setup.ts): the bundle's entry passes resourcesDir.
  return fileURLToPath(new URL('../../../resources', import.meta.url));
}
