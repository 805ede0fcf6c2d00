import type { System } from '../../system/system.js';

/**
 * The guest agent kills enable after 300 s; the disk action keeps to its own budget
 * below that (default 240 s) so there is time left to remount and to write a status.
 * Every command gets a timeout that fits in what is left.
 */
export interface DiskBudget {
  readonly totalMs: number;
  /** Milliseconds left, never negative. */
  remainingMs(): number;
  /** A timeout for one command: at most `capMs`, at most what is left minus `reserveMs`. */
  timeoutMs(capMs: number, reserveMs?: number): number;
  isExhausted(reserveMs?: number): boolean;
}

export const DEFAULT_DISK_BUDGET_MS = 240_000;

export function createDiskBudget(system: System, totalMs: number): DiskBudget {
  const start = system.now().getTime();
  const remainingMs = (): number => Math.max(0, totalMs - (system.now().getTime() - start));
  return {
    totalMs,
    remainingMs,
    timeoutMs: (capMs, reserveMs = 0) => Math.max(1_000, Math.min(capMs, remainingMs() - reserveMs)),
    isExhausted: (reserveMs = 0) => remainingMs() - reserveMs < 1_000,
  };
}
