import { isVmaccessError } from '../../errors.js';
import type { SystemPaths } from '../../system/paths.js';
import type { System } from '../../system/system.js';
import { PROBE_USER, SshdAnswers, findSshd, readEffectiveSshdConfig, type EffectiveSshdConfig } from '../sshd-effective.js';
import { judgeExpiry, judgeNologin, judgePassword, judgeShell, judgeStrictModes, strictModesChain, type PasswordState } from './account-rules.js';
import { LOGIN_PATH_FILES, findPamAccessUse, hasKeys, isExecutable, listenerEndpoints, readAccount, readConfigSources, readExpiry, readGroups, readPasswordState, statChain } from './facts.js';
import { judgePamAccess } from './pam-rules.js';
import { judgeAccessLists, judgeAuthentication, judgeAuthenticationMethods, judgeKeysFile, judgeListenScope, keysFilesOf, strictModes, usesPam, type ConfigSources } from './sshd-rules.js';
import { finding, ok, type CheckVerdict, type LoginMeans } from './verdict.js';

/**
 * The login-path engine: from inside the VM and without the user's private key,
 * everything that decides whether a user can log in over SSH, one verdict per check.
 * Reads only; never touches sshd beyond asking it `sshd -T`.
 */

export interface LoginTarget {
  user: string;
  /** How the user is meant to get in; when absent, whatever the account has (keys, a usable password). */
  means?: LoginMeans;
  /** The keys file a key was just written to. */
  keyFile?: string;
}

export interface LoginPathOptions {
  /** Today as yyyy-mm-dd (UTC); defaults to the system clock. */
  today?: string;
  /** Bound on each banner probe. */
  probeTimeoutMs?: number;
  /** sshd's answers already known in this run (and a place to keep new ones). */
  answers?: SshdAnswers;
}

/** Shared by every user of one run: sshd's binary, where its keywords were set, its view for nobody in particular. */
export interface SharedFacts {
  system: System;
  paths: SystemPaths;
  sshd: string | undefined;
  sources: ConfigSources | undefined;
  today: string;
  /** `sshd -T` for a user no Match block names (listeners, host keys), or why it failed. */
  probe: EffectiveSshdConfig | CheckVerdict;
  answers?: SshdAnswers;
}

export function isVerdict(value: EffectiveSshdConfig | CheckVerdict): value is CheckVerdict {
  return 'verdict' in value;
}

async function effectiveFor(shared: Pick<SharedFacts, 'system' | 'sshd' | 'answers'>, user: string): Promise<EffectiveSshdConfig | CheckVerdict> {
  if (shared.sshd === undefined) return finding('sshd_config', 'blocked', 'sshd is not installed', { user, advice: 'install openssh-server' });
  try {
    return await readEffectiveSshdConfig(shared.system, { user }, { sshd: shared.sshd, ...(shared.answers === undefined ? {} : { answers: shared.answers }) });
  } catch (error) {
    if (!isVmaccessError(error)) throw error;
    // A socket-activated sshd (Accept=yes) has no /run/sshd between connections and sshd -T
    // refuses to run without it; creating it would be a change, so these checks are skipped.
    if (/Missing privilege separation directory/.test(error.message)) {
      return ok('sshd_config', 'not evaluated: sshd -T needs its privilege separation directory, which a socket-activated sshd creates per connection', user);
    }
    return finding('sshd_config', 'blocked', error.message, { user, fix: 'reset_ssh' });
  }
}

/**
 * The user's ways in when the request did not give them: a key in a file sshd reads, or in
 * the usual ~/.ssh/authorized_keys when sshd reads none (so a moved AuthorizedKeysFile is
 * named as the lockout it is, not as "no credentials"), and a usable password.
 */
async function meansOf(shared: SharedFacts, target: LoginTarget, keyFiles: readonly string[], conventional: string, password: PasswordState | undefined): Promise<{ means: LoginMeans; keyFile?: string }> {
  if (target.means !== undefined) return { means: target.means };
  let keyFile: string | undefined;
  for (const file of keyFiles.includes(conventional) ? keyFiles : [...keyFiles, conventional]) {
    if (keyFile === undefined && (await hasKeys(shared.system, file))) keyFile = file;
  }
  const means = { key: keyFile !== undefined, password: password === 'usable' };
  return keyFile === undefined ? { means } : { means, keyFile };
}

/** Every check for one user, in the order a login meets them. */
export async function checkUser(shared: SharedFacts, target: LoginTarget): Promise<CheckVerdict[]> {
  const { system } = shared;
  const { user } = target;
  const account = await readAccount(system, shared.paths.passwd, user);
  if (account === undefined) return [finding('account', 'blocked', `there is no local account ${user}`, { user, fix: 'ssh_key' })];
  const results: CheckVerdict[] = [ok('account', `uid ${account.uid}, home ${account.home}`, user)];
  // The programs asked about the account do not depend on each other: they run side by side.
  const [groups, config, expiry, password] = await Promise.all([readGroups(system, user), effectiveFor(shared, user), readExpiry(system, user), readPasswordState(system, user)]);
  const effective = isVerdict(config) ? undefined : config;
  if (isVerdict(config)) results.push(config);
  const conventional = `${account.home.replace(/\/+$/, '')}/.ssh/authorized_keys`;
  const keyFiles = effective === undefined ? [conventional] : keysFilesOf(effective, account);
  const { means, keyFile: foundKeys } = await meansOf(shared, target, keyFiles, conventional, password);
  if (effective !== undefined) {
    results.push(judgeAccessLists(effective, user, groups, shared.sources));
    results.push(...judgeAuthentication(effective, user, means, shared.sources));
    results.push(judgeAuthenticationMethods(effective, user, means, shared.sources));
  }
  const keyFile = target.keyFile ?? foundKeys ?? keyFiles[0] ?? conventional;
  if (means.key && effective !== undefined) results.push(judgeKeysFile(effective, account, keyFile, shared.sources));
  const shell = account.shell === '' ? '/bin/sh' : account.shell;
  results.push(judgeShell(account, await isExecutable(system, shell)));
  results.push(judgeExpiry(user, expiry, shared.today));
  results.push(judgePassword(user, password, means, effective === undefined || usesPam(effective)));
  if (means.key) results.push(judgeStrictModes(account, await statChain(system, strictModesChain(keyFile, account.home)), effective === undefined || strictModes(effective)));
  const pamUse = await findPamAccessUse(system);
  const accessFile = pamUse?.accessFile ?? LOGIN_PATH_FILES.accessConf;
  results.push(judgePamAccess(user, groups, pamUse, accessFile, pamUse === undefined ? undefined : await system.readText(accessFile)));
  return results;
}

/** Knocks on an endpoint whose knocks end early without a banner (the last one decides). */
const MAX_KNOCKS = 3;
const RETRY_PAUSE_MS = 200;

interface Knock {
  banner: string | undefined;
  timedOut: boolean;
  knocks: number;
}

/** One knock at host:port, and whether it ran out of time. */
async function knockOnce(system: System, host: string, port: number, timeoutMs: number): Promise<Omit<Knock, 'knocks'>> {
  const started = system.now().getTime();
  const banner = await system.probeTcpBanner(host, port, timeoutMs);
  return { banner, timedOut: system.now().getTime() - started >= timeoutMs };
}

/**
 * sshd answers with an SSH banner on every effective ListenAddress/Port, within the bound.
 * The IPv6 wildcard is knocked on at ::1; a machine (or container) without IPv6 loopback
 * does not answer there, which costs nobody a login while the IPv4 wildcard of the same
 * port answers.
 *
 * A knock that ended early without a banner is tried again: a socket-activated sshd
 * (Accept=yes) runs one sshd -i per connection, and on some releases one instance ending
 * removes /run/sshd while the next starts, which then closes without a word; a real
 * lockout answers the same every time. A knock that ran out of time is not repeated (a
 * port a firewall drops costs the bound once), nor one that does not matter.
 */
export async function checkListeners(system: System, config: EffectiveSshdConfig | undefined, timeoutMs: number): Promise<CheckVerdict[]> {
  if (config === undefined) return [];
  const endpoints = listenerEndpoints(config);
  const answers = new Map<string, Knock>();
  const keyOf = (endpoint: (typeof endpoints)[number]): string => `${endpoint.host}:${endpoint.port}`;
  const isSsh = (answer: Knock | undefined): boolean => answer?.banner?.startsWith('SSH-') === true;
  const coveredByIpv4 = (endpoint: (typeof endpoints)[number]): boolean => endpoint.listen.startsWith('[::]:') && isSsh(answers.get(`127.0.0.1:${endpoint.port}`));
  for (const endpoint of endpoints) answers.set(keyOf(endpoint), { ...(await knockOnce(system, endpoint.host, endpoint.port, timeoutMs)), knocks: 1 });
  // IPv4 first: its answer can make another knock on ::1 unnecessary.
  const ipv6Last = [...endpoints].sort((a, b) => Number(a.listen.startsWith('[::]:')) - Number(b.listen.startsWith('[::]:')));
  for (const endpoint of ipv6Last) {
    for (let last = answers.get(keyOf(endpoint))!; !isSsh(last) && !last.timedOut && last.knocks < MAX_KNOCKS && !coveredByIpv4(endpoint); last = answers.get(keyOf(endpoint))!) {
      await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
      answers.set(keyOf(endpoint), { ...(await knockOnce(system, endpoint.host, endpoint.port, timeoutMs)), knocks: last.knocks + 1 });
    }
  }
  return endpoints.map((endpoint) => {
    const check = `listen ${endpoint.listen}`;
    const answer = answers.get(keyOf(endpoint));
    if (isSsh(answer)) return ok(check, `${endpoint.host}:${endpoint.port} answers ${answer?.banner?.slice(0, 60) ?? ''}`);
    if (coveredByIpv4(endpoint)) {
      return ok(check, `::1:${endpoint.port} does not answer (no IPv6 loopback here); 127.0.0.1:${endpoint.port} does`);
    }
    const what =
      answer?.banner !== undefined ? 'the answer is not an SSH banner' : answer?.timedOut !== false ? `nothing answered within ${timeoutMs} ms` : `the connection ended without an answer (${answer.knocks} tries)`;
    return finding(check, 'blocked', `${endpoint.host}:${endpoint.port}: ${what}`, { fix: 'reset_ssh' });
  });
}

/**
 * `standIn`: a user whose answer also serves for the machine-wide checks (Port and
 * ListenAddress cannot be set inside a Match block, so every user sees the same
 * listeners): the check then asks sshd nothing it does not ask for that user anyway.
 */
export async function createSharedFacts(system: System, paths: SystemPaths, options: LoginPathOptions = {}, standIn?: string): Promise<SharedFacts> {
  const sshd = await findSshd(system).catch(() => undefined);
  const answers = options.answers === undefined ? {} : { answers: options.answers };
  const facts = { system, sshd, ...answers };
  const machineView = async (): Promise<EffectiveSshdConfig | CheckVerdict> => {
    const view = standIn === undefined ? undefined : await effectiveFor(facts, standIn);
    return view === undefined || isVerdict(view) ? effectiveFor(facts, PROBE_USER) : view;
  };
  const [probe, sources] = await Promise.all([machineView(), readConfigSources(system, paths.sshdConfig)]);
  return {
    system,
    paths,
    sshd,
    sources,
    today: options.today ?? system.now().toISOString().slice(0, 10),
    probe: isVerdict(probe) ? { ...probe, user: undefined } : probe,
    ...answers,
  };
}

/** The machine-wide part every login needs: sshd answering, /etc/nologin. */
export async function checkMachine(shared: SharedFacts, options: LoginPathOptions = {}): Promise<CheckVerdict[]> {
  const { probe } = shared;
  const results = isVerdict(probe) ? [probe] : [...(await checkListeners(shared.system, probe, options.probeTimeoutMs ?? 3_000)), judgeListenScope(probe, shared.sources)];
  results.push(judgeNologin(await shared.system.readText(LOGIN_PATH_FILES.nologin)));
  return results;
}

/** The whole path for these users: the machine once, then each user. */
export async function checkLoginPaths(system: System, paths: SystemPaths, targets: readonly LoginTarget[], options: LoginPathOptions = {}): Promise<CheckVerdict[]> {
  // The first user's answer stands in for the machine's; kept for that user's own checks.
  const withAnswers = { ...options, answers: options.answers ?? new SshdAnswers() };
  const shared = await createSharedFacts(system, paths, withAnswers, targets[0]?.user);
  // Side by side; the verdicts keep the order a login meets them (machine, then each user).
  const parts = await Promise.all([checkMachine(shared, options), ...targets.map((target) => checkUser(shared, target))]);
  return parts.flat();
}

/**
 * `work` bounded by `ms`: the fallback's value when it does not finish in time. The
 * work's commands carry their own timeouts; this bounds the sum, so enable never hangs.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, fallback: () => T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback()), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
