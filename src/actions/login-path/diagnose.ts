import type { SystemPaths } from '../../system/paths.js';
import type { System } from '../../system/system.js';
import { checkUser, checkMachine, createSharedFacts, isVerdict, withDeadline, type LoginPathOptions } from './login-path.js';
import { judgeListenPort } from './sshd-rules.js';
import { checkClock, checkFilesystems, checkFirewall, checkHostKeys, checkSshdProcess, checkSshdSyntax } from './machine-checks.js';
import { rescueAccounts } from './targets.js';
import { finding, type CheckVerdict } from './verdict.js';

/**
 * `diagnose`: why can't someone log in? The login path for the named user (or every
 * account in /etc/sudoers.d/waagent plus the provisioned admin), and the machine-wide
 * checks around it. Read-only: nothing is written, sshd is not signalled, no secret is read.
 */

export interface DiagnoseRequest {
  username?: string;
}

export interface DiagnoseOptions extends LoginPathOptions {
  agentLibDir: string;
  /** Bound on the whole diagnosis. */
  deadlineMs?: number;
}

export interface Diagnosis {
  users: string[];
  verdicts: CheckVerdict[];
}

async function diagnoseAll(system: System, paths: SystemPaths, request: DiagnoseRequest, options: DiagnoseOptions): Promise<Diagnosis> {
  const shared = await createSharedFacts(system, paths, options);
  const config = isVerdict(shared.probe) ? undefined : shared.probe;
  const verdicts: CheckVerdict[] = [await checkSshdProcess(system, paths), await checkSshdSyntax(system, shared.sshd)];
  verdicts.push(...(await checkMachine(shared, options)));
  if (config !== undefined) verdicts.push(judgeListenPort(config, shared.sources));
  verdicts.push(await checkHostKeys(system, config));
  verdicts.push(...(await checkFirewall(system, config)));
  verdicts.push(...(await checkFilesystems(system, paths)));
  verdicts.push(await checkClock(system));
  const users = request.username !== undefined ? [request.username] : await rescueAccounts(system, paths, options.agentLibDir);
  if (users.length === 0) verdicts.push(finding('users', 'warning', 'no user named, and /etc/sudoers.d/waagent and ovf-env.xml name no account to check'));
  for (const user of users) verdicts.push(...(await checkUser(shared, { user })));
  return { users, verdicts };
}

export async function diagnose(system: System, paths: SystemPaths, request: DiagnoseRequest, options: DiagnoseOptions): Promise<Diagnosis> {
  const deadlineMs = options.deadlineMs ?? 120_000;
  return withDeadline(diagnoseAll(system, paths, request, options), deadlineMs, () => ({
    users: request.username === undefined ? [] : [request.username],
    verdicts: [finding('diagnose', 'warning', `the checks did not finish within ${deadlineMs / 1000} s; run vmaccess diagnose on the VM for the rest`)],
  }));
}
