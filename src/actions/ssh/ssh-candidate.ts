import * as path from 'node:path';
import { absoluteIncludePattern, rewriteIncludes } from '../../config/sshd-config.js';
import { VmaccessError } from '../../errors.js';
import type { System } from '../../system/system.js';
import { connectionArgument, parseSshdDump } from '../sshd-effective.js';
import type { ConnectionSpec, EffectiveSshdConfig } from '../sshd-effective.js';
import type { SshdTree } from './ssh-tree.js';

/**
 * Validating a candidate configuration before any live file changes: the whole
 * candidate tree (main file and every file it includes) is copied under a private
 * staging directory, with each Include rewritten to the staged copies, and sshd
 * itself checks it (`sshd -t -f`, `sshd -T -f ... -C`). Live files are written
 * only after that passes, so a connection (or a per-connection sshd -i on
 * socket-activated systems) never sees a half-made or rejected configuration.
 */

export interface SshdRunner {
  /** The sshd binary (or, in tests, a wrapper around it). */
  sshd: string;
  /** Appended to every sshd call (tests pass `-h <temporary host key>`). */
  extraArgs: readonly string[];
}

export interface StagedCandidate {
  mainPath: string;
  /** `sshd -t`: undefined when valid, else sshd's complaint with staged paths mapped back. */
  check(): Promise<SshdComplaint | undefined>;
  effective(spec: ConnectionSpec): Promise<EffectiveSshdConfig>;
}

export interface SshdComplaint {
  message: string;
  /** The live path sshd named as the culprit, when it named one. */
  file?: string;
  /** sshd said its privilege separation directory is missing. */
  missingPrivsepDir?: string;
}

export function parseComplaint(stderr: string, stageRoot: string | undefined): SshdComplaint {
  const text = stageRoot === undefined ? stderr : stderr.split(stageRoot).join('');
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const privsep = /Missing privilege separation directory: (\S+)/.exec(text);
  const culprit = lines.map((line) => /^(\/[^\s:]+):? line \d+:/.exec(line)).find((match) => match !== null);
  const message = (lines.find((line) => !/terminating, \d+ bad configuration options/.test(line)) ?? lines[0] ?? 'no reason given').slice(0, 300);
  const complaint: SshdComplaint = { message };
  if (culprit?.[1] !== undefined) complaint.file = culprit[1];
  if (privsep?.[1] !== undefined) complaint.missingPrivsepDir = privsep[1];
  return complaint;
}

async function checkWith(system: System, runner: SshdRunner, mainPath: string, stageRoot: string | undefined): Promise<SshdComplaint | undefined> {
  const result = await system.run(runner.sshd, ['-t', '-f', mainPath, ...runner.extraArgs], { timeoutMs: 30_000 });
  if (result.started && result.exitCode === 0) return undefined;
  if (!result.started) return { message: `${runner.sshd} could not be run` };
  return parseComplaint(result.stderr, stageRoot);
}

async function effectiveWith(system: System, runner: SshdRunner, mainPath: string, spec: ConnectionSpec, stageRoot: string | undefined): Promise<EffectiveSshdConfig> {
  const result = await system.run(runner.sshd, ['-T', '-f', mainPath, '-C', connectionArgument(spec), ...runner.extraArgs], { timeoutMs: 30_000 });
  if (!result.started || result.exitCode !== 0) {
    throw new VmaccessError('SSHD_CONFIG_INVALID', `sshd -T could not evaluate the configuration for ${spec.user}: ${parseComplaint(result.stderr, stageRoot).message}`);
  }
  return parseSshdDump(result.stdout);
}

/** The live configuration, checked in place (after the atomic writes, before any reload). */
export function liveConfiguration(system: System, runner: SshdRunner, mainPath: string): StagedCandidate {
  return {
    mainPath,
    check: () => checkWith(system, runner, mainPath, undefined),
    effective: (spec) => effectiveWith(system, runner, mainPath, spec, undefined),
  };
}

/**
 * Stages `tree` under `stateDir`, runs `use` against it and always removes the
 * staging directory afterwards.
 */
export async function withStagedCandidate<T>(
  system: System,
  runner: SshdRunner,
  tree: SshdTree,
  sshDir: string,
  stateDir: string,
  use: (candidate: StagedCandidate) => Promise<T>,
): Promise<T> {
  // Leave no trace: a plan stages too, and must change nothing, not even make the state folder.
  const made = await firstMissingAncestor(system, stateDir);
  await system.mkdir(stateDir, { recursive: true, mode: 0o755 });
  const stageRoot = path.join(stateDir, `sshd-candidate-${Buffer.from(system.randomBytes(6)).toString('hex')}`);
  await system.mkdir(stageRoot, { mode: 0o700 });
  try {
    const staged = (file: string): string => path.join(stageRoot, file);
    for (const file of tree.files) {
      await system.mkdir(path.dirname(staged(file.path)), { recursive: true, mode: 0o700 });
      // Relative patterns are rooted at /etc/ssh (sshd_config(5)); once absolute,
      // prefixing them with the staging root mirrors the tree exactly.
      const content = rewriteIncludes(file.content, (pattern) => staged(absoluteIncludePattern(pattern, sshDir)));
      await system.writeFileAtomic(staged(file.path), content, { mode: 0o600 });
    }
    const mainPath = staged(tree.mainPath);
    return await use({
      mainPath,
      check: () => checkWith(system, runner, mainPath, stageRoot),
      effective: (spec) => effectiveWith(system, runner, mainPath, spec, stageRoot),
    });
  } finally {
    await system.remove(stageRoot, { recursive: true });
    if (made !== undefined && (await isEmptyTree(system, made))) await system.remove(made, { recursive: true });
  }
}

async function firstMissingAncestor(system: System, dir: string): Promise<string | undefined> {
  let missing: string | undefined;
  for (let current = dir; (await system.stat(current)) === undefined; current = path.dirname(current)) {
    missing = current;
    if (path.dirname(current) === current) break;
  }
  return missing;
}

/** A folder holding nothing but (empty) folders. */
async function isEmptyTree(system: System, dir: string): Promise<boolean> {
  for (const name of (await system.listDir(dir)) ?? []) {
    const child = path.join(dir, name);
    if ((await system.lstat(child))?.type !== 'directory' || !(await isEmptyTree(system, child))) return false;
  }
  return true;
}
