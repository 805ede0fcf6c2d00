import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { sandboxCacheDir } from './rootfs.js';
import { HANDLER_NAME } from './handler-package.js';

const sandboxDir = path.dirname(fileURLToPath(import.meta.url));
const STEP_TIMEOUT_MS = 120_000;

/** What the guest agent would send upstream for one status file. */
export interface AgentReportedStatus {
  status: string | null;
  code: number | string | null;
  operation: string | null;
  message: string | null;
  configurationAppliedTime: string | null;
  substatus: { name: string | null; status: string | null; code: number | string | null; message: string | null }[];
}

export interface AgentStatusReading {
  /** Errors the agent's parser raised, or limits the file breaks. Empty when accepted. */
  problems: string[];
  agentVersion: string;
  reported: AgentReportedStatus | null;
}

function python(): string {
  // Debian's own interpreter first: the agent package is built for it.
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

/**
 * Debian's `waagent` package, downloaded with apt and unpacked with dpkg -x into the
 * cache (never installed, never started). Returns the directory holding `azurelinuxagent`.
 */
export async function ensureAgentModules(): Promise<string> {
  const base = path.join(sandboxCacheDir(), 'waagent');
  const modules = path.join(base, 'root/usr/lib/python3/dist-packages');
  if (existsSync(path.join(modules, 'azurelinuxagent/ga/exthandlers.py'))) return modules;
  await fs.mkdir(base, { recursive: true });
  const script = [
    'set -e',
    'cd "$1"',
    '[ -d root/usr/lib/python3/dist-packages/azurelinuxagent ] && exit 0',
    'rm -f waagent_*.deb',
    // An apt without package lists (a fresh machine) cannot download: refresh once.
    'apt-get download -qq waagent 2>/dev/null || { apt-get update -qq && apt-get download -qq waagent; }',
    'rm -rf root.tmp && dpkg -x waagent_*.deb root.tmp && mv -T root.tmp root',
  ].join('\n');
  const result = await execa('flock', ['-w', '600', path.join(base, '.lock'), 'sh', '-c', script, 'fetch', base], {
    reject: false,
    timeout: STEP_TIMEOUT_MS * 5,
    all: true,
  });
  if (result.exitCode !== 0 || !existsSync(modules)) {
    throw new Error(`fetching the guest agent package failed: ${String(result.all ?? '').slice(-2000)}`);
  }
  return modules;
}

/**
 * Reads a status file (host path, named `<seq>.status`) with the real agent's
 * collect_ext_status / parse_ext_status.
 */
export async function readStatusWithAgent(hostPath: string, handlerVersion = '1.0.0', handlerName = HANDLER_NAME): Promise<AgentStatusReading> {
  const modules = await ensureAgentModules();
  const result = await execa(python(), [path.join(sandboxDir, 'agent-status.py'), modules, hostPath, handlerName, handlerVersion], {
    reject: false,
    timeout: STEP_TIMEOUT_MS,
    env: { PYTHONDONTWRITEBYTECODE: '1' },
  });
  if (result.exitCode !== 0) throw new Error(`the agent's status parser crashed: ${result.stderr.slice(-3000)}`);
  const lastLine = result.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(lastLine) as AgentStatusReading;
}

/**
 * Throws unless the real agent parses the status file without error, the file stays
 * within the agent's limits, and the status value is one the agent passes through.
 * Returns what the agent would report.
 */
export async function assertAgentAcceptsStatus(hostPath: string, handlerVersion?: string): Promise<AgentReportedStatus> {
  const reading = await readStatusWithAgent(hostPath, handlerVersion);
  if (reading.problems.length > 0 || reading.reported === null) {
    throw new Error(`guest agent ${reading.agentVersion} rejects ${hostPath}: ${reading.problems.join('; ') || 'nothing reported'}`);
  }
  return reading.reported;
}
