import { realpathSync } from 'node:fs';
import * as path from 'node:path';
import type { Sandbox } from '../test/sandbox/sandbox.js';

/**
 * Which external programs an enable runs, counted with strace -f over the agent's
 * command (a separate, untimed run: ptrace slows everything it follows). This machine's
 * strace runs inside the sandbox through the sandbox's own dynamic loader, with only
 * the libraries the sandbox lacks (libunwind) given on --library-path, so no child of
 * the handler sees a changed environment.
 */

const HOST_STRACE = '/usr/bin/strace';
const INSIDE_DIR = '/opt/vmaccess-bench/strace';
export const STRACE_OUTPUT = '/run/vmaccess-bench-strace.out';
const STRACE_RC = '/run/vmaccess-bench-strace.rc';
const EXTRA_LIBRARIES = ['libunwind-ptrace.so.0', 'libunwind-x86_64.so.8', 'libunwind.so.8'];
const LIBRARY_DIR = '/lib/x86_64-linux-gnu';

/** The argv prefix that runs a command under strace in this sandbox, or undefined when that cannot work here. */
export async function straceIn(sandbox: Sandbox): Promise<string[] | undefined> {
  if (process.arch !== 'x64') return undefined;
  try {
    await sandbox.bindHostPath(HOST_STRACE, `${INSIDE_DIR}/strace`);
    for (const library of EXTRA_LIBRARIES) await sandbox.bindHostPath(realpathSync(path.join(LIBRARY_DIR, library)), `${INSIDE_DIR}/lib/${library}`);
  } catch {
    return undefined;
  }
  const strace = ['/lib64/ld-linux-x86-64.so.2', '--library-path', `${INSIDE_DIR}/lib`, `${INSIDE_DIR}/strace`, '-f', '-qq', '-s', '48', '-e', 'trace=execve,clone,clone3,fork,vfork', '-o', STRACE_OUTPUT];
  // strace -f waits for every tracee, and an sshd that reset_ssh restarted is one that never
  // exits: the wrapper stops tracing once the command itself has finished, and exits with
  // its status. The traced sh adds one execve.
  const wrapper = `${INSIDE_DIR}/traced`;
  await sandbox.writeFile(
    wrapper,
    [
      '#!/bin/sh',
      `rc=${STRACE_RC}`,
      'rm -f "$rc"',
      `${strace.map((arg) => `'${arg}'`).join(' ')} /bin/sh -c '"$@"; echo $? > ${STRACE_RC}' traced "$@" &`,
      'tracer=$!',
      'while [ ! -e "$rc" ] && kill -0 "$tracer" 2>/dev/null; do sleep 0.05; done',
      // TERM first (strace detaches); an strace that still waits on a daemon after a second
      // is killed, and the kernel detaches what it traced (the lines are already written).
      'kill -TERM "$tracer" 2>/dev/null',
      'for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$tracer" 2>/dev/null || break; sleep 0.1; done',
      'kill -KILL "$tracer" 2>/dev/null',
      'wait "$tracer"',
      '[ -e "$rc" ] || exit 99',
      'exit "$(cat "$rc")"',
      '',
    ].join('\n'),
    0o755,
  );
  const prefix = [wrapper];
  const probe = await sandbox.exec([...prefix, 'true']);
  return probe.exitCode === 0 ? prefix : undefined;
}

export interface ProgramCount {
  /** Programs node itself started (the handler's system.run calls), as `name first-argument`. */
  byHandler: string[];
  /** Every successful execve in the tree, the shim and node included. */
  totalExecs: number;
}

const LINE = /^(\d+)\s+(.*)$/;

/** Reads `strace -f -o` output (one `pid call(...) = result` per line, split calls resumed later). */
export function countPrograms(text: string): ProgramCount {
  const parent = new Map<number, number>();
  const leader = new Map<number, number>();
  const program = new Map<number, string>();
  const pendingExec = new Map<number, string>();
  const pendingClone = new Map<number, string>();
  const byHandler: string[] = [];
  let totalExecs = 0;
  const groupOf = (pid: number): number => leader.get(pid) ?? pid;
  const describe = (call: string): string => {
    const file = /execve\("([^"]*)"/.exec(call)?.[1] ?? '?';
    const first = /execve\("[^"]*", \["[^"]*"(?:, "([^"]*)")?/.exec(call)?.[1];
    return first === undefined ? path.basename(file) : `${path.basename(file)} ${first}`;
  };
  const execDone = (pid: number, call: string): void => {
    totalExecs += 1;
    const name = describe(call);
    const from = parent.get(pid);
    // A process's first program, started by node: one system.run of the handler.
    if (!program.has(pid) && from !== undefined && /^(node|ld-linux)/.test(program.get(groupOf(from)) ?? '')) byHandler.push(name);
    program.set(pid, name);
  };
  const lines = text.split('\n').flatMap((raw) => {
    const match = LINE.exec(raw);
    return match === null ? [] : [{ pid: Number(match[1]), call: match[2] ?? '' }];
  });
  // Who started whom, first: with programs started side by side, a child's execve can be
  // written before its parent's clone returns with the child's pid.
  for (const { pid, call } of lines) {
    if (/^(clone3?|v?fork)\(/.test(call) && call.endsWith('<unfinished ...>')) {
      pendingClone.set(pid, call);
      continue;
    }
    const forked = /^(?:<\.\.\. )?(clone3?|v?fork)\b.*= (\d+)$/.exec(call);
    if (forked !== null) {
      const child = Number(forked[2]);
      const whole = call.startsWith('<...') ? `${pendingClone.get(pid) ?? ''} ${call}` : call;
      pendingClone.delete(pid);
      parent.set(child, pid);
      if (whole.includes('CLONE_THREAD')) leader.set(child, groupOf(pid));
    }
  }
  for (const { pid, call } of lines) {
    if (call.startsWith('execve(')) {
      if (call.endsWith('<unfinished ...>')) pendingExec.set(pid, call);
      else if (/\) = 0$/.test(call)) execDone(pid, call);
      continue;
    }
    if (call.startsWith('<... execve resumed>')) {
      if (/\) = 0$/.test(call) && pendingExec.has(pid)) execDone(pid, pendingExec.get(pid) ?? '');
      pendingExec.delete(pid);
    }
  }
  return { byHandler, totalExecs };
}
