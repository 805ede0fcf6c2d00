import type { ActionContext } from '../actions/action.js';
import { diagnose, type Diagnosis } from '../actions/login-path/diagnose.js';
import { describeVerdict, worstVerdict, type CheckVerdict } from '../actions/login-path/verdict.js';
import type { StatusValue, Substatus } from '../handler/status.js';
import { numericCode } from '../handler/status.js';
import type { VmaccessRequest } from '../settings/request.js';
import { verdictStatus } from './login-check.js';
import type { Runtime } from './runtime.js';

/**
 * `diagnose` as enable reports it (one substatus per check) and as `vmaccess diagnose`
 * prints it. Findings are not failures of the request: a diagnosis that finds a lockout
 * ends in `warning`, so the portal does not show the extension itself as failed.
 */

export interface DiagnoseReport {
  status: StatusValue;
  message: string;
  substatus: Substatus[];
}

function substatusOf(entry: CheckVerdict): Substatus {
  const fix = entry.fix !== undefined ? ` Fix: send ${entry.fix}.` : entry.advice !== undefined ? ` To fix: ${entry.advice}.` : '';
  return {
    name: entry.user === undefined ? entry.check : `${entry.user}/${entry.check}`,
    status: verdictStatus(entry.verdict),
    code: entry.verdict === 'blocked' ? numericCode('LOGIN_PATH_BLOCKED') : 0,
    message: `${entry.verdict}: ${entry.evidence}.${fix}`,
  };
}

export function summarise(diagnosis: Diagnosis): string {
  const who = diagnosis.users.length === 0 ? 'no account' : diagnosis.users.join(', ');
  const blocked = diagnosis.verdicts.filter((entry) => entry.verdict === 'blocked');
  const warnings = diagnosis.verdicts.filter((entry) => entry.verdict === 'warning');
  if (blocked.length === 0 && warnings.length === 0) return `Diagnose (${who}): all ${diagnosis.verdicts.length} checks passed; nothing was changed.`;
  const first = blocked[0] ?? warnings[0];
  return `Diagnose (${who}): ${blocked.length} blocked, ${warnings.length} warnings; nothing was changed. First: ${first === undefined ? '' : describeVerdict(first)}`;
}

export async function diagnoseForEnable(request: NonNullable<VmaccessRequest['diagnose']>, context: ActionContext): Promise<DiagnoseReport> {
  const diagnosis = await diagnose(context.system, context.paths, request, { agentLibDir: context.agentLibDir });
  context.logger.info({ users: diagnosis.users, worst: worstVerdict(diagnosis.verdicts) }, 'diagnose finished');
  return {
    status: worstVerdict(diagnosis.verdicts) === 'ok' ? 'success' : 'warning',
    message: summarise(diagnosis),
    substatus: diagnosis.verdicts.map(substatusOf),
  };
}

export interface DiagnoseCliOptions {
  user?: string;
  json?: boolean;
  agentLibDir: string;
}

/** `vmaccess diagnose [--user NAME] [--json]`: exit 0 when nothing blocks, 1 when something does. */
export async function diagnoseCommand(runtime: Runtime, options: DiagnoseCliOptions): Promise<number> {
  const diagnosis = await diagnose(runtime.system, runtime.paths, options.user === undefined ? {} : { username: options.user }, { agentLibDir: options.agentLibDir });
  if (options.json === true) runtime.print(JSON.stringify(diagnosis, null, 2));
  else {
    for (const entry of diagnosis.verdicts) runtime.print(describeVerdict(entry));
    runtime.print(summarise(diagnosis));
  }
  return worstVerdict(diagnosis.verdicts) === 'blocked' ? 1 : 0;
}
