import { handlerEnvironmentText, pythonJson } from '../helpers/agent-files.js';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { execa } from 'execa';
import { assertAgentAcceptsStatus, type AgentReportedStatus } from './agent-status.js';
import { extractedZip, HANDLER_NAME, type HandlerPackage } from './handler-package.js';
import type { Sandbox } from './sandbox.js';

/**
 * Drives a handler inside a sandbox the way the Azure Linux guest agent does
 * (../shared/docs/guest-agent-contract.md): package layout, HandlerEnvironment.json,
 * settings files with CMS-encrypted protected settings, `/bin/sh -c` from the handler
 * directory in a new session, the agent's variables and time limits, its own state
 * files, and the install / enable / upgrade / removal orders of §4.
 */

export type Operation = 'install' | 'enable' | 'update' | 'disable' | 'uninstall';

/** The agent's time limit per command (contract §3.4), in seconds. */
export const AGENT_TIMEOUTS_S: Record<Operation, number> = { install: 900, enable: 300, update: 900, disable: 900, uninstall: 300 };

export const AGENT_LIB_DIR = '/var/lib/waagent';
export const AGENT_LOG_DIR = '/var/log/azure';
/** PATH of the agent's service under systemd: the variables the agent passes on. */
const AGENT_SERVICE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const WIRE_SERVER = '168.63.129.16';
const SUPPORTED_FEATURES = '[{"Key": "ExtensionTelemetryPipeline", "Value": "1.0"}]';

export interface AgentSettings {
  /** Public settings object; null (or omitted) is written as `null`. */
  publicSettings?: Record<string, unknown> | null;
  /** Protected settings, encrypted to the agent's certificate; null (or omitted) means none. */
  protectedSettings?: Record<string, unknown> | null;
  /** Content cipher for the CMS envelope (default des3, as the agent's samples). */
  cipher?: 'des3' | 'aes256';
}

/** `empty`: the 0-byte 0.settings of a GS without settings; `unparseable`: all three values null. */
export type SettingsSpec = AgentSettings | 'empty' | 'unparseable';

export interface InstalledHandler {
  version: string;
  /** Handler directory inside the sandbox. */
  dir: string;
  pkg: HandlerPackage;
}

export interface AgentCommandResult {
  operation: Operation;
  version: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  seconds: number;
  /** The text the agent would log and ship to telemetry (3200 characters at most). */
  agentMessage: string;
  /** Agent-owned files the command changed (contract §8 "must not" 2); should be empty. */
  touchedAgentFiles: string[];
}

export interface GuestAgent {
  readonly sandbox: Sandbox;
  /** Upper-case SHA-1 thumbprint of the certificate protected settings are encrypted to. */
  readonly thumbprint: string;
  /** Every command run so far, in order. */
  readonly history: AgentCommandResult[];
  /** §4.1 step 1-2: unpack, u+x, manifest, folders, HandlerEnvironment.json, HandlerState=NotInstalled. */
  setUp(pkg: HandlerPackage): Promise<InstalledHandler>;
  /** Write `config/<seq>.settings` exactly as the agent does. */
  writeSettings(handler: InstalledHandler, seq: number, settings: SettingsSpec): Promise<void>;
  /** Run one manifest command the way the agent does. */
  runCommand(
    handler: InstalledHandler,
    operation: Operation,
    seq: number,
    extraEnv?: Record<string, string>,
    options?: { timeoutMs?: number },
  ): Promise<AgentCommandResult>;
  /** §4.1 first install: set up, settings, install, enable. Stops after a failed install. */
  install(pkg: HandlerPackage, seq: number, settings: SettingsSpec): Promise<{ handler: InstalledHandler; results: AgentCommandResult[] }>;
  /** §4.2: write the settings and run enable only. */
  enable(handler: InstalledHandler, seq: number, settings: SettingsSpec): Promise<AgentCommandResult>;
  /** §4.3 upgrade (or downgrade) from `from` to `pkg`, in the agent's order. */
  upgrade(from: InstalledHandler, pkg: HandlerPackage, seq: number, settings: SettingsSpec): Promise<{ handler: InstalledHandler; results: AgentCommandResult[] }>;
  /** §2.4 requested state `disabled`: run disable; HandlerState=Installed, status "Plugin disabled". */
  disable(handler: InstalledHandler, seq: number): Promise<AgentCommandResult>;
  /** §4.5 removal: disable (if enabled), uninstall, delete the directory. */
  remove(handler: InstalledHandler, seq: number): Promise<AgentCommandResult[]>;
  /** The agent's own state file for the handler (`Installed`, `Enabled`, ...). */
  handlerState(handler: InstalledHandler): Promise<string | undefined>;
  /** Path inside the sandbox of `status/<seq>.status`. */
  statusPath(handler: InstalledHandler, seq: number): string;
  /** The status file as JSON (undefined when missing). */
  readStatus(handler: InstalledHandler, seq: number): Promise<unknown>;
  /** Read the status file with the real agent's parser; throws unless accepted. */
  agentStatus(handler: InstalledHandler, seq: number): Promise<AgentReportedStatus>;
}

/** How the agent joins the captured output (§3.2 point 5): 3200 characters at most. */
export function agentOutputText(stdout: string, stderr: string): string {
  const max = 3200;
  const out = stdout.slice(0, max);
  const err = stderr.slice(0, max);
  const budget = max - '[stdout]\n\n\n[stderr]\n'.length;
  let outShare = Math.min(out.length, Math.floor(budget / 2));
  let errShare = Math.min(err.length, budget - outShare);
  outShare = Math.min(out.length, budget - errShare);
  errShare = Math.min(err.length, budget - outShare);
  return `[stdout]\n${out.slice(out.length - outShare)}\n\n[stderr]\n${err.slice(err.length - errShare)}`;
}

/**
 * How the agent starts a command (§3.2): `/bin/sh -c` as leader of a new session and
 * process group, stdin not a terminal; on timeout the whole process group gets SIGKILL.
 * Arguments: the command, the limit in seconds.
 */
const AGENT_SPAWN_SCRIPT = [
  // The wrapper's own job messages ("Killed") go nowhere; the command keeps the real stderr.
  'exec 3>&2 2>/dev/null',
  'setsid /bin/sh -c "$1" </dev/null 2>&3 3>&- &',
  'pid=$!',
  // The watchdog exits quietly on TERM (a job killed by a signal would print "Killed").
  // procps kill: dash's builtin kill does not take `--` before a negative (group) id.
  '( sleep "$2" & s=$!; trap \'kill "$s" 2>/dev/null; exit 0\' TERM; wait "$s" && /bin/kill -s KILL -- "-$pid" 2>/dev/null ) &',
  'killer=$!',
  'wait "$pid"',
  'rc=$?',
  'kill -TERM "$killer" 2>/dev/null',
  'wait "$killer"',
  'exit "$rc"',
].join('\n');

function handlerDir(version: string): string {
  return `${AGENT_LIB_DIR}/${HANDLER_NAME}-${version}`;
}

function nodeArch(): string {
  return process.arch === 'arm64' ? 'arm64' : 'x64';
}

export async function createGuestAgent(sandbox: Sandbox): Promise<GuestAgent> {
  // The certificate the goal state would carry: <THUMBPRINT>.crt / .prv in the lib dir.
  const certDir = path.join(sandbox.tempDir, 'agent-cert');
  await fs.mkdir(certDir, { mode: 0o700 });
  const crt = path.join(certDir, 'cert.crt');
  const prv = path.join(certDir, 'cert.prv');
  await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=e2e-protected-settings', '-keyout', prv, '-out', crt], {
    timeout: 60_000,
  });
  const fingerprint = (await execa('openssl', ['x509', '-in', crt, '-noout', '-fingerprint', '-sha1'])).stdout;
  const thumbprint = (fingerprint.split('=')[1] ?? '').replace(/:/g, '').trim().toUpperCase();
  if (!/^[0-9A-F]{40}$/.test(thumbprint)) throw new Error(`unexpected fingerprint output: ${fingerprint}`);
  await sandbox.execOk(['mkdir', '-p', '-m', '0755', AGENT_LIB_DIR, AGENT_LOG_DIR]);
  await sandbox.writeFile(`${AGENT_LIB_DIR}/${thumbprint}.crt`, await fs.readFile(crt), 0o400);
  await sandbox.writeFile(`${AGENT_LIB_DIR}/${thumbprint}.prv`, await fs.readFile(prv), 0o400);

  const history: AgentCommandResult[] = [];
  const logFolder = `${AGENT_LOG_DIR}/${HANDLER_NAME}`;

  const setHandlerState = (handler: InstalledHandler, state: string): Promise<void> =>
    sandbox.writeFile(`${handler.dir}/config/HandlerState`, state, 0o600);

  const setHandlerStatus = (handler: InstalledHandler, status: string, message: string): Promise<void> =>
    sandbox.writeFile(
      `${handler.dir}/config/HandlerStatus`,
      pythonJson({ name: HANDLER_NAME, version: handler.version, status, code: 0, message, supports_multi_config: false, extension_status: null }),
      0o600,
    );

  const setUp = async (pkg: HandlerPackage): Promise<InstalledHandler> => {
    const dir = handlerDir(pkg.version);
    const hostDir = path.join(sandbox.root, dir);
    await sandbox.execOk(['rm', '-rf', dir]);
    await sandbox.execOk(['mkdir', '-p', dir]);
    let bindRuntime: string | undefined;
    if (pkg.kind === 'zip') {
      // Unpacked as the agent does (Python's zipfile, which drops file modes, then u+x
      // on every file), once per zip; runtime/ is bind-mounted read-only from there
      // (copying ~250 MB of Node.js binaries into every sandbox costs ~4 s each).
      // VMACCESS_E2E_FULL_EXTRACT=1 copies everything instead.
      const extracted = await extractedZip(pkg);
      const full = process.env['VMACCESS_E2E_FULL_EXTRACT'] === '1';
      await fs.cp(extracted, hostDir, { recursive: true, filter: (source) => full || source !== path.join(extracted, 'runtime') });
      if (!full && existsSync(path.join(extracted, 'runtime'))) bindRuntime = path.join(extracted, 'runtime');
    } else {
      await fs.cp(pkg.path, hostDir, { recursive: true });
    }
    // The agent adds u+x to every file of the package, and nothing else.
    await sandbox.execOk(['find', dir, '-type', 'f', '-exec', 'chmod', 'u+x', '{}', '+']);
    if (bindRuntime !== undefined) await sandbox.bindHostPath(bindRuntime, `${dir}/runtime`);
    await sandbox.execOk(['sh', '-c', 'mkdir -p -m 0700 "$1/config" "$1/status" && mkdir -p -m 0755 "$2" && mkdir -p -m 0700 "$2/events"', 'setup', dir, logFolder]);
    await sandbox.writeFile(`${dir}/HandlerEnvironment.json`, handlerEnvironmentText(dir, logFolder), 0o644);
    const handler: InstalledHandler = { version: pkg.version, dir, pkg };
    if (pkg.kind === 'tree') {
      // This machine's node, at the place handlers/run looks first, and not on PATH.
      await sandbox.bindHostPath(process.execPath, `${dir}/runtime/${nodeArch()}/bin/node`);
    }
    await setHandlerState(handler, 'NotInstalled');
    return handler;
  };

  const encrypt = async (plaintext: string, cipher: 'des3' | 'aes256'): Promise<string> => {
    // Plaintext on stdin only: it holds passwords.
    const result = await execa('openssl', ['cms', '-encrypt', '-binary', '-outform', 'DER', `-${cipher}`, crt], {
      input: plaintext,
      encoding: 'buffer',
      // DER is binary: a final 0x0a byte is data, not a line end.
      stripFinalNewline: false,
      timeout: 30_000,
    });
    return Buffer.from(result.stdout).toString('base64');
  };

  const writeSettings = async (handler: InstalledHandler, seq: number, settings: SettingsSpec): Promise<void> => {
    const file = `${handler.dir}/config/${seq}.settings`;
    if (settings === 'empty') return sandbox.writeFile(file, '', 0o600);
    let publicSettings: unknown = null;
    let protectedSettings: string | null = null;
    let certificate: string | null = null;
    if (settings !== 'unparseable') {
      publicSettings = settings.publicSettings ?? null;
      if (settings.protectedSettings !== undefined && settings.protectedSettings !== null) {
        protectedSettings = await encrypt(JSON.stringify(settings.protectedSettings), settings.cipher ?? 'des3');
        certificate = thumbprint;
      }
    }
    const text = pythonJson({
      runtimeSettings: [{ handlerSettings: { publicSettings, protectedSettings, protectedSettingsCertThumbprint: certificate } }],
    });
    return sandbox.writeFile(file, text, 0o600);
  };

  const runCommand = async (
    handler: InstalledHandler,
    operation: Operation,
    seq: number,
    extraEnv: Record<string, string> = {},
    options: { timeoutMs?: number } = {},
  ): Promise<AgentCommandResult> => {
    const manifestText = await sandbox.readText(`${handler.dir}/HandlerManifest.json`);
    if (manifestText === undefined) throw new Error(`${handler.dir}/HandlerManifest.json is missing`);
    const manifest = (JSON.parse(manifestText.replace(/^\uFEFF/, '')) as { handlerManifest: Record<string, unknown> }[])[0]?.handlerManifest;
    const command = manifest?.[`${operation}Command`];
    if (typeof command !== 'string') throw new Error(`the manifest has no ${operation}Command`);
    // The agent strips leading slashes and prefixes the handler directory (§3.2).
    const fullCommand = path.posix.join(handler.dir, command.replace(/^\/+/, ''));
    const env: Record<string, string> = {
      ConfigSequenceNumber: String(seq),
      AZURE_GUEST_AGENT_EXTENSION_PATH: handler.dir,
      AZURE_GUEST_AGENT_EXTENSION_VERSION: handler.version,
      AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS: WIRE_SERVER,
      AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES: SUPPORTED_FEATURES,
      ...(operation === 'install' || operation === 'enable' ? { AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE: 'NOT_RUN' } : {}),
      ...extraEnv,
      // The agent's own process environment is merged last and wins (§3.2 point 4).
      PATH: AGENT_SERVICE_PATH,
    };
    const agentOwned = ['HandlerEnvironment.json', 'HandlerManifest.json', 'config/HandlerState', 'config/HandlerStatus'];
    const fingerprint = async (): Promise<string[]> =>
      (await sandbox.exec(['sh', '-c', 'cd "$1" && shift && for f in "$@"; do if [ -e "$f" ]; then sha256sum "$f"; else echo "missing $f"; fi; done', 'fp', handler.dir, ...agentOwned])).stdout.split('\n');
    const ownedBefore = await fingerprint();
    const started = Date.now();
    // A shorter limit lets a test kill a command part-way, as the agent's timeout does.
    const limitMs = options.timeoutMs ?? AGENT_TIMEOUTS_S[operation] * 1000;
    const result = await sandbox.exec(['/bin/sh', '-c', AGENT_SPAWN_SCRIPT, 'agent', fullCommand, String(limitMs / 1000)], {
      cwd: handler.dir,
      env,
      bareEnv: true,
      timeoutMs: limitMs + 30_000,
    });
    const outcome: AgentCommandResult = {
      operation,
      version: handler.version,
      exitCode: result.exitCode,
      stdout: result.stdout,
      stderr: result.stderr,
      timedOut: result.timedOut || result.exitCode === 137,
      seconds: (Date.now() - started) / 1000,
      agentMessage: agentOutputText(result.stdout, result.stderr),
      touchedAgentFiles: [],
    };
    const ownedAfter = await fingerprint();
    outcome.touchedAgentFiles = agentOwned.filter((_, index) => ownedBefore[index] !== ownedAfter[index]);
    history.push(outcome);
    return outcome;
  };

  const handlerState = (handler: InstalledHandler): Promise<string | undefined> => sandbox.readText(`${handler.dir}/config/HandlerState`);

  const install = async (pkg: HandlerPackage, seq: number, settings: SettingsSpec): Promise<{ handler: InstalledHandler; results: AgentCommandResult[] }> => {
    const handler = await setUp(pkg);
    await writeSettings(handler, seq, settings);
    const results = [await runCommand(handler, 'install', seq)];
    if (results[0]?.exitCode !== 0) return { handler, results };
    await setHandlerState(handler, 'Installed');
    await setHandlerStatus(handler, 'NotReady', 'Plugin installed but not enabled');
    const enableResult = await runCommand(handler, 'enable', seq);
    results.push(enableResult);
    if (enableResult.exitCode === 0) {
      await setHandlerState(handler, 'Enabled');
      await setHandlerStatus(handler, 'Ready', 'Plugin enabled');
    }
    return { handler, results };
  };

  const enable = async (handler: InstalledHandler, seq: number, settings: SettingsSpec): Promise<AgentCommandResult> => {
    await writeSettings(handler, seq, settings);
    const result = await runCommand(handler, 'enable', seq);
    if (result.exitCode === 0) {
      await setHandlerState(handler, 'Enabled');
      await setHandlerStatus(handler, 'Ready', 'Plugin enabled');
    }
    return result;
  };

  const deleteHandlerDir = async (handler: InstalledHandler): Promise<void> => {
    const runtimeMount = handler.pkg.kind === 'tree' ? `${handler.dir}/runtime/${nodeArch()}/bin/node` : `${handler.dir}/runtime`;
    await sandbox.unbind(runtimeMount).catch(() => undefined);
    await sandbox.execOk(['rm', '-rf', '--one-file-system', handler.dir]);
  };

  const exitCodeText = (result: AgentCommandResult | undefined): string =>
    result === undefined ? 'NOT_RUN' : result.timedOut ? '1011' : String(result.exitCode);

  const upgrade = async (from: InstalledHandler, pkg: HandlerPackage, seq: number, settings: SettingsSpec): Promise<{ handler: InstalledHandler; results: AgentCommandResult[] }> => {
    const results: AgentCommandResult[] = [];
    // 0: set up the new version with the new settings.
    const handler = await setUp(pkg);
    await writeSettings(handler, seq, settings);
    // 1: old disable, only if the old one is enabled; it gets the new seq.
    let disable: AgentCommandResult | undefined;
    if ((await handlerState(from)) === 'Enabled') {
      disable = await runCommand(from, 'disable', seq);
      results.push(disable);
      if (disable.exitCode !== 0 && !(await continueOnUpdateFailure(handler))) return { handler, results };
      await setHandlerState(from, 'Installed');
    }
    // 2: the agent copies mrseq and every status file (not the settings).
    await sandbox.execOk(['sh', '-c', '[ -f "$1/mrseq" ] && cp -p "$1/mrseq" "$2/mrseq"; for f in "$1"/status/*; do [ -f "$f" ] && cp -p "$f" "$2/status/"; done; true', 'copy', from.dir, handler.dir]);
    // 3: new update (a downgrade would run the old one's update; not needed here).
    const update = await runCommand(handler, 'update', seq, {
      VERSION: pkg.version,
      AZURE_GUEST_AGENT_UPDATING_FROM_VERSION: from.version,
      AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE: exitCodeText(disable),
    });
    results.push(update);
    if (update.exitCode !== 0) {
      await setHandlerState(handler, 'FailedUpgrade');
      return { handler, results };
    }
    // 4-5: old uninstall, then the agent deletes the old directory.
    const uninstall = await runCommand(from, 'uninstall', seq);
    results.push(uninstall);
    if (uninstall.exitCode !== 0 && !(await continueOnUpdateFailure(handler))) return { handler, results };
    await deleteHandlerDir(from);
    // 6: new install (UpdateWithInstall), 7: new enable.
    const uninstallCode = { AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE: exitCodeText(uninstall) };
    const mode = await updateMode(handler);
    if (mode === 'updatewithinstall') {
      const installResult = await runCommand(handler, 'install', seq, uninstallCode);
      results.push(installResult);
      if (installResult.exitCode !== 0) return { handler, results };
    }
    await setHandlerState(handler, 'Installed');
    const enableResult = await runCommand(handler, 'enable', seq, uninstallCode);
    results.push(enableResult);
    if (enableResult.exitCode === 0) {
      await setHandlerState(handler, 'Enabled');
      await setHandlerStatus(handler, 'Ready', 'Plugin enabled');
    }
    return { handler, results };
  };

  const manifestOf = async (handler: InstalledHandler): Promise<Record<string, unknown>> => {
    const text = (await sandbox.readText(`${handler.dir}/HandlerManifest.json`)) ?? '[{}]';
    return (JSON.parse(text) as { handlerManifest?: Record<string, unknown> }[])[0]?.handlerManifest ?? {};
  };

  const continueOnUpdateFailure = async (handler: InstalledHandler): Promise<boolean> => {
    const value = (await manifestOf(handler))['continueOnUpdateFailure'];
    return value === true || (typeof value === 'string' && value.toLowerCase() === 'true');
  };

  const updateMode = async (handler: InstalledHandler): Promise<string> => {
    const value = (await manifestOf(handler))['updateMode'];
    return typeof value === 'string' ? value.toLowerCase() : 'updatewithinstall';
  };

  const disable = async (handler: InstalledHandler, seq: number): Promise<AgentCommandResult> => {
    const result = await runCommand(handler, 'disable', seq);
    if (result.exitCode === 0) {
      await setHandlerState(handler, 'Installed');
      await setHandlerStatus(handler, 'NotReady', 'Plugin disabled');
    }
    return result;
  };

  const remove = async (handler: InstalledHandler, seq: number): Promise<AgentCommandResult[]> => {
    const results: AgentCommandResult[] = [];
    if ((await handlerState(handler)) === 'Enabled') {
      const disable = await runCommand(handler, 'disable', seq);
      results.push(disable);
      if (disable.exitCode !== 0) return results; // the agent stops the removal
      await setHandlerState(handler, 'Installed');
    }
    results.push(await runCommand(handler, 'uninstall', seq)); // failure only goes to telemetry
    await deleteHandlerDir(handler);
    return results;
  };

  const statusPath = (handler: InstalledHandler, seq: number): string => `${handler.dir}/status/${seq}.status`;

  const readStatus = async (handler: InstalledHandler, seq: number): Promise<unknown> => {
    const text = await sandbox.readText(statusPath(handler, seq));
    return text === undefined ? undefined : (JSON.parse(text) as unknown);
  };

  const agentStatus = async (handler: InstalledHandler, seq: number): Promise<AgentReportedStatus> => {
    // Copy out through the sandbox (no host-side symlink following), then parse.
    const bytes = await sandbox.readFile(statusPath(handler, seq));
    if (bytes === undefined) throw new Error(`no status file ${statusPath(handler, seq)}`);
    const copy = path.join(sandbox.tempDir, `status-copy-${Date.now()}`, `${seq}.status`);
    await fs.mkdir(path.dirname(copy), { recursive: true });
    await fs.writeFile(copy, bytes);
    return assertAgentAcceptsStatus(copy, handler.version);
  };

  return {
    sandbox,
    thumbprint,
    history,
    setUp,
    writeSettings,
    runCommand,
    install,
    enable,
    upgrade,
    disable,
    remove,
    handlerState,
    statusPath,
    readStatus,
    agentStatus,
  };
}
