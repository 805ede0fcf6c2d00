import type { Table } from './table.js';

/**
 * (c) Full enable in the end-to-end sandbox (issue 6): create-user-with-key, password
 * reset and reset_ssh, each with wall time, peak memory and how many times sshd was
 * reloaded or restarted (target: at most once, zero when nothing changed).
 *
 * Hook for the end-to-end suite: replace the body of runE2eEnableBench with a runner
 * that drives the packaged handler inside the sandbox and returns one row per
 * scenario with these headers. Until then this section says so instead of printing
 * numbers nobody measured.
 */
export const E2E_HEADERS = ['scenario', 'wall ms (median)', 'peak RSS MiB', 'sshd reloads/restarts', 'runs'];

export function runE2eEnableBench(): Promise<Table> {
  return Promise.resolve({
    title: '(c) full enable in the end-to-end sandbox',
    headers: E2E_HEADERS,
    rows: [
      ['create user with key', 'TODO', 'TODO', 'TODO', '0'],
      ['password reset', 'TODO', 'TODO', 'TODO', '0'],
      ['reset_ssh', 'TODO', 'TODO', 'TODO', '0'],
    ],
    notes: ['Not measured yet: the end-to-end sandbox runner (issue 6) plugs in here (bench/e2e-enable.ts).'],
  });
}
