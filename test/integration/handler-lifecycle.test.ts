import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTestCertificate, encryptProtectedSettings, type TestCertificate } from '../helpers/agent-crypto.js';
import { handlerEnvironmentText, settingsDocument } from '../helpers/agent-files.js';
import { statusContractViolations } from '../helpers/status-contract.js';

/**
 * The real handler entries, started the way the guest agent starts them: the
 * manifest's command through /bin/sh -c, cwd the handler directory, the agent's
 * variables, in a handler directory laid out as the agent lays it out. Only
 * requests that change nothing on the machine are used here: this is the
 * developer's machine, not a throwaway root.
 */

const repo = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
const NAME = 'Microsoft.OSTCExtensions.VMAccessForLinux';
const VERSION = '1.6.0';
const SECRET = 'Integration-Secret-9f3b';

let base: string;
let libDir: string;
let handlerDir: string;
let logFolder: string;
let certificate: TestCertificate;

function manifestCommand(operation: string): string {
  const manifest = JSON.parse(readFileSync(path.join(handlerDir, 'HandlerManifest.json'), 'utf8')) as [{ handlerManifest: Record<string, string> }];
  const command = manifest[0].handlerManifest[`${operation}Command`];
  if (command === undefined) throw new Error(`no ${operation}Command`);
  // The agent strips a leading slash and prefixes the handler directory.
  return path.join(handlerDir, command.replace(/^\/+/, ''));
}

async function agentRuns(operation: string, seq: number, extra: Record<string, string> = {}) {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    ConfigSequenceNumber: String(seq),
    AZURE_GUEST_AGENT_EXTENSION_PATH: handlerDir,
    AZURE_GUEST_AGENT_EXTENSION_VERSION: VERSION,
    AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS: '168.63.129.16',
    AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES: '[{"Key": "ExtensionTelemetryPipeline", "Value": "1.0"}]',
    AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE: 'NOT_RUN',
    ...extra,
  };
  try {
    const { stdout, stderr } = await run('/bin/sh', ['-c', manifestCommand(operation)], { cwd: handlerDir, env, timeout: 300_000 });
    return { exitCode: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { exitCode: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

function writeAgentSettings(seq: number, publicSettings: unknown, protectedSettings: unknown): void {
  const blob = protectedSettings === null ? null : encryptProtectedSettings(certificate, protectedSettings, seq % 2 === 0 ? 'aes256' : 'des3');
  writeFileSync(path.join(handlerDir, 'config', `${seq}.settings`), settingsDocument(publicSettings, blob, blob === null ? null : certificate.thumbprint));
}

function status(seq: number): { text: string; parsed: { status: { status: string; formattedMessage: { message: string } } }[] } {
  const text = readFileSync(path.join(handlerDir, 'status', `${seq}.status`), 'utf8');
  return { text, parsed: JSON.parse(text) as { status: { status: string; formattedMessage: { message: string } } }[] };
}

beforeAll(() => {
  base = mkdtempSync(path.join(tmpdir(), 'vmaccess-agent-'));
  libDir = path.join(base, 'waagent');
  handlerDir = path.join(libDir, `${NAME}-${VERSION}`);
  logFolder = path.join(base, 'log', NAME);
  mkdirSync(handlerDir, { recursive: true });
  for (const entry of ['HandlerManifest.json', 'handlers', 'resources', 'dist/app']) {
    if (existsSync(path.join(repo, entry))) cpSync(path.join(repo, entry), path.join(handlerDir, entry), { recursive: true });
  }
  mkdirSync(path.join(handlerDir, 'config'), { mode: 0o700 });
  mkdirSync(path.join(handlerDir, 'status'), { mode: 0o700 });
  mkdirSync(path.join(logFolder, 'events'), { recursive: true, mode: 0o700 });
  writeFileSync(path.join(handlerDir, 'HandlerEnvironment.json'), handlerEnvironmentText(handlerDir, logFolder, NAME));
  certificate = createTestCertificate(libDir);
});

afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('the handler as the guest agent runs it', () => {
  test('install checks prerequisites and succeeds here', async () => {
    const result = await agentRuns('install', 0);
    expect(result.stdout).toContain('install: prerequisites present');
    expect(result.exitCode).toBe(0);
  });

  test('enable decrypts real CMS protected settings, reports success, scrubs the secret, records mrseq', async () => {
    writeAgentSettings(1, { check_disk: 'false' }, { reset_ssh: false, restore_backup_ssh: 'false', unused_secret: SECRET });
    const result = await agentRuns('enable', 1);
    expect(result.exitCode).toBe(0);
    const { text, parsed } = status(1);
    expect(statusContractViolations(text)).toEqual([]);
    expect(parsed[0]?.status.status).toBe('success');
    expect(readFileSync(path.join(handlerDir, 'mrseq'), 'utf8')).toBe('1');
    const settings = readFileSync(path.join(handlerDir, 'config', '1.settings'), 'utf8');
    expect(JSON.parse(settings)).toMatchObject({ runtimeSettings: [{ handlerSettings: { protectedSettingsCertThumbprint: certificate.thumbprint } }] });
    expect(settings).toContain('REDACTED');
  });

  test('an invalid request gives an error status and a non-zero exit, with no secret anywhere', async () => {
    writeAgentSettings(2, {}, { password: SECRET });
    const result = await agentRuns('enable', 2);
    expect(result.exitCode).not.toBe(0);
    const { text, parsed } = status(2);
    expect(statusContractViolations(text)).toEqual([]);
    expect(parsed[0]?.status.status).toBe('error');
    expect(parsed[0]?.status.formattedMessage.message).toContain('[SETTINGS_INVALID]');
    expect(parsed[0]?.status.formattedMessage.message).toContain('protectedSettings.password: needs username');
    for (const output of [text, result.stdout, result.stderr, readFileSync(path.join(logFolder, 'extension.log'), 'utf8')]) {
      expect(output).not.toContain(SECRET);
    }
    expect(Buffer.byteLength(result.stdout + result.stderr)).toBeLessThan(3200);
  });

  test('enable with an already applied sequence number changes nothing', async () => {
    writeAgentSettings(1, { check_disk: 'false' }, { reset_ssh: false, restore_backup_ssh: 'false', unused_secret: SECRET });
    const before = status(1).text;
    const result = await agentRuns('enable', 1);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('already applied');
    expect(status(1).text).toBe(before);
  });

  test('telemetry events land in the events folder under numeric names', () => {
    const names = readdirSync(path.join(logFolder, 'events'));
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(name).toMatch(/^\d+\.json$/);
    expect(readdirSync(logFolder).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  test('disable, update and uninstall succeed without a settings file for their seq', async () => {
    for (const operation of ['disable', 'update', 'uninstall']) {
      const result = await agentRuns(operation, 77, { VERSION, AZURE_GUEST_AGENT_UPDATING_FROM_VERSION: '1.5.25', AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE: 'NOT_RUN' });
      expect(result.exitCode, `${operation}: ${result.stderr}`).toBe(0);
    }
    expect(existsSync(path.join(handlerDir, 'status', '77.status'))).toBe(false);
  });

  test('enable without HandlerEnvironment.json still writes an error status', async () => {
    const saved = readFileSync(path.join(handlerDir, 'HandlerEnvironment.json'));
    rmSync(path.join(handlerDir, 'HandlerEnvironment.json'));
    try {
      const result = await agentRuns('enable', 3);
      expect(result.exitCode).not.toBe(0);
      const { text, parsed } = status(3);
      expect(statusContractViolations(text)).toEqual([]);
      expect(parsed[0]?.status.formattedMessage.message).toContain('[HANDLER_ENVIRONMENT_INVALID]');
    } finally {
      writeFileSync(path.join(handlerDir, 'HandlerEnvironment.json'), saved);
    }
  });
});
