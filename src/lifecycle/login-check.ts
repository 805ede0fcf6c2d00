import type { ActionContext, StepOutcome } from '../actions/action.js';
import { checkLoginPaths, withDeadline } from '../actions/login-path/login-path.js';
import { targetsOf } from '../actions/login-path/targets.js';
import { describeVerdict, finding, worstVerdict, type CheckVerdict, type Verdict } from '../actions/login-path/verdict.js';
import { numericCode, type StatusValue, type Substatus } from '../handler/status.js';
import type { VmaccessRequest } from '../settings/request.js';

/**
 * After a change that should let someone in (a key, a password, a new account,
 * reset_ssh), prove the login path rather than trust the change: what still refuses the
 * user becomes an error (blocked) or a warning, naming the cause and the request that
 * fixes it. Bounded as a whole, so it can never hang enable.
 */

export const LOGIN_CHECK_DEADLINE_MS = 60_000;

export interface LoginCheck {
  users: string[];
  verdicts: CheckVerdict[];
  worst: Verdict;
}

/** Whether this request should have let someone in, so the path is worth proving. */
export function wantsLoginCheck(request: VmaccessRequest): boolean {
  return request.account !== undefined || request.resetSsh;
}

export async function checkLoginAfterChange(request: VmaccessRequest, context: ActionContext, deadlineMs = LOGIN_CHECK_DEADLINE_MS): Promise<LoginCheck | undefined> {
  if (!wantsLoginCheck(request)) return undefined;
  const targets = await targetsOf(request, context.system, context.paths, context.agentLibDir);
  const users = targets.map((target) => target.user);
  const verdicts = await withDeadline(checkLoginPaths(context.system, context.paths, targets, context.sshdAnswers === undefined ? {} : { answers: context.sshdAnswers }), deadlineMs, () => [
    finding('login_path', 'warning', `the login-path check did not finish within ${deadlineMs / 1000} s`),
  ]);
  context.logger.info({ users, worst: worstVerdict(verdicts), findings: verdicts.filter((entry) => entry.verdict !== 'ok').map((entry) => `${entry.user ?? '-'}:${entry.check}`) }, 'login path checked');
  return { users, verdicts, worst: worstVerdict(verdicts) };
}

export function verdictStatus(verdict: Verdict): StatusValue {
  return verdict === 'blocked' ? 'error' : verdict === 'warning' ? 'warning' : 'success';
}

/** What still blocks or warns, one substatus each; one line when the path is clear. */
export function loginCheckSubstatus(check: LoginCheck): Substatus[] {
  const problems = check.verdicts.filter((entry) => entry.verdict !== 'ok');
  if (problems.length === 0) {
    const who = check.users.length === 0 ? 'sshd' : check.users.join(', ');
    return [{ name: 'login_path', status: 'success', code: 0, message: `clear for ${who}: ${check.verdicts.length} checks passed` }];
  }
  return problems.map((entry) => ({
    name: 'login_path',
    status: verdictStatus(entry.verdict),
    code: entry.verdict === 'blocked' ? numericCode('LOGIN_PATH_BLOCKED') : 0,
    message: describeVerdict(entry),
  }));
}

/** The first blocking finding as an outcome, for the status message. */
export function blockingOutcome(check: LoginCheck): StepOutcome | undefined {
  const first = check.verdicts.find((entry) => entry.verdict === 'blocked');
  if (first === undefined) return undefined;
  const more = check.verdicts.filter((entry) => entry.verdict === 'blocked').length - 1;
  return {
    name: 'login_path',
    result: 'failed',
    code: 'LOGIN_PATH_BLOCKED',
    message: `the request was applied, but the login is still refused: ${describeVerdict(first)}${more > 0 ? ` (and ${more} more; see the substatus list)` : ''}`,
  };
}
