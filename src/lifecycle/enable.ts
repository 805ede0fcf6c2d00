import * as path from 'node:path';
import { createSshChangeRequests } from '../actions/action.js';
import { SshdAnswers } from '../actions/sshd-effective.js';
import { VmaccessError, isVmaccessError, type ErrorCode } from '../errors.js';
import { acquireLock } from '../handler/lock.js';
import { readSequenceState, scrubSettingsFile, type SequenceState } from '../handler/sequence-state.js';
import { resolveSequenceNumber, writeMrseq } from '../handler/sequence.js';
import { numericCode, writeStatus, type CompletionRecord, type StatusValue, type Substatus } from '../handler/status.js';
import { isEmptyRequest } from '../settings/request.js';
import type { StepOutcome } from '../actions/action.js';
import type { Invocation, Runtime } from './runtime.js';

/**
 * enable (contract §4.1, §4.2): apply `config/<seq>.settings` once. The agent calls
 * it again with the same seq on every restart and reboot; a finished seq is
 * recognised and left alone, a run that died part-way is finished.
 */

/** Failures that may go away by themselves; the same seq is tried again on the next enable. */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ENABLE_BUSY',
  'INTERNAL',
  'PROTECTED_SETTINGS_CERT_MISSING',
  'PROTECTED_SETTINGS_CONSUMED',
  'SETTINGS_UNREADABLE',
  // An empty or truncated file is damage the agent repairs when it next writes the file.
  'SETTINGS_EMPTY',
  'SETTINGS_NOT_JSON',
  'SSHD_NOT_RUNNING',
  'SSHD_ROLLED_BACK',
  'DISK_BUSY',
]);

export const LOCK_FILE = 'vmaccess.lock';

function today(now: Date): string {
  return now.toISOString().slice(0, 10);
}

interface Finish {
  code: ErrorCode | undefined;
  /** `warning` when the work is done but a person must act (see StepOutcome.warning). */
  status?: StatusValue;
  message: string;
  substatus: Substatus[];
  complete: boolean;
}

/**
 * Every enable with work to do first finishes what an earlier run left half-done (an
 * SSH change set whose undo journal is still on disk), whatever this request asks for.
 * (An already applied sequence number is left alone: a finished run closed its
 * journal, and that enable does nothing at all.) Actions without a `recover` step are
 * not asked; the ssh action answers with one read when there is nothing to finish.
 */
async function recoverInterrupted(runtime: Runtime, agentLibDir: string): Promise<Substatus[]> {
  const { system, logger, paths } = runtime;
  const outcomes: StepOutcome[] = [];
  for (const action of await (runtime.loadActionsToRecover?.() ?? runtime.loadActions())) {
    if (action.recover === undefined) continue;
    try {
      outcomes.push(...(await action.recover({ system, logger, paths, ssh: createSshChangeRequests(), agentLibDir })));
    } catch (error) {
      logger.error({ action: action.name, err: error }, 'recovery failed');
      outcomes.push((await import('./dispatch.js')).outcomeFromError(`${action.name}_recovery`, error));
    }
  }
  if (outcomes.length === 0) return [];
  const { toSubstatus } = await import('./dispatch.js');
  return outcomes.map(toSubstatus);
}

/** Memory at a phase of enable, in MiB, for the log (npm run bench reads it). */
function memoryOf(runtime: Runtime): { rssMiB?: number; heapMiB?: number } {
  const usage = runtime.memoryUsage?.();
  if (usage === undefined) return {};
  return { rssMiB: Math.round(usage.rss / 104_857.6) / 10, heapMiB: Math.round(usage.heapUsed / 104_857.6) / 10 };
}

export async function enable(runtime: Runtime, invocation: Invocation): Promise<number> {
  const { system, logger } = runtime;
  const { environment } = invocation;
  const handlerName = environment.name;
  const seq = (await resolveSequenceNumber(system, environment.configFolder, invocation.sequenceFromAgent)) ?? 0;
  let digest: string | undefined;
  /** What recovery finished before this request (an earlier run that died half-way). */
  let recovered: Substatus[] = [];

  const finish = async (outcome: Finish): Promise<number> => {
    const failed = outcome.code !== undefined;
    const completion: CompletionRecord = {
      settingsDigest: digest,
      complete: outcome.complete,
      ...(outcome.code === undefined ? {} : { errorCode: outcome.code }),
    };
    await writeStatus(
      system,
      environment.statusFolder,
      seq,
      {
        operation: 'Enable',
        status: failed ? 'error' : (outcome.status ?? 'success'),
        code: numericCode(outcome.code),
        message: outcome.message,
        substatus: [...recovered, ...outcome.substatus],
        completion,
      },
      handlerName,
    );
    if (outcome.complete) await writeMrseq(system, environment.handlerDir, seq);
    await invocation.events.emit({ taskName: 'Enable', level: failed ? 'Error' : 'Informational', message: `seq ${seq}: ${outcome.message}` });
    runtime.print(failed ? `enable failed [${outcome.code}]` : outcome.status === 'warning' ? 'enable succeeded with warnings' : 'enable succeeded');
    logger.info({ seq, code: outcome.code, complete: outcome.complete, ...memoryOf(runtime) }, 'enable finished');
    return failed ? 1 : 0;
  };
  const fail = (error: VmaccessError, substatus: Substatus[] = []): Promise<number> =>
    finish({ code: error.code, message: `Enable failed [${error.code}]: ${error.statusMessage}`, substatus, complete: !RETRYABLE.has(error.code) });

  let lock;
  try {
    lock = await acquireLock(system, path.join(environment.handlerDir, LOCK_FILE), { pid: runtime.pid });
  } catch (error) {
    if (isVmaccessError(error)) return fail(error);
    throw error;
  }
  let state: SequenceState | undefined;
  try {
    // How long node and the loading took before this first record (npm run bench reads it).
    logger.info({ seq, ...memoryOf(runtime), ...(runtime.uptimeMs === undefined ? {} : { uptimeMs: runtime.uptimeMs() }) }, 'enable started');
    state = await readSequenceState(system, environment, seq);
    const { settings } = state;
    digest = settings.digest;
    if (state.isApplied) {
      logger.info({ seq }, 'sequence number already applied; nothing to do');
      runtime.print(`seq ${seq} already applied`);
      return 0;
    }
    // Before the request is even parsed: an invalid request must not leave a half-made change in place.
    recovered = await recoverInterrupted(runtime, invocation.agentLibDir);
    if (settings.isScrubbed) {
      throw new VmaccessError('PROTECTED_SETTINGS_CONSUMED', 'The protected settings of this request were already used and removed from disk.', {
        hint: 'Restart the guest agent (or apply the extension again) so it delivers them once more.',
      });
    }
    await writeStatus(
      system,
      environment.statusFolder,
      seq,
      {
        operation: 'Enable',
        status: 'transitioning',
        code: 0,
        message: 'Enable in progress.',
        substatus: [],
        completion: { settingsDigest: digest, complete: false },
      },
      handlerName,
    );
    // Only now that there is work to do. openssl decrypts while the schema (zod), the
    // dispatcher and the audit trail load; the actions load once the request says which ones it needs.
    const decrypting = import('../settings/protected-settings.js').then(({ decryptProtectedSettings }) =>
      settings.protectedSettings === undefined ? {} : decryptProtectedSettings(system, settings.protectedSettings, settings.thumbprint, { agentLibDir: invocation.agentLibDir }),
    );
    // Awaited below; until then a failure must not count as unhandled.
    decrypting.catch(() => undefined);
    const [{ parseRequest }, { dispatch }, { createAuditTrail }] = await Promise.all([import('../settings/schema.js'), import('./dispatch.js'), import('./audit.js')]);
    const request = parseRequest(settings.publicSettings, await decrypting, { today: today(system.now()), now: system.now() });
    logger.info({ seq, ...memoryOf(runtime) }, 'request decrypted and validated');
    const warnings: Substatus[] = request.warnings.map((warning) => ({ name: 'settings', status: 'warning', code: 0, message: warning }));
    if (isEmptyRequest(request)) {
      return await finish({ code: undefined, message: 'Enable succeeded: the request asks for nothing.', substatus: warnings, complete: true });
    }
    const context = { system, logger, paths: runtime.paths, ssh: createSshChangeRequests(), agentLibDir: invocation.agentLibDir, handlerDir: environment.handlerDir, sshdAnswers: new SshdAnswers() };
    if (request.diagnose !== undefined) {
      if (runtime.loginPath === undefined) throw new VmaccessError('INTERNAL', 'diagnose is not available in this build.');
      const report = await runtime.loginPath.diagnose(request.diagnose, context);
      return await finish({ code: undefined, status: report.status, message: report.message, substatus: [...warnings, ...report.substatus], complete: true });
    }
    const audit = createAuditTrail(system, runtime.paths, { seq, onError: (error: unknown) => logger.warn({ err: error }, 'audit trail not written') });
    const actions = await runtime.loadActions(request);
    logger.info({ seq, actions: actions.map((action) => action.name), ...memoryOf(runtime) }, 'actions loaded');
    const result = await dispatch(actions, request, context, audit);
    const substatus = [...warnings, ...result.substatus];
    const firstFailure = result.failures[0];
    if (firstFailure !== undefined) {
      const code = firstFailure.code ?? 'INTERNAL';
      const more = result.failures.length > 1 ? ` (${result.failures.length} steps failed; see the substatus list)` : '';
      return await finish({
        code,
        message: `Enable failed [${code}]: ${firstFailure.message}${more}`,
        substatus,
        complete: result.failures.every((failure) => !RETRYABLE.has(failure.code ?? 'INTERNAL')),
      });
    }
    // Success means the person can log in: prove the path the request should have opened.
    const login = await runtime.loginPath?.afterChange(request, context);
    if (login !== undefined) {
      const { blockingOutcome, loginCheckSubstatus } = await import('./login-check.js');
      substatus.push(...loginCheckSubstatus(login));
      const blocked = blockingOutcome(login);
      if (blocked !== undefined) return await finish({ code: 'LOGIN_PATH_BLOCKED', message: `Enable failed [LOGIN_PATH_BLOCKED]: ${blocked.message}`, substatus, complete: true });
    }
    const changed = result.outcomes.filter((outcome) => outcome.result === 'changed').map((outcome) => outcome.message);
    // A warning (check_disk found errors, a password set while sshd is stopped, a login-path warning) must be
    // seen where people look first.
    const attention = result.outcomes.flatMap((outcome) => (outcome.warning !== undefined ? [outcome.warning] : outcome.result === 'warning' ? [outcome.message] : []));
    if (login?.worst === 'warning') attention.push(`the login path has warnings: ${login.verdicts.filter((entry) => entry.verdict === 'warning').map((entry) => `${entry.user ?? 'sshd'} ${entry.check}`).join(', ')}`);
    if (attention.length > 0) {
      const done = changed.length === 0 ? '' : ` Done: ${changed.join('; ')}`;
      return await finish({ code: undefined, status: 'warning', message: `Enable finished with a warning: ${attention.join('; ')}.${done}`, substatus, complete: true });
    }
    const message = changed.length === 0 ? 'Enable succeeded: everything was already as requested.' : `Enable succeeded: ${changed.join('; ')}`;
    return await finish({ code: undefined, message, substatus, complete: true });
  } catch (error) {
    if (!isVmaccessError(error)) {
      logger.error({ seq, err: error }, 'enable stopped by an unexpected error');
      return await fail(new VmaccessError('INTERNAL', 'An unexpected error stopped enable; details are in extension.log.'));
    }
    logger.error({ seq, code: error.code }, 'enable failed');
    return await fail(error);
  } finally {
    if (state !== undefined && (await scrubSettingsFile(system, state))) logger.debug({ file: state.file }, 'protected settings scrubbed from the settings file');
    await lock.release();
  }
}
