/**
 * The login path as verdicts: one per check, each with the evidence it rests on and the
 * request that clears it. Shared by the check after enable and by `diagnose`; pure data.
 */

export type Verdict = 'ok' | 'warning' | 'blocked';

/** The vmaccess request that clears a finding. */
export type FixRequest = 'reset_ssh' | 'password' | 'ssh_key' | 'unlock' | 'repair_disk';

export interface CheckVerdict {
  /** Stable check name, e.g. `sshd_access`, `shell`, `strict_modes`. */
  check: string;
  /** The account the check is about; absent for machine-wide checks. */
  user?: string;
  verdict: Verdict;
  /** What was found, for people: the keyword and where it came from, a mode, a date. */
  evidence: string;
  /** The request that fixes it; absent when no request of this handler can. */
  fix?: FixRequest;
  /** What to do by hand when no request can fix it. */
  advice?: string;
}

/** How the user is meant to get in. */
export interface LoginMeans {
  key: boolean;
  password: boolean;
}

export function ok(check: string, evidence: string, user?: string): CheckVerdict {
  return { check, verdict: 'ok', evidence, ...(user === undefined ? {} : { user }) };
}

export function finding(check: string, verdict: Exclude<Verdict, 'ok'>, evidence: string, options: { user?: string; fix?: FixRequest; advice?: string } = {}): CheckVerdict {
  return { check, verdict, evidence, ...options };
}

/** The worst verdict of a list: blocked over warning over ok. */
export function worstVerdict(verdicts: readonly CheckVerdict[]): Verdict {
  if (verdicts.some((entry) => entry.verdict === 'blocked')) return 'blocked';
  if (verdicts.some((entry) => entry.verdict === 'warning')) return 'warning';
  return 'ok';
}

/** One line for a status message or a terminal: `alice: shell: /usr/sbin/nologin ... (fix: unlock)`. */
export function describeVerdict(entry: CheckVerdict): string {
  const who = entry.user === undefined ? '' : `${entry.user}: `;
  const fix = entry.fix !== undefined ? ` (fix: ${entry.fix})` : entry.advice !== undefined ? ` (${entry.advice})` : '';
  return `${who}${entry.check}: ${entry.verdict}: ${entry.evidence}${fix}`;
}
