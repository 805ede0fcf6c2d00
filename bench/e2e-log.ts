import type { Sandbox } from '../test/sandbox/sandbox.js';
import { AGENT_LOG_DIR } from '../test/sandbox/guest-agent.js';
import { HANDLER_NAME } from '../test/sandbox/handler-package.js';
import { median, ms, type Table } from './table.js';

/** What the end-to-end bench reads from the handler's own log (extension.log, JSON lines). */

export interface VerifyRecord {
  signalToVerifiedMs: number;
  serviceMs: number;
  readyMs: number;
  basis: string;
}

export const LOG_FILE = `${AGENT_LOG_DIR}/${HANDLER_NAME}/extension.log`;

/** The last "sshd verified" record of the handler's log. */
export async function lastVerify(sandbox: Sandbox): Promise<VerifyRecord | undefined> {
  const lines = ((await sandbox.readText(LOG_FILE)) ?? '').split('\n').filter((line) => line.includes('"sshd verified"'));
  const last = lines.at(-1);
  if (last === undefined) return undefined;
  const record = JSON.parse(last) as Partial<VerifyRecord>;
  if (typeof record.signalToVerifiedMs !== 'number') return undefined;
  return { signalToVerifiedMs: record.signalToVerifiedMs, serviceMs: record.serviceMs ?? Number.NaN, readyMs: record.readyMs ?? Number.NaN, basis: record.basis ?? '' };
}

/** The three longest gaps between consecutive log records, and the resident memory at each phase that logs it. */
export function phasesOf(log: string): string {
  const records = log
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { time?: number | string; msg?: string; rssMiB?: number })
    .map((record) => ({ ...record, time: typeof record.time === 'string' ? Date.parse(record.time) : record.time }));
  const gaps = records.slice(1).map((record, index) => ({ ms: (record.time ?? 0) - (records[index]?.time ?? 0), what: `${records[index]?.msg ?? '?'} -> ${record.msg ?? '?'}` }));
  const top = gaps.sort((a, b) => b.ms - a.ms).slice(0, 3).map((gap) => `${gap.what} ${gap.ms} ms`);
  const memory = records.filter((record) => record.rssMiB !== undefined).map((record) => `${record.msg ?? '?'} ${record.rssMiB ?? 0}`);
  const total = (records.at(-1)?.time ?? 0) - (records[0]?.time ?? 0);
  return `first to last record ${total} ms; longest gaps: ${top.join(', ')}${memory.length > 0 ? `; RSS MiB: ${memory.join(', ')}` : ''}`;
}

export const VERIFY_HEADERS = ['request', 'signal to verified ms (median)', 'min-max', 'service command ms (median)', 'command end to verified ms (median)', 'how', 'runs'];

export function verifyTable(labels: readonly string[], firstRuns: readonly (readonly { verify?: VerifyRecord }[])[]): Table {
  const rows = labels.flatMap((label, index) => {
    const records = (firstRuns[index] ?? []).map((sample) => sample.verify).filter((record): record is VerifyRecord => record !== undefined);
    if (records.length === 0) return [];
    const totals = records.map((record) => record.signalToVerifiedMs);
    return [[label, ms(median(totals)), `${ms(Math.min(...totals))}-${ms(Math.max(...totals))}`, ms(median(records.map((record) => record.serviceMs))), ms(median(records.map((record) => record.readyMs))), [...new Set(records.map((record) => record.basis))].join('; '), String(records.length)]];
  });
  return {
    title: 'Verified sshd change: from the service command (the signal) to "sshd verified" (from the handler log)',
    headers: VERIFY_HEADERS,
    rows,
    notes: ['Target: <= 150 ms median. "service command" is `service ssh reload` (Debian\'s SysV script, which runs its own `sshd -t` before signalling); the rest is waiting for the new listeners and a banner on every port.'],
  };
}

