import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { RunResult } from './system.js';

/**
 * One external program, run the only way the handler runs programs: no shell, the
 * environment it is given and nothing else, secrets on stdin, and a deadline after
 * which the program is SIGKILLed. The result is always a value: a program that
 * cannot be started or that fails is described, never thrown.
 *
 * Output is gathered until both pipes close. A program can exit while something it
 * started still holds a pipe (a daemon that did not close its descriptors); then the
 * pipes are given `pipeGraceMs` to drain and are closed by us, so such a daemon never
 * holds the caller until the deadline.
 */

export interface CommandSpec {
  file: string;
  args: readonly string[];
  env: Record<string, string>;
  timeoutMs: number;
  input?: string | Uint8Array;
  cwd?: string;
  /** After the program exits, how long its pipes may stay open (default 2 s). */
  pipeGraceMs?: number;
  /** Output beyond this many bytes per stream is dropped (default 64 MiB). */
  maxOutputBytes?: number;
}

const DEFAULT_PIPE_GRACE_MS = 2_000;
const DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024;

function collector(limit: number): { add(chunk: Buffer): void; text(): string } {
  const chunks: Buffer[] = [];
  let size = 0;
  return {
    add(chunk) {
      if (size >= limit) return;
      const kept = size + chunk.length > limit ? chunk.subarray(0, limit - size) : chunk;
      chunks.push(kept);
      size += kept.length;
    },
    text: () => Buffer.concat(chunks).toString('utf8'),
  };
}

export function runCommand(spec: CommandSpec): Promise<RunResult> {
  return new Promise<RunResult>((resolve) => {
    const limit = spec.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
    const stdout = collector(limit);
    const stderr = collector(limit);
    let child;
    try {
      child = spawn(spec.file, [...spec.args], {
        env: spec.env,
        stdio: [spec.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
      });
    } catch (error) {
      // Invalid arguments (a NUL byte in an argument, say): nothing was started.
      resolve({ exitCode: 127, stdout: '', stderr: error instanceof Error ? error.message : String(error), timedOut: false, started: false });
      return;
    }
    let settled = false;
    let timedOut = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let openPipes = 2;
    let graceTimer: ReturnType<typeof setTimeout> | undefined;
    const finish = (result: RunResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearTimeout(graceTimer);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve(result);
    };
    const finishExited = (): void => {
      // Without an exit only after the deadline: a program stuck in the kernel ignores even SIGKILL for a while.
      if (exit === undefined && !timedOut) return;
      const exitCode = timedOut ? 124 : (exit?.code ?? 128 + signalNumber(exit?.signal ?? null));
      finish({ exitCode, stdout: stdout.text(), stderr: stderr.text(), timedOut, started: true });
    };
    const deadline = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
      // The program is gone within moments; its pipes may not be (see above).
      graceTimer ??= setTimeout(finishExited, Math.min(spec.pipeGraceMs ?? DEFAULT_PIPE_GRACE_MS, 200));
    }, spec.timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => stdout.add(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.add(chunk));
    const pipeClosed = (): void => {
      openPipes -= 1;
      if (openPipes === 0) finishExited();
    };
    child.stdout?.on('close', pipeClosed);
    child.stderr?.on('close', pipeClosed);
    child.on('error', (error: NodeJS.ErrnoException) => {
      // spawn failed (ENOENT, EACCES): the program never ran.
      if (exit === undefined) finish({ exitCode: 127, stdout: '', stderr: `${spec.file}: ${error.code ?? error.message}`, timedOut: false, started: false });
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      if (openPipes === 0) finishExited();
      else graceTimer ??= setTimeout(finishExited, spec.pipeGraceMs ?? DEFAULT_PIPE_GRACE_MS);
    });
    if (spec.input !== undefined && child.stdin !== null) {
      // A program that exits without reading its input is not an error of ours.
      child.stdin.on('error', () => undefined);
      child.stdin.end(spec.input);
    }
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal === null ? 0 : osConstants.signals[signal];
}
