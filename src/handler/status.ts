import * as path from 'node:path';
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import type { System } from '../system/system.js';

/**
 * `status/<seq>.status` (contract §5): a one-element array, lower-case status
 * values, integer codes, `formattedMessage` with `lang` and a string `message` in
 * the status and every substatus. Written atomically and kept far below the
 * agent's 128 KiB limit (over it, a missing message breaks status upload for the
 * whole VM).
 */

export type StatusValue = 'transitioning' | 'warning' | 'error' | 'success';

export interface Substatus {
  name: string;
  status: StatusValue;
  code: number;
  message: string;
}

/** vmaccess's own bookkeeping, kept in the status file so upgrades carry it over. */
export interface CompletionRecord {
  /** Fingerprint of the settings this status answers (see settings-file.ts). */
  settingsDigest: string | undefined;
  /** True once the work for this sequence number is finished and must not be repeated. */
  complete: boolean;
  errorCode?: string;
}

export interface StatusReport {
  operation: string;
  status: StatusValue;
  code: number;
  message: string;
  substatus: Substatus[];
  completion: CompletionRecord;
}

export const MESSAGE_LIMIT = 1024;
const SUBSTATUS_LIMIT = 40;
/** Far below the agent's 128 KiB so nothing is ever truncated or dropped by it. */
export const STATUS_SIZE_BUDGET = 32 * 1024;

/** The status file's integer `code`: 0 for success, else the error's fixed number. */
export function numericCode(code: ErrorCode | undefined): number {
  return code === undefined ? 0 : ERROR_CODES[code].status;
}

/** One line, no control characters, at most `limit` characters. */
export function boundMessage(message: string, limit = MESSAGE_LIMIT): string {
  // eslint-disable-next-line no-control-regex
  const clean = message.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  if (clean.length <= limit) return clean === '' ? '-' : clean;
  const marker = ' ...';
  return clean.slice(0, limit - marker.length) + marker;
}

function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function buildStatusDocument(report: StatusReport, handlerName: string, now: Date): unknown[] {
  const substatus = report.substatus.slice(0, SUBSTATUS_LIMIT).map((entry) => ({
    name: boundMessage(entry.name, 128),
    status: entry.status,
    code: entry.code,
    formattedMessage: { lang: 'en-US', message: boundMessage(entry.message) },
  }));
  if (report.substatus.length > SUBSTATUS_LIMIT) {
    substatus.push({
      name: 'more',
      status: 'warning',
      code: 0,
      formattedMessage: { lang: 'en-US', message: `${report.substatus.length - SUBSTATUS_LIMIT} more results are in extension.log.` },
    });
  }
  const document = () => [
    {
      version: '1.0',
      timestampUTC: timestamp(now),
      status: {
        name: handlerName,
        operation: report.operation,
        status: report.status,
        code: report.code,
        configurationAppliedTime: timestamp(now),
        formattedMessage: { lang: 'en-US', message: boundMessage(report.message) },
        substatus,
      },
      vmaccess: report.completion,
    },
  ];
  let built = document();
  while (JSON.stringify(built).length > STATUS_SIZE_BUDGET && substatus.length > 1) {
    substatus.splice(substatus.length - 2, 1);
    built = document();
  }
  return built;
}

export function statusPath(statusFolder: string, seq: number): string {
  return path.join(statusFolder, `${seq}.status`);
}

export async function writeStatus(
  system: System,
  statusFolder: string,
  seq: number,
  report: StatusReport,
  handlerName: string,
): Promise<void> {
  const document = buildStatusDocument(report, handlerName, system.now());
  await system.mkdir(statusFolder, { recursive: true, mode: 0o700 });
  await system.writeFileAtomic(statusPath(statusFolder, seq), JSON.stringify(document), { mode: 0o600 });
}

export interface StoredStatus {
  status: string | undefined;
  completion: CompletionRecord | undefined;
}

/** The status file for `seq` as far as vmaccess needs it, or undefined when missing or unreadable. */
export async function readStatus(system: System, statusFolder: string, seq: number): Promise<StoredStatus | undefined> {
  const text = await system.readText(statusPath(statusFolder, seq));
  if (text === undefined) return undefined;
  try {
    const document: unknown = JSON.parse(text);
    const first: unknown = Array.isArray(document) ? document[0] : undefined;
    if (typeof first !== 'object' || first === null) return undefined;
    const record = first as { status?: { status?: unknown }; vmaccess?: unknown };
    const status = typeof record.status?.status === 'string' ? record.status.status : undefined;
    const stored = record.vmaccess;
    let completion: CompletionRecord | undefined;
    if (typeof stored === 'object' && stored !== null) {
      const value = stored as { settingsDigest?: unknown; complete?: unknown };
      completion = {
        settingsDigest: typeof value.settingsDigest === 'string' ? value.settingsDigest : undefined,
        complete: value.complete === true,
      };
    }
    return { status, completion };
  } catch {
    return undefined;
  }
}
