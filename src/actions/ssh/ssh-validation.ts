import * as path from 'node:path';
import { listeningPorts } from '../../config/sshd-semantics.js';
import { VmaccessError } from '../../errors.js';
import { SshdAnswers, type EffectiveSshdConfig } from '../sshd-effective.js';
import { checkUser, effectiveChanges, ensureSetting, renderGrants, withoutGrantFiles } from './grants.js';
import type { Candidate, Intent, UserCheck } from './grants.js';
import { liveConfiguration, withStagedCandidate } from './ssh-candidate.js';
import type { SshdComplaint, StagedCandidate } from './ssh-candidate.js';
import { candidateTree } from './ssh-changes.js';
import { PROBE_USER } from './ssh-setup.js';
import type { SshSetup } from './ssh-setup.js';
import type { ChangeSet } from './ssh-tree.js';

/**
 * sshd judges the candidate before anything is written, in rounds: a drop-in it rejects
 * is moved aside (reset_ssh only), a user whom AuthenticationMethods would still ask for
 * more than a password gets `AuthenticationMethods any` in their own block, and the
 * round repeats. Plan and apply run exactly this; a plan cannot create what sshd -t
 * itself needs (its privilege separation directory, host keys), so it says validation
 * is pending until apply has made them.
 */

export interface Validated {
  status: 'validated';
  candidate: Candidate;
  /** Only the entries that change a file. */
  changes: ChangeSet;
  checks: UserCheck[];
  candidatePorts: number[];
  /** `sshd -T` listenaddress lines of the candidate, for the probe after the reload. */
  candidateListen: string[];
  listenChanged: boolean;
  /** What sshd answered for the candidate (SshdAnswers keys): once it is in place, these are the live answers. */
  answers: Map<string, EffectiveSshdConfig>;
}

export interface Pending {
  status: 'pending';
  candidate: Candidate;
  changes: ChangeSet;
  reason: string;
  /** sshd named its missing privilege separation directory. */
  privsepDir?: string;
}

type RoundResult = { complaint: SshdComplaint } | { probe: EffectiveSshdConfig; checks: UserCheck[]; answers: Map<string, EffectiveSshdConfig> };

async function runRound(setup: SshSetup, intent: Intent, changes: ChangeSet): Promise<RoundResult> {
  const tree = await candidateTree(setup, changes);
  return withStagedCandidate(setup.system, setup.runner, tree, setup.layout.sshDir, setup.paths.stateDir, async (staged: StagedCandidate): Promise<RoundResult> => {
    // sshd -t and the sshd -T questions run side by side; when -t complains, the answers are not used.
    const users = [PROBE_USER, ...intent.passwordUsers];
    const asked = users.map((user) => staged.effective({ user }));
    // Handled from now on: an answer can fail (sshd -t's complaint, say) before -t is done.
    const settled = Promise.allSettled(asked);
    let complaint: SshdComplaint | undefined;
    try {
      complaint = await staged.check();
    } finally {
      // The staging directory goes away after this round: nothing may still be reading it.
      await settled;
    }
    if (complaint !== undefined) return { complaint };
    const [probe, ...effective] = await Promise.all(asked);
    const answers = new Map(users.map((user, index) => [SshdAnswers.key(setup.runner.sshd, setup.runner.extraArgs, { user }), index === 0 ? probe! : effective[index - 1]!]));
    const checks = intent.passwordUsers.map((user, index) => checkUser(user, effective[index]!));
    return { probe: probe!, checks, answers };
  });
}

/** reset_ssh: the drop-in sshd named, when it is one that may be moved aside. */
async function quarantinable(setup: SshSetup, intent: Intent, candidate: Candidate, changes: ChangeSet, complaint: SshdComplaint): Promise<string | undefined> {
  const culprit = complaint.file;
  const { layout } = setup;
  // Only drop-ins in sshd_config.d are moved aside; a file elsewhere that sshd
  // includes (RHEL's crypto-policies back-end, say) belongs to someone else.
  if (!intent.reset || culprit === undefined || path.dirname(culprit) !== layout.dropInDir || culprit === layout.ownDropIn || candidate.quarantine.has(culprit)) return undefined;
  const tree = await candidateTree(setup, changes);
  return tree.files.some((file) => file.path === culprit) ? culprit : undefined;
}

function rejected(intent: Intent, complaint: SshdComplaint): VmaccessError {
  return new VmaccessError('SSHD_CONFIG_INVALID', `sshd rejected the new configuration, so nothing was changed: ${complaint.message}`, {
    hint: intent.reset ? 'The default configuration itself was rejected; check the sshd package.' : 'Fix the file sshd names, or use reset_ssh.',
  });
}

/** Users sshd would still refuse a password: fixed by a grant (returns new changes) or an error. */
async function allowPasswordAlone(setup: SshSetup, candidate: Candidate, changes: ChangeSet, blocked: UserCheck[]): Promise<ChangeSet> {
  const needsMethods = blocked
    .filter((check) => check.blockedByMethods)
    .filter((check) => !candidate.grants.find((grant) => grant.user === check.user)?.settings.some(([name]) => name.toLowerCase() === 'authenticationmethods'));
  if (needsMethods.length === 0) {
    throw new VmaccessError('SSHD_CONFIG_INVALID', `sshd would still refuse password login for ${blocked.map((check) => check.user).join(', ')} with the per-user settings in place; nothing was changed.`, {
      hint: 'Look for a Match block that turns PasswordAuthentication off for these users.',
    });
  }
  // AuthenticationMethods demands more than a password (e.g. publickey,password): for
  // these users only, allow any single method, so the new password is enough.
  candidate.grants = candidate.grants.map((grant) => (needsMethods.some((check) => check.user === grant.user) ? ensureSetting(grant, 'AuthenticationMethods', 'any') : grant));
  return renderGrants(setup.current, setup.layout, withoutGrantFiles(changes, candidate, setup.layout), candidate.grants, candidate.strategy ?? 'drop-in');
}

function listenSignature(config: EffectiveSshdConfig | undefined): string {
  return config === undefined ? '' : JSON.stringify([config.getAll('port'), config.getAll('listenaddress')]);
}

/**
 * What sshd makes of the files before this change, for a user it is not about. After an
 * interrupted run those are the files its journal puts back, so they are staged.
 */
async function liveProbeOf(setup: SshSetup): Promise<EffectiveSshdConfig | undefined> {
  const { system, runner, layout, paths } = setup;
  if (!setup.recovering) return liveConfiguration(system, runner, layout.mainPath).effective({ user: PROBE_USER }).catch(() => undefined);
  const tree = await candidateTree(setup, new Map());
  return withStagedCandidate(system, runner, tree, layout.sshDir, paths.stateDir, (staged) => staged.effective({ user: PROBE_USER })).catch(() => undefined);
}

/**
 * Validates `candidate` (refining it in place). `prerequisitesPending`: host keys are
 * still to be generated, so a complaint that names no file may be about them.
 */
export async function validateCandidate(setup: SshSetup, intent: Intent, candidate: Candidate, prerequisitesPending: boolean): Promise<Validated | Pending> {
  let changes = candidate.changes;
  // Asked while the first round runs, needed only once a candidate passes. (After an
  // interrupted run it is staged too, and two stagings must not share the state folder's
  // creation and removal, so then it is asked first.)
  const liveProbing = setup.recovering ? Promise.resolve(await liveProbeOf(setup)) : liveProbeOf(setup);
  const limit = (await candidateTree(setup, changes)).files.length + 5;
  for (let round = 0; round < limit; round++) {
    const outcome = await runRound(setup, intent, changes);
    if ('complaint' in outcome) {
      const { complaint } = outcome;
      const culprit = await quarantinable(setup, intent, candidate, changes, complaint);
      if (culprit !== undefined) {
        // reset_ssh: a drop-in that stops sshd from starting is moved aside, never deleted.
        candidate.quarantine.add(culprit);
        candidate.quarantineReasons.set(culprit, 'sshd rejects it');
        changes = new Map(changes).set(culprit, null);
        continue;
      }
      const pending = complaint.missingPrivsepDir !== undefined || (prerequisitesPending && complaint.file === undefined);
      candidate.changes = changes;
      if (!pending) throw rejected(intent, complaint);
      const result: Pending = { status: 'pending', candidate, changes: await effectiveChanges(setup.current, changes), reason: complaint.message };
      if (complaint.missingPrivsepDir !== undefined) result.privsepDir = complaint.missingPrivsepDir;
      return result;
    }
    const blocked = outcome.checks.filter((check) => !check.effective);
    if (blocked.length > 0) {
      changes = await allowPasswordAlone(setup, candidate, changes, blocked);
      continue;
    }
    const liveProbe = await liveProbing;
    if (!intent.reset && !intent.restore && liveProbe !== undefined) {
      for (const keyword of ['passwordauthentication', 'authenticationmethods', 'kbdinteractiveauthentication']) {
        if (liveProbe.get(keyword) !== outcome.probe.get(keyword)) {
          throw new VmaccessError('SSHD_CONFIG_INVALID', `The change would alter ${keyword} for users it was not meant for; nothing was changed.`);
        }
      }
    }
    candidate.changes = changes;
    return {
      status: 'validated',
      candidate,
      changes: await effectiveChanges(setup.current, changes),
      checks: outcome.checks,
      candidatePorts: listeningPorts(outcome.probe.getAll('port'), outcome.probe.getAll('listenaddress')),
      candidateListen: outcome.probe.getAll('listenaddress'),
      listenChanged: liveProbe !== undefined && listenSignature(liveProbe) !== listenSignature(outcome.probe),
      answers: outcome.answers,
    };
  }
  throw new VmaccessError('SSHD_CONFIG_INVALID', 'sshd kept rejecting the candidate configuration; nothing was changed.');
}
