/**
 * The system port: every effect the handler has on the machine goes through this
 * interface. The real implementation (real-system.ts) is the only module that
 * touches node:fs, node:child_process or execa; tests use the fake in test/fakes.
 */

export interface RunOptions {
  /** Written to the child's standard input. Secrets go here, never into argv. */
  input?: string | Uint8Array;
  /** Extra variables on top of the fixed base environment (LC_ALL=C, PATH). */
  env?: Record<string, string>;
  /** Kill the command after this long; the result then has `timedOut: true`. */
  timeoutMs?: number;
  cwd?: string;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** True when the command was killed by the timeout. */
  timedOut: boolean;
  /** False when the program could not be started at all (missing binary). */
  started: boolean;
}

export type FileType = 'file' | 'directory' | 'symlink' | 'other';

export interface FileInfo {
  type: FileType;
  /** Permission bits only (e.g. 0o600). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  /** Device and inode (identity) and link count, where the implementation knows them. */
  dev?: number;
  ino?: number;
  nlink?: number;
}

/** What readRegularFile found: the text, nothing, or why it refused to read. */
export type RegularFileRead =
  | { kind: 'text'; text: string; info: FileInfo }
  | { kind: 'missing' }
  | { kind: 'refused'; reason: string };

export interface WriteOptions {
  mode?: number;
  uid?: number;
  gid?: number;
}

/** A mutual-exclusion name held by this process; the kernel drops it when the process dies. */
export interface KernelLock {
  release(): Promise<void>;
}

export interface System {
  run(file: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** File contents as UTF-8, or undefined when the file does not exist. */
  readText(path: string): Promise<string | undefined>;
  /**
   * Read a file that must be a plain regular file, without trusting its name: the name is
   * opened without following a symbolic link and without blocking (a FIFO never hangs the
   * read), then the open file itself must be a regular file with one link and at most
   * maxBytes long. Refusals are values, not exceptions.
   */
  readRegularFile(path: string, options: { maxBytes: number }): Promise<RegularFileRead>;
  /** File contents as bytes, or undefined when the file does not exist. */
  readBytes(path: string): Promise<Uint8Array | undefined>;
  /**
   * Replace `path` atomically: write a temporary file in the same directory, set
   * owner and mode on it, flush it, then rename it over the target. Readers see the
   * old file or the new one, never a partial one.
   */
  writeFileAtomic(path: string, data: string | Uint8Array, options?: WriteOptions): Promise<void>;
  /** Create `path` only if it does not exist yet; false when it already existed. */
  createExclusive(path: string, data: string, options?: WriteOptions): Promise<boolean>;
  /** Follows symlinks; undefined when missing. */
  stat(path: string): Promise<FileInfo | undefined>;
  /** Does not follow symlinks; undefined when missing. */
  lstat(path: string): Promise<FileInfo | undefined>;
  /** The target a symbolic link holds, as written; undefined when `path` is missing or not a link. */
  readLink(path: string): Promise<string | undefined>;
  /**
   * Make `path` a symbolic link to `target`, atomically: a link made at a temporary
   * name in the same directory is renamed over `path` (whatever was there).
   */
  writeSymlinkAtomic(path: string, target: string): Promise<void>;
  mkdir(path: string, options?: { mode?: number; recursive?: boolean }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Remove a file or (with recursive) a tree; missing paths are fine. */
  remove(path: string, options?: { recursive?: boolean }): Promise<void>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  /** Entry names in a directory, sorted, or undefined when it does not exist. */
  listDir(path: string): Promise<string[] | undefined>;
  /** Whether a process with this pid exists. */
  isProcessAlive(pid: number): Promise<boolean>;
  /** Send a signal to one process; false when there is no such process. */
  signalProcess(pid: number, signal: 'SIGTERM' | 'SIGKILL'): Promise<boolean>;
  /**
   * Take the machine-wide name `name` for as long as this process lives (or until
   * release), or undefined when another process holds it. Taking it is one atomic
   * kernel operation and a holder that dies (SIGKILL included) gives it up, so
   * there is no stale lock to take over.
   */
  tryHoldKernelLock(name: string): Promise<KernelLock | undefined>;
  /**
   * Connect to host:port over TCP and resolve to the first line the server sends
   * (an SSH server greets with `SSH-2.0-...`), or undefined when the connection
   * fails or nothing arrives within timeoutMs. Sends nothing.
   */
  probeTcpBanner(host: string, port: number, timeoutMs: number): Promise<string | undefined>;
  /**
   * Open `path` for appending (created with `mode`; a symbolic link at the name is
   * refused) and return a writer that appends each line with one synchronous write:
   * a log that must survive a SIGKILL right after a record. A failed write is dropped.
   */
  openAppendLog(path: string, mode: number): (line: string) => void;
  /** `count` bytes from the kernel's random source: salts, unguessable names, ids. */
  randomBytes(count: number): Uint8Array;
  now(): Date;
}
