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

/** One enable's log records: the span from first to last, each gap between consecutive records, RSS per phase. */
export interface Phases {
  totalMs: number;
  /** The process's age at its first record (node's start and the loading before it). */
  uptimeMs: number | undefined;
  gaps: { what: string; ms: number }[];
  rss: { what: string; mib: number }[];
}

export function phasesOf(log: string): Phases {
  const records = log
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { time?: number | string; msg?: string; rssMiB?: number; uptimeMs?: number })
    .map((record) => ({ ...record, time: typeof record.time === 'string' ? Date.parse(record.time) : record.time }));
  const gaps = records.slice(1).map((record, index) => ({ ms: (record.time ?? 0) - (records[index]?.time ?? 0), what: `${records[index]?.msg ?? '?'} -> ${record.msg ?? '?'}` }));
  const rss = records.filter((record) => record.rssMiB !== undefined).map((record) => ({ what: record.msg ?? '?', mib: record.rssMiB ?? 0 }));
  return { totalMs: (records.at(-1)?.time ?? 0) - (records[0]?.time ?? 0), uptimeMs: records[0]?.uptimeMs, gaps, rss };
}

/**
 * Over all runs of one request: the median span, the three gaps with the longest median
 * (a gap that occurs twice in a run counts as their sum), the median RSS per phase, and
 * the median wall time outside the log (shim, node start, loading, exit).
 */
export function phaseSummary(runs: readonly Phases[], wallMs: readonly number[]): string {
  if (runs.length === 0) return 'n/a';
  const byGap = new Map<string, number[]>();
  for (const run of runs) {
    const sums = new Map<string, number>();
    for (const gap of run.gaps) sums.set(gap.what, (sums.get(gap.what) ?? 0) + gap.ms);
    for (const [what, total] of sums) byGap.set(what, [...(byGap.get(what) ?? []), total]);
  }
  const top = [...byGap].map(([what, values]) => ({ what, ms: median(values) })).sort((a, b) => b.ms - a.ms).slice(0, 3);
  const byPhase = new Map<string, number[]>();
  for (const run of runs) for (const entry of run.rss) byPhase.set(entry.what, [...(byPhase.get(entry.what) ?? []), entry.mib]);
  const total = median(runs.map((run) => run.totalMs));
  const ages = runs.map((run) => run.uptimeMs).filter((age): age is number => age !== undefined);
  const age = ages.length === 0 ? '' : `, of which the process had run ${ms(median(ages))} ms (node's start and loading) at its first record`;
  const outside = wallMs.length === 0 ? '' : `; wall outside the log ${ms(median(wallMs) - total)} ms${age}`;
  const memory = [...byPhase].map(([what, values]) => `${what} ${median(values).toFixed(1)}`);
  return `first to last record ${ms(total)} ms${outside}; longest gaps: ${top.map((gap) => `${gap.what} ${ms(gap.ms)} ms`).join(', ')}${memory.length > 0 ? `; RSS MiB: ${memory.join(', ')}` : ''}`;
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

