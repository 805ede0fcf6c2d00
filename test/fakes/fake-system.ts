import * as path from 'node:path';
import type { FileInfo, KernelLock, RegularFileRead, RunOptions, RunResult, System, WriteOptions } from '../../src/system/system.js';

/**
 * An in-memory System with real state: files, directories and symlinks keyed by
 * absolute path, and a table of scripted commands. A command nobody scripted
 * throws, so a test can never pass by accident because a call went unnoticed.
 */

interface Node {
  type: 'file' | 'directory' | 'symlink';
  data: Uint8Array;
  target?: string;
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
}

export interface CommandCall {
  file: string;
  args: string[];
  input: string | undefined;
  env: Record<string, string> | undefined;
  /** The timeout the caller asked for, so tests can check every command is bounded. */
  timeoutMs?: number | undefined;
}

export type CommandScript = (
  call: CommandCall,
  system: FakeSystem,
) => Partial<RunResult> | undefined | Promise<Partial<RunResult> | undefined>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function enoent(op: string, target: string): Error {
  return Object.assign(new Error(`${op}: no such file or directory: ${target}`), { code: 'ENOENT' });
}

export class FakeSystem implements System {
  readonly nodes = new Map<string, Node>();
  readonly calls: CommandCall[] = [];
  readonly alivePids = new Set<number>();
  /** What probeTcpBanner answers, keyed `host:port`; a missing key means no answer. */
  readonly banners = new Map<string, string>();
  /** Every probeTcpBanner call, as `host:port`. */
  readonly probes: string[] = [];
  private readonly scripts: { match: (call: CommandCall) => boolean; script: CommandScript }[] = [];
  clock = new Date('2026-01-15T10:00:00Z');
  private randomCounter = 1;

  constructor(files: Record<string, string> = {}) {
    this.nodes.set('/', this.node('directory', new Uint8Array(), 0o755));
    for (const [file, text] of Object.entries(files)) this.addFile(file, text);
  }

  private node(type: Node['type'], data: Uint8Array, mode: number, uid = 0, gid = 0): Node {
    return { type, data, mode, uid, gid, mtimeMs: this.clock.getTime() };
  }

  // ---- test helpers -------------------------------------------------------

  addDir(dir: string, mode = 0o755, uid = 0, gid = 0): this {
    const parent = path.dirname(dir);
    if (parent !== dir && !this.nodes.has(parent)) this.addDir(parent);
    if (!this.nodes.has(dir)) this.nodes.set(dir, this.node('directory', new Uint8Array(), mode, uid, gid));
    return this;
  }

  addFile(file: string, text: string | Uint8Array, options: { mode?: number; uid?: number; gid?: number; mtimeMs?: number } = {}): this {
    this.addDir(path.dirname(file));
    const data = typeof text === 'string' ? encoder.encode(text) : text;
    const node = this.node('file', data, options.mode ?? 0o644, options.uid ?? 0, options.gid ?? 0);
    if (options.mtimeMs !== undefined) node.mtimeMs = options.mtimeMs;
    this.nodes.set(file, node);
    return this;
  }

  addSymlink(link: string, target: string): this {
    this.addDir(path.dirname(link));
    this.nodes.set(link, { ...this.node('symlink', new Uint8Array(), 0o777), target });
    return this;
  }

  /** Script a command: `matcher` is the program name or a predicate on the call. */
  onCommand(matcher: string | ((call: CommandCall) => boolean), script: CommandScript): this {
    const match = typeof matcher === 'string' ? (call: CommandCall) => call.file === matcher : matcher;
    this.scripts.unshift({ match, script });
    return this;
  }

  text(file: string): string | undefined {
    const node = this.nodes.get(file);
    return node?.type === 'file' ? decoder.decode(node.data) : undefined;
  }

  commandsRun(file?: string): CommandCall[] {
    return file === undefined ? this.calls : this.calls.filter((call) => call.file === file);
  }

  // ---- System -------------------------------------------------------------

  private resolve(target: string, depth = 0): string {
    if (depth > 40) throw Object.assign(new Error(`too many symlinks: ${target}`), { code: 'ELOOP' });
    const parts = target.split('/').filter(Boolean);
    let current = '/';
    for (const part of parts) {
      const next = path.join(current, part);
      const node = this.nodes.get(next);
      if (node?.type === 'symlink' && node.target !== undefined) {
        current = this.resolve(path.resolve(current, node.target), depth + 1);
      } else {
        current = next;
      }
    }
    return current;
  }

  private parentOf(target: string): string {
    const resolvedParent = this.resolve(path.dirname(target));
    return path.join(resolvedParent, path.basename(target));
  }

  async run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const input = options.input === undefined ? undefined : typeof options.input === 'string' ? options.input : decoder.decode(options.input);
    const call: CommandCall = { file, args: [...args], input, env: options.env, timeoutMs: options.timeoutMs };
    this.calls.push(call);
    for (const { match, script } of this.scripts) {
      if (!match(call)) continue;
      const result = await script(call, this);
      if (result === undefined) continue;
      return { exitCode: 0, stdout: '', stderr: '', timedOut: false, started: true, ...result };
    }
    throw new Error(`FakeSystem: unscripted command: ${file} ${args.join(' ')}`);
  }

  readText(target: string): Promise<string | undefined> {
    const node = this.nodes.get(this.resolve(target));
    if (node?.type === 'directory') return Promise.reject(Object.assign(new Error('EISDIR'), { code: 'EISDIR' }));
    return Promise.resolve(node === undefined ? undefined : decoder.decode(node.data));
  }

  readBytes(target: string): Promise<Uint8Array | undefined> {
    const node = this.nodes.get(this.resolve(target));
    return Promise.resolve(node?.type === 'file' ? node.data : undefined);
  }

  writeFileAtomic(target: string, data: string | Uint8Array, options: WriteOptions = {}): Promise<void> {
    const real = this.parentOf(target);
    const dir = this.nodes.get(path.dirname(real));
    if (dir?.type !== 'directory') return Promise.reject(enoent('writeFileAtomic', target));
    const existing = this.nodes.get(this.resolve(target));
    const bytes = typeof data === 'string' ? encoder.encode(data) : data;
    // Like rename(2): the new file replaces whatever was at the name, symlink included.
    this.nodes.set(
      real,
      this.node('file', bytes, options.mode ?? existing?.mode ?? 0o644, options.uid ?? existing?.uid ?? 0, options.gid ?? existing?.gid ?? 0),
    );
    return Promise.resolve();
  }

  openAppendLog(target: string, mode: number): (line: string) => void {
    const real = this.parentOf(target);
    const existing = this.nodes.get(real);
    if (existing !== undefined && existing.type !== 'file') throw new Error(`openAppendLog: ${target} is not a file`);
    if (this.nodes.get(path.dirname(real))?.type !== 'directory') throw enoent('openAppendLog', target);
    if (existing === undefined) this.nodes.set(real, this.node('file', new Uint8Array(), mode, 0, 0));
    return (line) => {
      const node = this.nodes.get(real);
      if (node?.type !== 'file') return;
      const added = encoder.encode(line);
      const data = new Uint8Array(node.data.length + added.length);
      data.set(node.data);
      data.set(added, node.data.length);
      node.data = data;
    };
  }

  createExclusive(target: string, data: string, options: WriteOptions = {}): Promise<boolean> {
    const real = this.parentOf(target);
    if (this.nodes.has(real)) return Promise.resolve(false);
    if (this.nodes.get(path.dirname(real))?.type !== 'directory') return Promise.reject(enoent('createExclusive', target));
    this.nodes.set(real, this.node('file', encoder.encode(data), options.mode ?? 0o600, options.uid ?? 0, options.gid ?? 0));
    return Promise.resolve(true);
  }

  /** Inode numbers: one per node object, so a replaced file has a new identity. */
  private readonly inodes = new WeakMap<Node, number>();
  private nextInode = 1;

  private info(node: Node | undefined): FileInfo | undefined {
    if (node === undefined) return undefined;
    let ino = this.inodes.get(node);
    if (ino === undefined) {
      ino = this.nextInode++;
      this.inodes.set(node, ino);
    }
    return { type: node.type, mode: node.mode, uid: node.uid, gid: node.gid, size: node.data.length, mtimeMs: node.mtimeMs, dev: 1, ino, nlink: 1 };
  }

  readRegularFile(target: string, options: { maxBytes: number }): Promise<RegularFileRead> {
    const node = this.nodes.get(this.parentOf(target));
    if (node === undefined) return Promise.resolve({ kind: 'missing' });
    if (node.type === 'symlink') return Promise.resolve({ kind: 'refused', reason: 'it is a symbolic link' });
    if (node.type !== 'file') return Promise.resolve({ kind: 'refused', reason: 'it is not a regular file' });
    if (node.data.length > options.maxBytes) return Promise.resolve({ kind: 'refused', reason: `it is larger than ${options.maxBytes} bytes` });
    return Promise.resolve({ kind: 'text', text: decoder.decode(node.data), info: this.info(node)! });
  }

  stat(target: string): Promise<FileInfo | undefined> {
    return Promise.resolve(this.info(this.nodes.get(this.resolve(target))));
  }

  lstat(target: string): Promise<FileInfo | undefined> {
    return Promise.resolve(this.info(this.nodes.get(this.parentOf(target))));
  }

  readLink(target: string): Promise<string | undefined> {
    const node = this.nodes.get(this.parentOf(target));
    return Promise.resolve(node?.type === 'symlink' ? node.target : undefined);
  }

  writeSymlinkAtomic(target: string, linkTarget: string): Promise<void> {
    const real = this.parentOf(target);
    if (this.nodes.get(path.dirname(real))?.type !== 'directory') return Promise.reject(enoent('writeSymlinkAtomic', target));
    this.nodes.set(real, { ...this.node('symlink', new Uint8Array(), 0o777), target: linkTarget });
    return Promise.resolve();
  }

  mkdir(target: string, options: { mode?: number; recursive?: boolean } = {}): Promise<void> {
    const real = this.parentOf(target);
    const existing = this.nodes.get(real);
    if (existing !== undefined) {
      if (options.recursive === true && existing.type === 'directory') return Promise.resolve();
      return Promise.reject(Object.assign(new Error(`EEXIST: ${target}`), { code: 'EEXIST' }));
    }
    if (options.recursive === true) {
      this.addDir(real, options.mode ?? 0o755);
      return Promise.resolve();
    }
    if (this.nodes.get(path.dirname(real))?.type !== 'directory') return Promise.reject(enoent('mkdir', target));
    this.nodes.set(real, this.node('directory', new Uint8Array(), options.mode ?? 0o755));
    return Promise.resolve();
  }

  rename(from: string, to: string): Promise<void> {
    const source = this.parentOf(from);
    const node = this.nodes.get(source);
    if (node === undefined) return Promise.reject(enoent('rename', from));
    const destination = this.parentOf(to);
    for (const key of [...this.nodes.keys()]) {
      if (key === source || key.startsWith(`${source}/`)) {
        const moved = this.nodes.get(key);
        this.nodes.delete(key);
        if (moved !== undefined) this.nodes.set(destination + key.slice(source.length), moved);
      }
    }
    return Promise.resolve();
  }

  remove(target: string, options: { recursive?: boolean } = {}): Promise<void> {
    const real = this.parentOf(target);
    const node = this.nodes.get(real);
    if (node === undefined) return Promise.resolve();
    const children = [...this.nodes.keys()].filter((key) => key.startsWith(`${real}/`));
    if (node.type === 'directory' && children.length > 0 && options.recursive !== true) {
      return Promise.reject(Object.assign(new Error(`ENOTEMPTY: ${target}`), { code: 'ENOTEMPTY' }));
    }
    for (const key of children) this.nodes.delete(key);
    this.nodes.delete(real);
    return Promise.resolve();
  }

  chown(target: string, uid: number, gid: number): Promise<void> {
    const node = this.nodes.get(this.parentOf(target));
    if (node === undefined) return Promise.reject(enoent('chown', target));
    node.uid = uid;
    node.gid = gid;
    return Promise.resolve();
  }

  chmod(target: string, mode: number): Promise<void> {
    const node = this.nodes.get(this.resolve(target));
    if (node === undefined) return Promise.reject(enoent('chmod', target));
    node.mode = mode;
    return Promise.resolve();
  }

  listDir(target: string): Promise<string[] | undefined> {
    const real = this.resolve(target);
    if (this.nodes.get(real)?.type !== 'directory') return Promise.resolve(undefined);
    const prefix = real === '/' ? '/' : `${real}/`;
    const names = [...this.nodes.keys()]
      .filter((key) => key !== real && key.startsWith(prefix) && !key.slice(prefix.length).includes('/'))
      .map((key) => key.slice(prefix.length));
    return Promise.resolve(names.sort());
  }

  /** Signals sent, in order. */
  readonly signals: { pid: number; signal: string }[] = [];
  /** Processes that survive SIGTERM (only SIGKILL ends them). */
  readonly ignoresTerm = new Set<number>();

  /** A process as /proc shows it: /proc/<pid>/status with its Uid line. */
  addProcess(pid: number, uid: number, name = 'sleep'): this {
    this.addDir(`/proc/${pid}`);
    this.addFile(`/proc/${pid}/status`, `Name:\t${name}\nPid:\t${pid}\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\nGid:\t${uid}\t${uid}\t${uid}\t${uid}\n`);
    return this;
  }

  async signalProcess(pid: number, signal: 'SIGTERM' | 'SIGKILL'): Promise<boolean> {
    if (pid <= 1) throw new Error(`refusing to signal pid ${pid}`);
    this.signals.push({ pid, signal });
    if ((await this.lstat(`/proc/${pid}`)) === undefined) return false;
    if (signal === 'SIGKILL' || !this.ignoresTerm.has(pid)) await this.remove(`/proc/${pid}`, { recursive: true });
    return true;
  }

  /** Kernel lock names held, as tryHoldKernelLock sees them. */
  readonly heldLocks = new Set<string>();

  tryHoldKernelLock(name: string): Promise<KernelLock | undefined> {
    if (this.heldLocks.has(name)) return Promise.resolve(undefined);
    this.heldLocks.add(name);
    return Promise.resolve({
      release: () => {
        this.heldLocks.delete(name);
        return Promise.resolve();
      },
    });
  }

  isProcessAlive(pid: number): Promise<boolean> {
    return Promise.resolve(this.alivePids.has(pid));
  }

  probeTcpBanner(host: string, port: number, _timeoutMs: number): Promise<string | undefined> {
    this.probes.push(`${host}:${port}`);
    return Promise.resolve(this.banners.get(`${host}:${port}`));
  }

  /** Counted bytes, not random ones: a test can tell two calls apart and repeat a run. */
  randomBytes(count: number): Uint8Array {
    const bytes = new Uint8Array(count);
    for (let index = 0; index < count; index += 1) bytes[index] = (this.randomCounter + index * 37) & 0xff;
    this.randomCounter += 1;
    return bytes;
  }

  now(): Date {
    return this.clock;
  }
}

export function createFakeSystem(files: Record<string, string> = {}): FakeSystem {
  return new FakeSystem(files);
}
