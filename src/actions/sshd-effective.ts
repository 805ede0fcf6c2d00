import { VmaccessError } from '../errors.js';
import type { System } from '../system/system.js';
import { firstLine } from '../text.js';

/** Where distributions install the SSH server binary, in the order tried. */
export const SSHD_CANDIDATES = ['/usr/sbin/sshd', '/usr/bin/sshd', '/usr/local/sbin/sshd', '/sbin/sshd'] as const;

export async function findSshd(system: System): Promise<string> {
  for (const candidate of SSHD_CANDIDATES) {
    const info = await system.stat(candidate);
    if (info?.type === 'file') return candidate;
  }
  throw new VmaccessError('SSHD_NOT_FOUND', 'The SSH server (sshd) is not installed in any of the usual places.', {
    hint: 'Install the openssh-server package.',
  });
}

/** The connection sshd evaluates Match blocks against (`sshd -T -C ...`). */
export interface ConnectionSpec {
  user: string;
  host?: string;
  addr?: string;
  laddr?: string;
  lport?: number;
}

/** sshd's own view of its configuration: lower-case keywords, every value in order. */
export interface EffectiveSshdConfig {
  get(keyword: string): string | undefined;
  getAll(keyword: string): string[];
}

export function parseSshdDump(dump: string): EffectiveSshdConfig {
  const values = new Map<string, string[]>();
  for (const line of dump.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '') continue;
    const space = trimmed.indexOf(' ');
    const keyword = (space === -1 ? trimmed : trimmed.slice(0, space)).toLowerCase();
    const value = space === -1 ? '' : trimmed.slice(space + 1);
    const list = values.get(keyword) ?? [];
    list.push(value);
    values.set(keyword, list);
  }
  return {
    get: (keyword) => values.get(keyword.toLowerCase())?.[0],
    getAll: (keyword) => values.get(keyword.toLowerCase()) ?? [],
  };
}

export function connectionArgument(spec: ConnectionSpec): string {
  // sshd splits -C on commas; user names are validated long before they get here,
  // but refuse anything that could smuggle another field in.
  if (/[,=\s]/.test(spec.user)) {
    throw new VmaccessError('SETTINGS_INVALID', 'The user name contains characters sshd cannot evaluate.');
  }
  return [
    `user=${spec.user}`,
    `host=${spec.host ?? 'localhost'}`,
    `addr=${spec.addr ?? '127.0.0.1'}`,
    `laddr=${spec.laddr ?? '127.0.0.1'}`,
    `lport=${spec.lport ?? 22}`,
  ].join(',');
}

/** A user name no account has and no Match block names: sshd's view for nobody in particular. */
export const PROBE_USER = 'vmaccess-probe-nobody';

/**
 * sshd's answers within one run: `sshd -T -C` is asked once per connection for the
 * live files. What sshd answers depends on the files and on the user's groups, so
 * whatever changes either says so (`replaced`): the answers are forgotten, or, when the
 * files now in place are a candidate sshd already judged, taken over from that.
 */
export class SshdAnswers {
  readonly #answers = new Map<string, Promise<EffectiveSshdConfig>>();

  static key(sshd: string, extraArgs: readonly string[], spec: ConnectionSpec): string {
    return JSON.stringify([sshd, extraArgs, connectionArgument(spec)]);
  }

  /** The memoised answer, or `ask` once; a failed answer is not kept (what sshd needs may appear). */
  answer(key: string, ask: () => Promise<EffectiveSshdConfig>): Promise<EffectiveSshdConfig> {
    let pending = this.#answers.get(key);
    if (pending === undefined) {
      pending = ask();
      this.#answers.set(key, pending);
      pending.catch(() => {
        if (this.#answers.get(key) === pending) this.#answers.delete(key);
      });
    }
    return pending;
  }

  /** The live files or an account changed; `judged`: sshd's answers for the files now in place. */
  replaced(judged: ReadonlyMap<string, EffectiveSshdConfig> = new Map()): void {
    this.#answers.clear();
    for (const [key, config] of judged) this.#answers.set(key, Promise.resolve(config));
  }
}

/**
 * Ask sshd what it would do for this connection. `configFile` checks a candidate
 * instead of the live configuration; `answers` asks sshd about the live files once per run.
 */
export async function readEffectiveSshdConfig(
  system: System,
  spec: ConnectionSpec,
  options: { sshd?: string; configFile?: string; extraArgs?: readonly string[]; answers?: SshdAnswers } = {},
): Promise<EffectiveSshdConfig> {
  const sshd = options.sshd ?? (await findSshd(system));
  const extraArgs = options.extraArgs ?? [];
  const ask = async (): Promise<EffectiveSshdConfig> => {
    const args = ['-T', '-C', connectionArgument(spec)];
    if (options.configFile !== undefined) args.push('-f', options.configFile);
    // Tests pass `-h <temporary host key>`: sshd -T loads host keys before it prints anything.
    args.push(...extraArgs);
    const result = await system.run(sshd, args, { timeoutMs: 20_000 });
    if (result.exitCode !== 0) {
      throw new VmaccessError('SSHD_CONFIG_INVALID', `sshd -T rejected the configuration: ${firstLine(result.stderr, 300, 'no reason given')}`);
    }
    return parseSshdDump(result.stdout);
  };
  if (options.answers === undefined || options.configFile !== undefined) return ask();
  return options.answers.answer(SshdAnswers.key(sshd, extraArgs, spec), ask);
}
