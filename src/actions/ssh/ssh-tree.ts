import * as path from 'node:path';
import { absoluteIncludePattern, findIncludes, globComponentToRegExp, globMatches, hasGlobMagic } from '../../config/sshd-config.js';
import type { System } from '../../system/system.js';

/**
 * The set of files sshd reads: the main sshd_config and everything its Include
 * directives reach (globs expanded as glob(3) does: sorted, no dot files), read
 * through a view so a candidate (current files plus pending changes) can be
 * walked exactly like the live configuration.
 */

export interface FileView {
  readText(file: string): Promise<string | undefined>;
  listDir(dir: string): Promise<string[] | undefined>;
  isFile(file: string): Promise<boolean>;
  isDirectory(dir: string): Promise<boolean>;
}

export function systemView(system: System): FileView {
  return {
    readText: (file) => system.readText(file),
    listDir: (dir) => system.listDir(dir),
    isFile: async (file) => (await system.stat(file))?.type === 'file',
    isDirectory: async (dir) => (await system.stat(dir))?.type === 'directory',
  };
}

/** `changes` maps a path to its new content, or null for a file that goes away. */
export type ChangeSet = Map<string, string | null>;

export function overlayView(base: FileView, changes: ReadonlyMap<string, string | null>): FileView {
  return {
    async readText(file) {
      if (changes.has(file)) return changes.get(file) ?? undefined;
      return base.readText(file);
    },
    async listDir(dir) {
      const names = new Set((await base.listDir(dir)) ?? []);
      let touched = false;
      for (const [file, content] of changes) {
        if (path.dirname(file) !== dir) continue;
        touched = true;
        if (content === null) names.delete(path.basename(file));
        else names.add(path.basename(file));
      }
      if (names.size === 0 && !touched && !(await base.isDirectory(dir))) return undefined;
      return [...names].sort();
    },
    async isFile(file) {
      if (changes.has(file)) return changes.get(file) !== null;
      return base.isFile(file);
    },
    isDirectory: (dir) => base.isDirectory(dir),
  };
}

export interface SshdFile {
  path: string;
  content: string;
}

export interface IncludeUse {
  /** File holding the Include line. */
  file: string;
  /** Absolute pattern. */
  pattern: string;
  /** Include inside a Match block: conditional, so not a place for global or per-user settings. */
  inMatch: boolean;
}

export interface SshdTree {
  mainPath: string;
  /** Every file sshd reads, main first, in the order it reads them. */
  files: SshdFile[];
  includes: IncludeUse[];
}

/** sshd refuses Include nesting deeper than this (servconf.c SERVCONF_MAX_DEPTH). */
const MAX_INCLUDE_DEPTH = 16;

export async function expandGlob(view: FileView, pattern: string): Promise<string[]> {
  const parts = pattern.split('/').filter(Boolean);
  let current = ['/'];
  for (const [index, part] of parts.entries()) {
    const last = index === parts.length - 1;
    const next: string[] = [];
    for (const dir of current) {
      if (!hasGlobMagic(part)) {
        const candidate = path.join(dir, part.replace(/\\(.)/g, '$1'));
        if (last ? await view.isFile(candidate) : await view.isDirectory(candidate)) next.push(candidate);
        continue;
      }
      const regex = globComponentToRegExp(part);
      for (const name of (await view.listDir(dir)) ?? []) {
        if (!regex.test(name)) continue;
        const candidate = path.join(dir, name);
        if (last ? await view.isFile(candidate) : await view.isDirectory(candidate)) next.push(candidate);
      }
    }
    current = next;
  }
  return current.sort();
}

export async function readSshdTree(view: FileView, mainPath: string, sshDir: string): Promise<SshdTree> {
  const tree: SshdTree = { mainPath, files: [], includes: [] };
  const visit = async (file: string, depth: number): Promise<void> => {
    const content = await view.readText(file);
    if (content === undefined) return;
    tree.files.push({ path: file, content });
    if (depth >= MAX_INCLUDE_DEPTH) return;
    for (const include of findIncludes(content)) {
      for (const raw of include.patterns) {
        const pattern = absoluteIncludePattern(raw, sshDir);
        tree.includes.push({ file, pattern, inMatch: include.inMatch });
        for (const match of await expandGlob(view, pattern)) await visit(match, depth + 1);
      }
    }
  };
  await visit(mainPath, 0);
  return tree;
}

/** Whether a file at `candidate` would be read by sshd as part of the global configuration. */
export function isUnconditionallyIncluded(tree: SshdTree, candidate: string): boolean {
  return tree.includes.some((include) => !include.inMatch && globMatches(include.pattern, candidate));
}
