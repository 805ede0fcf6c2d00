import type * as Fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { errnoCode } from '../errors.js';
import { nodeCrypto } from '../node-crypto.js';
import { COMMAND_PATH } from './paths.js';
import type { FileInfo, FileType, RegularFileRead, RunOptions, RunResult, System, WriteOptions } from './system.js';

/**
 * node:fs through require, not import: an ESM import of node:fs builds a namespace of
 * every export, and reading its getters loads fs/promises and the whole streams stack,
 * about 10 ms of every start (docs/performance.md). The reads below use the callback
 * API, so an enable that only reads (the agent's repeated enable) never loads
 * fs/promises; the writes load it on first use (fs.promises).
 */
const fs = createRequire(import.meta.url)('node:fs') as typeof Fs;
const fsConstants = fs.constants;

/** One call of node:fs's callback API as a promise. */
function settle<T>(call: (done: (error: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    call((error, value) => {
      if (error === null || error === undefined) resolve(value);
      else reject(error);
    });
  });
}

const statOf = (target: string): Promise<Fs.Stats> => settle<Fs.Stats>((done) => fs.stat(target, done));
const lstatOf = (target: string): Promise<Fs.Stats> => settle<Fs.Stats>((done) => fs.lstat(target, done));

/**
 * Write to the process's stdout straight through the descriptor: process.stdout is a
 * stream whose first use loads node's streams stack (about 5 ms of the agent's repeated
 * enable, docs/performance.md). A pipe that would block gets the stream after all.
 */
export function writeStdout(text: string): void {
  let rest = Buffer.from(text);
  try {
    while (rest.length > 0) rest = rest.subarray(fs.writeSync(1, rest));
  } catch {
    process.stdout.write(rest);
  }
}

/**
 * `count` bytes from the kernel's random device, read directly: node:crypto would cost
 * start-up time on requests that need nothing else from it. Without that device, or with
 * something other than a character device at its name (a broken chroot, a planted
 * file), the bytes come from node:crypto's getrandom instead.
 */
export function kernelRandomBytes(count: number, device = '/dev/urandom'): Uint8Array {
  const bytes = new Uint8Array(count);
  try {
    const fd = fs.openSync(device, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    try {
      if (!fs.fstatSync(fd).isCharacterDevice()) throw new Error(`${device} is not a character device`);
      let filled = 0;
      while (filled < count) {
        const read = fs.readSync(fd, bytes, filled, count - filled, null);
        if (read === 0) throw new Error(`${device} ended`);
        filled += read;
      }
    } finally {
      fs.closeSync(fd);
    }
    return bytes;
  } catch {
    return new Uint8Array(nodeCrypto().randomBytes(count));
  }
}

const DEFAULT_TIMEOUT_MS = 60_000;
let tempCounter = 0;

function fileType(stats: Fs.Stats): FileType {
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'directory';
  return 'other';
}

function toInfo(stats: Fs.Stats): FileInfo {
  return {
    type: fileType(stats),
    mode: stats.mode & 0o7777,
    uid: stats.uid,
    gid: stats.gid,
    size: stats.size,
    mtimeMs: stats.mtimeMs,
    dev: stats.dev,
    ino: stats.ino,
    nlink: stats.nlink,
  };
}

/** open(2) errors that mean "the name is not a plain file we may read", not a failure. */
const REFUSED_OPEN_ERRORS: Record<string, string> = {
  ELOOP: 'it is a symbolic link',
  ENXIO: 'it is a socket or a FIFO without a writer',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a component of the path is not a directory',
};

async function readRegularFile(target: string, maxBytes: number): Promise<RegularFileRead> {
  let handle;
  try {
    // O_NOFOLLOW: a link swapped in after the caller's lstat is refused by the kernel.
    // O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer.
    handle = await fs.promises.open(target, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
  } catch (error) {
    const code = errnoCode(error) ?? '';
    if (code === 'ENOENT') return { kind: 'missing' };
    const reason = REFUSED_OPEN_ERRORS[code];
    if (reason !== undefined) return { kind: 'refused', reason };
    throw error;
  }
  try {
    const info = toInfo(await handle.stat());
    if (info.type !== 'file') return { kind: 'refused', reason: 'it is not a regular file' };
    // A second name means a hard link: the file may be another file entirely (/etc/shadow).
    if (info.nlink !== 1) return { kind: 'refused', reason: `it has ${info.nlink} hard links` };
    if (info.size > maxBytes) return { kind: 'refused', reason: `it is larger than ${maxBytes} bytes` };
    // Read at most one byte past the bound: the size from fstat is not a promise.
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) return { kind: 'refused', reason: `it is larger than ${maxBytes} bytes` };
    }
    return { kind: 'text', text: buffer.subarray(0, length).toString('utf8'), info };
  } finally {
    await handle.close();
  }
}

async function statWith(fn: (target: string) => Promise<Fs.Stats>, target: string): Promise<FileInfo | undefined> {
  try {
    return toInfo(await fn(target));
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return undefined;
    throw error;
  }
}


/** rename(2) a finished temporary file over `target` (removing it if that fails), then fsync the folder so the rename survives a crash. */
async function renameIntoPlace(temp: string, target: string): Promise<void> {
  try {
    await fs.promises.rename(temp, target);
  } catch (error) {
    await fs.promises.rm(temp, { force: true });
    throw error;
  }
  const dirHandle = await fs.promises.open(path.dirname(target), fsConstants.O_RDONLY);
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

export function createRealSystem(): System {
  return {
    async run(file, args, options: RunOptions = {}): Promise<RunResult> {
      // No shell, a fixed environment and a timeout for every command; secrets only
      // ever travel on stdin (options.input), so they never show in ps or in logs.
      const { runCommand } = await import('./run-command.js');
      return runCommand({
        file,
        args,
        env: { LC_ALL: 'C', PATH: COMMAND_PATH, ...options.env },
        timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        ...(options.input === undefined ? {} : { input: options.input }),
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      });
    },

    openAppendLog(target, mode) {
      // O_APPEND: each record is one write(2) at the end, whoever else appends; the
      // descriptor lives as long as this short-lived process.
      const fd = fs.openSync(target, fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW, mode);
      return (line) => {
        try {
          fs.writeSync(fd, line);
        } catch {
          // A full disk must not stop the rescue that may be about to free it.
        }
      };
    },

    randomBytes: (count) => kernelRandomBytes(count),

    async readText(target) {
      try {
        return await settle<string>((done) => fs.readFile(target, 'utf8', done));
      } catch (error) {
        if (errnoCode(error) === 'ENOENT') return undefined;
        throw error;
      }
    },

    readRegularFile: (target, options) => readRegularFile(target, options.maxBytes),

    async readBytes(target) {
      try {
        return new Uint8Array(await settle<Buffer>((done) => fs.readFile(target, done)));
      } catch (error) {
        if (errnoCode(error) === 'ENOENT') return undefined;
        throw error;
      }
    },

    async writeFileAtomic(target, data, options: WriteOptions = {}) {
      const dir = path.dirname(target);
      const existing = await statWith(statOf, target);
      const mode = options.mode ?? existing?.mode ?? 0o644;
      const uid = options.uid ?? existing?.uid;
      const gid = options.gid ?? existing?.gid;
      // Unique among live processes (pid) and within this one (counter); O_EXCL below
      // refuses anything already at the name. No node:crypto: it costs startup time.
      tempCounter += 1;
      const temp = path.join(dir, `.${path.basename(target)}.${process.pid}.${Date.now().toString(36)}.${tempCounter}.tmp`);
      // O_EXCL|O_NOFOLLOW: never write through a planted file or symlink at the temp name.
      const handle = await fs.promises.open(
        temp,
        fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW,
        0o600,
      );
      try {
        await handle.writeFile(data);
        if (uid !== undefined && gid !== undefined) await handle.chown(uid, gid);
        await handle.chmod(mode);
        await handle.sync();
      } catch (error) {
        await handle.close();
        await fs.promises.rm(temp, { force: true });
        throw error;
      }
      await handle.close();
      await renameIntoPlace(temp, target);
    },

    async createExclusive(target, data, options: WriteOptions = {}) {
      let handle;
      try {
        handle = await fs.promises.open(
          target,
          fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW,
          options.mode ?? 0o600,
        );
      } catch (error) {
        if (errnoCode(error) === 'EEXIST') return false;
        throw error;
      }
      try {
        await handle.writeFile(data);
        if (options.uid !== undefined && options.gid !== undefined) await handle.chown(options.uid, options.gid);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return true;
    },

    stat: (target) => statWith(statOf, target),
    lstat: (target) => statWith(lstatOf, target),

    async readLink(target) {
      try {
        return await settle<string>((done) => fs.readlink(target, done));
      } catch (error) {
        // EINVAL: it exists but is not a symbolic link.
        const code = errnoCode(error);
        if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EINVAL') return undefined;
        throw error;
      }
    },

    async writeSymlinkAtomic(target, linkTarget) {
      const dir = path.dirname(target);
      tempCounter += 1;
      const temp = path.join(dir, `.${path.basename(target)}.${process.pid}.${Date.now().toString(36)}.${tempCounter}.lnk`);
      await fs.promises.symlink(linkTarget, temp);
      await renameIntoPlace(temp, target);
    },

    async mkdir(target, options = {}) {
      await fs.promises.mkdir(target, { recursive: options.recursive ?? false, mode: options.mode ?? 0o755 });
    },

    rename: (from, to) => fs.promises.rename(from, to),

    async remove(target, options = {}) {
      await fs.promises.rm(target, { force: true, recursive: options.recursive ?? false });
    },

    chown: (target, uid, gid) => fs.promises.lchown(target, uid, gid),
    chmod: (target, mode) => fs.promises.chmod(target, mode),

    async listDir(target) {
      try {
        return (await settle<string[]>((done) => fs.readdir(target, done))).sort();
      } catch (error) {
        if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return undefined;
        throw error;
      }
    },

    isProcessAlive(pid) {
      try {
        process.kill(pid, 0);
        return Promise.resolve(true);
      } catch (error) {
        // EPERM: it exists but belongs to someone else.
        return Promise.resolve(errnoCode(error) === 'EPERM');
      }
    },

    signalProcess(pid, signal) {
      // Never a group or "every process": only one positive pid.
      if (!Number.isSafeInteger(pid) || pid <= 1) return Promise.reject(new Error(`refusing to signal pid ${pid}`));
      try {
        process.kill(pid, signal);
        return Promise.resolve(true);
      } catch (error) {
        if (errnoCode(error) === 'ESRCH') return Promise.resolve(false);
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    },

    async tryHoldKernelLock(name) {
      const { createServer } = await import('node:net');
      // A Linux abstract unix socket: bind is atomic and the kernel unbinds it when the
      // process exits however it exits, unlike a lock file. The name is at most 107 bytes.
      const address = `\0${name}`.slice(0, 107);
      return new Promise((resolve, reject) => {
        const server = createServer();
        server.once('error', (error) => {
          if (errnoCode(error) === 'EADDRINUSE') resolve(undefined);
          else reject(error);
        });
        server.listen({ path: address }, () => {
          // Holding the name must not keep the process alive on its own.
          server.unref();
          resolve({ release: () => new Promise<void>((done) => server.close(() => done())) });
        });
      });
    },

    async probeTcpBanner(host, port, timeoutMs) {
      // node:net costs ~9 ms to load; only the sshd verification needs it.
      const { connect } = await import('node:net');
      return new Promise((resolve) => {
        let received = '';
        let settled = false;
        const socket = connect({ host, port });
        const finish = (value: string | undefined): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          socket.destroy();
          resolve(value);
        };
        const timer = setTimeout(() => finish(undefined), timeoutMs);
        socket.setEncoding('latin1');
        socket.on('data', (chunk: string) => {
          received += chunk;
          const end = received.indexOf('\n');
          // RFC 4253 4.2: the identification line is at most 255 bytes.
          if (end !== -1 || received.length >= 255) finish(received.slice(0, end === -1 ? 255 : end).replace(/\r$/, ''));
        });
        socket.on('error', () => finish(undefined));
        socket.on('close', () => finish(received === '' ? undefined : received));
      });
    },

    now: () => new Date(),
  };
}
