import * as path from 'node:path';
import type { AccessGrant, GrantsFile } from '../actions/access/access-grants.js';
import { dueGrants, nextDeadline, readGrants, writeGrants } from '../actions/access/access-grants.js';
import { applySchedule, planSchedule } from '../actions/access/expiry-timer.js';
import { revokeGrant } from '../actions/access/revoke.js';
import { isVmaccessError } from '../errors.js';
import { acquireLock } from '../handler/lock.js';
import { createSshChangeRequests } from '../actions/action.js';
import type { VmaccessRequest } from '../settings/request.js';
import { createAuditTrail, type AuditTrail } from './audit.js';
import { dispatch } from './dispatch.js';
import { LOCK_FILE } from './enable.js';
import type { Invocation, Runtime } from './runtime.js';

/**
 * expire: run by the access-expiry timer (systemd or cron), never by the guest agent.
 * Revokes every grant whose deadline has passed, keeps those that failed (retried a few
 * minutes later), and sets the timer to the next deadline or removes it when none is
 * left. Idempotent: a second run finds nothing due and changes nothing.
 */

const RETRY_MINUTES = 5;

/** The deadlines to schedule: a grant that failed to revoke is retried soon, not at its past deadline. */
function scheduleView(file: GrantsFile, now: Date): GrantsFile {
  const retryAt = new Date(now.getTime() + RETRY_MINUTES * 60_000).toISOString();
  return { version: 1, grants: file.grants.map((grant) => (Date.parse(grant.deadline) <= now.getTime() ? { ...grant, deadline: retryAt } : grant)) };
}

export async function expire(runtime: Runtime, invocation: Invocation): Promise<number> {
  const { system, logger, paths } = runtime;
  const handlerDir = invocation.environment.handlerDir;
  // The same lock as enable: a revocation never races an enable changing the same account.
  const lock = await acquireLock(system, path.join(handlerDir, LOCK_FILE), { pid: runtime.pid });
  try {
    const now = system.now();
    const grants = await readGrants(system, paths);
    const due = dueGrants(grants, now);
    const audit = createAuditTrail(system, paths, { seq: -1, onError: (error: unknown) => logger.warn({ err: error }, 'audit trail not written') });
    const kept: AccessGrant[] = grants.grants.filter((grant) => !due.includes(grant));
    let failures = 0;
    const removed: string[] = [];
    for (const grant of due) {
      const base = { action: 'expire', kind: ['access_minutes'], account: grant.user, files: [], commands: [] };
      await audit.write({ ...base, phase: 'before', summary: `VMAccess will revoke the time-limited access of ${grant.user} (deadline ${grant.deadline})` });
      const result = await revokeGrant(system, paths, grant);
      const changed = result.outcomes.filter((outcome) => outcome.result === 'changed').map((outcome) => outcome.message);
      const failedSteps = result.outcomes.filter((outcome) => outcome.result === 'failed');
      await audit.write({
        ...base,
        phase: 'after',
        summary: [changed.length === 0 ? `VMAccess found nothing left to revoke for ${grant.user}` : changed.join(' '), ...failedSteps.map((outcome) => `${outcome.name} failed [${outcome.code ?? 'INTERNAL'}]`)].join('; '),
        outcome: result.outcomes.map((outcome) => ({ name: outcome.name, result: outcome.result, ...(outcome.code === undefined ? {} : { code: outcome.code }) })),
      });
      if (result.outcomes.some((outcome) => outcome.name === 'revoke_account' && outcome.result === 'changed')) removed.push(grant.user);
      for (const outcome of result.outcomes) logger.info({ user: grant.user, step: outcome.name, result: outcome.result, code: outcome.code }, 'revocation step finished');
      if (!result.isComplete) {
        failures += 1;
        kept.push({ ...grant, lastError: failedSteps.map((outcome) => `[${outcome.code ?? 'INTERNAL'}] ${outcome.message}`).join(' ').slice(0, 500) });
      }
    }
    if (removed.length > 0) failures += await dropSshGrants(runtime, invocation, removed, audit);
    await audit.settled();
    const remaining: GrantsFile = { version: 1, grants: kept };
    if (due.length > 0) await writeGrants(system, paths, remaining);
    await applySchedule(system, await planSchedule(system, paths, handlerDir, nextDeadline(scheduleView(remaining, now))));
    const message = `expire: ${due.length - failures} grant(s) revoked, ${failures} failed (retried), ${kept.length - failures} pending`;
    logger.info({ due: due.length, failures, pending: kept.length }, 'expire finished');
    runtime.print(message);
    return failures === 0 ? 0 : 1;
  } catch (error) {
    logger.error({ err: error }, 'expire failed');
    runtime.print(`expire failed [${isVmaccessError(error) ? error.code : 'INTERNAL'}]`);
    return 1;
  } finally {
    await lock.release();
  }
}

/**
 * A removed account may have had a per-user password grant in sshd's configuration (a
 * request with password and access_minutes): the ssh action drops it, as for remove_user,
 * validated by sshd and without touching sshd when there is nothing to drop.
 */
async function dropSshGrants(runtime: Runtime, invocation: Invocation, users: readonly string[], audit: AuditTrail): Promise<number> {
  const ssh = (await runtime.loadActions()).filter((action) => action.name === 'ssh');
  const changes = createSshChangeRequests();
  for (const user of users) changes.removedUsers.add(user);
  const request: VmaccessRequest = { removeUser: users[0]!, resetSsh: false, restoreBackupSsh: false, warnings: [] };
  const context = { system: runtime.system, logger: runtime.logger, paths: runtime.paths, ssh: changes, agentLibDir: invocation.agentLibDir, handlerDir: invocation.environment.handlerDir };
  const result = await dispatch(ssh, request, context, audit);
  return result.failures.length;
}

/**
 * uninstall: no timer may outlive the handler that it runs. During an upgrade the old
 * version is uninstalled after the new one's update moved the timer: a schedule that
 * names another version's folder is left alone. Grants stay recorded.
 */
export async function removeExpirySchedule(runtime: Runtime, handlerDir: string): Promise<boolean> {
  const schedule = await planSchedule(runtime.system, runtime.paths, handlerDir, undefined);
  for (const file of schedule.remove) {
    const text = (await runtime.system.readText(file)) ?? '';
    if (/handlers\/run expire/.test(text) && !text.includes(`${handlerDir}/handlers/run expire`) && !text.includes(`cd ${handlerDir} &&`)) return false;
  }
  await applySchedule(runtime.system, schedule);
  return schedule.remove.length > 0;
}

/** update: the timer must run the new version's handlers/run (the old folder is deleted). */
export async function moveExpirySchedule(runtime: Runtime, handlerDir: string): Promise<boolean> {
  const grants = await readGrants(runtime.system, runtime.paths);
  const deadline = nextDeadline(scheduleView(grants, runtime.system.now()));
  if (deadline === undefined) return false;
  await applySchedule(runtime.system, await planSchedule(runtime.system, runtime.paths, handlerDir, deadline));
  return true;
}
