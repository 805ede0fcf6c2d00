import * as path from 'node:path';
import { AGENT_LIB_DIR, type AgentSettings, type GuestAgent, type InstalledHandler } from '../test/sandbox/guest-agent.js';
import type { Sandbox } from '../test/sandbox/sandbox.js';

/**
 * Inputs of the floor scripts (bench/floor/*.sh): the protected settings blob as DER
 * (decoded here, untimed: the handler decodes base64 in-process), the certificate
 * pair, and the request's values in the environment; a password on stdin, as chpasswd
 * wants it.
 */

/** `npm run bench` runs from the repository root. */
export const FLOOR_DIR = path.resolve('bench', 'floor');
const BLOB = '/run/vmaccess-floor.der';

export async function floorInputs(sandbox: Sandbox, agent: GuestAgent, handler: InstalledHandler, settings: AgentSettings): Promise<{ env: Record<string, string>; input: string }> {
  const text = (await sandbox.readText(`${handler.dir}/config/0.settings`)) ?? '';
  const blob = (JSON.parse(text) as { runtimeSettings: { handlerSettings: { protectedSettings: string } }[] }).runtimeSettings[0]?.handlerSettings.protectedSettings ?? '';
  await sandbox.writeFile(BLOB, Buffer.from(blob, 'base64'), 0o600);
  const request = (settings.protectedSettings ?? {});
  const value = (name: string): string => (typeof request[name] === 'string' ? (request[name]) : '');
  return {
    env: {
      BLOB,
      CRT: `${AGENT_LIB_DIR}/${agent.thumbprint}.crt`,
      PRV: `${AGENT_LIB_DIR}/${agent.thumbprint}.prv`,
      VM_USER: value('username') || value('remove_user'),
      VM_KEY: value('ssh_key'),
    },
    input: value('password') === '' ? '' : `${value('username')}:${value('password')}\n`,
  };
}
