import * as path from 'node:path';
import { COMMAND_PATH } from '../system/paths.js';
import type { System } from '../system/system.js';
import type { Invocation, Runtime } from './runtime.js';

/**
 * install: check that the machine has what the handler needs. Only openssl is
 * required by every enable (protected settings); tools for single actions are
 * reported so a missing one is known before a user depends on it.
 */

export const REQUIRED_TOOLS = ['openssl'] as const;
export const TOOLS_BY_ACTION: Record<string, readonly string[]> = {
  accounts: ['useradd', 'usermod', 'userdel', 'chpasswd', 'chage', 'visudo', 'getent', 'setpriv'],
  'ssh server': ['sshd', 'ssh-keygen'],
  disks: ['blkid', 'mount', 'umount', 'e2fsck', 'dumpe2fs'],
};
const MINIMUM_NODE_MAJOR = 20;

export async function findTool(system: System, name: string): Promise<string | undefined> {
  for (const dir of COMMAND_PATH.split(':')) {
    const candidate = path.join(dir, name);
    const info = await system.stat(candidate);
    if (info?.type === 'file' && (info.mode & 0o111) !== 0) return candidate;
  }
  return undefined;
}

export interface PrerequisiteReport {
  missingRequired: string[];
  missingByAction: Record<string, string[]>;
  nodeVersion: string;
  isNodeSupported: boolean;
}

export async function checkPrerequisites(system: System, nodeVersion: string): Promise<PrerequisiteReport> {
  const missingRequired: string[] = [];
  for (const tool of REQUIRED_TOOLS) if ((await findTool(system, tool)) === undefined) missingRequired.push(tool);
  const missingByAction: Record<string, string[]> = {};
  for (const [action, tools] of Object.entries(TOOLS_BY_ACTION)) {
    const missing: string[] = [];
    for (const tool of tools) if ((await findTool(system, tool)) === undefined) missing.push(tool);
    if (missing.length > 0) missingByAction[action] = missing;
  }
  const major = Number(/^v?(\d+)/.exec(nodeVersion)?.[1] ?? '0');
  return { missingRequired, missingByAction, nodeVersion, isNodeSupported: major >= MINIMUM_NODE_MAJOR };
}

export async function install(runtime: Runtime, invocation: Invocation, nodeVersion: string): Promise<number> {
  const report = await checkPrerequisites(runtime.system, nodeVersion);
  runtime.logger.info({ report }, 'install prerequisites checked');
  for (const [action, missing] of Object.entries(report.missingByAction)) {
    runtime.print(`warning: ${action} will not work until these are installed: ${missing.join(', ')}`);
  }
  const problems: string[] = [];
  if (!report.isNodeSupported) problems.push(`Node.js ${report.nodeVersion} is older than ${MINIMUM_NODE_MAJOR}`);
  if (report.missingRequired.length > 0) problems.push(`missing required programs: ${report.missingRequired.join(', ')}`);
  const message = problems.length === 0 ? 'install: prerequisites present' : `install failed: ${problems.join('; ')}`;
  runtime.print(message);
  await invocation.events.emit({ taskName: 'Install', level: problems.length === 0 ? 'Informational' : 'Error', message });
  return problems.length === 0 ? 0 : 1;
}
