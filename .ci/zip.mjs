// A reproducible zip: the same inputs give the same bytes on any machine and in any
// time zone. Entries are sorted, every timestamp is the DOS epoch, modes are 0755 or
// 0644, and no extended-timestamp or uid/gid extra fields are written.
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';

// yazl encodes DOS times from the local-time fields of a Date, so the date is built
// from local fields too, at call time: 2000-01-01 00:00:00 then lands in the zip
// whatever TZ the build runs in. (Not 1980-01-01, the DOS epoch: yazl clamps earlier
// dates to a minimum it computed in the TZ it was loaded in.)
function fixedMtime() {
  return new Date(2000, 0, 1, 0, 0, 0);
}
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

export const FILE_MODE = 0o644;
export const EXECUTABLE_MODE = 0o755;
export const DIRECTORY_MODE = 0o755;

function compareNames(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Throws on a name a zip reader could resolve outside the extraction folder. */
export function assertSafeEntryName(name) {
  if (name === '' || name.startsWith('/') || name.includes('\\') || name.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw new Error(`unsafe zip entry name ${JSON.stringify(name)}`);
  }
}

/** Every parent folder of the given file names, e.g. a/b/c -> a/, a/b/. */
export function parentDirectories(names) {
  const directories = new Set();
  for (const name of names) {
    const parts = name.split('/');
    for (let depth = 1; depth < parts.length; depth += 1) directories.add(`${parts.slice(0, depth).join('/')}/`);
  }
  return [...directories];
}

/**
 * Write `entries` to `outFile` (via a temporary name, renamed at the end).
 * Each entry is `{ name, executable, data }` with `data` a Buffer, or `{ name,
 * executable, file }` to stream a large file from disk. Folders are added for every
 * parent path. Returns the number of entries written.
 */
export async function writeReproducibleZip(entries, outFile, { compressionLevel = 6 } = {}) {
  const seen = new Set();
  for (const entry of entries) {
    assertSafeEntryName(entry.name);
    if (seen.has(entry.name)) throw new Error(`duplicate zip entry ${entry.name}`);
    seen.add(entry.name);
  }
  const directories = parentDirectories(entries.map((entry) => entry.name)).map((name) => ({ name, directory: true }));
  const ordered = [...directories, ...entries].sort((a, b) => compareNames(a.name, b.name));

  const mtime = fixedMtime();
  const zip = new yazl.ZipFile();
  for (const entry of ordered) {
    if (entry.directory) {
      zip.addEmptyDirectory(entry.name, { mtime, mode: S_IFDIR | DIRECTORY_MODE, forceDosTimestamp: true });
      continue;
    }
    const options = {
      mtime,
      mode: S_IFREG | (entry.executable ? EXECUTABLE_MODE : FILE_MODE),
      forceDosTimestamp: true,
      compressionLevel,
    };
    if (entry.data !== undefined) zip.addBuffer(entry.data, entry.name, options);
    else zip.addFile(entry.file, entry.name, options);
  }
  const temporary = `${outFile}.partial-${process.pid}`;
  // yazl reports a file it cannot read on the ZipFile, not on its output stream.
  const failed = new Promise((_, reject) => zip.once('error', reject));
  zip.end();
  const writing = pipeline(zip.outputStream, createWriteStream(temporary));
  try {
    await Promise.race([writing, failed]);
    await rename(temporary, outFile);
  } catch (error) {
    // The file stream opens the temporary file asynchronously: once it is closed, no
    // late open can bring the file back after it is removed.
    zip.outputStream.destroy();
    await writing.catch(() => undefined);
    await rm(temporary, { force: true });
    throw error;
  }
  return ordered.length;
}
