import * as path from 'node:path';
import { parseOvfUserName } from '../../config/ovf-env.js';
import { isSafeUsername } from '../../config/passwd.js';
import { sudoersEntryUsers } from '../../config/sudoers.js';
import type { VmaccessRequest } from '../../settings/request.js';
import type { SystemPaths } from '../../system/paths.js';
import type { System } from '../../system/system.js';
import type { LoginTarget } from './login-path.js';

/**
 * Whose login a run must prove: the request's user, or, for a reset with no user named,
 * the people the rescue is for: every account in /etc/sudoers.d/waagent and the
 * provisioned admin.
 */

/** The accounts in /etc/sudoers.d/waagent, then the admin named in ovf-env.xml (only its UserName is kept). */
export async function rescueAccounts(system: System, paths: SystemPaths, agentLibDir: string): Promise<string[]> {
  const names: string[] = [];
  const add = (name: string | undefined): void => {
    if (name !== undefined && isSafeUsername(name) && !names.includes(name) && name !== 'root') names.push(name);
  };
  const sudoers = await system.readText(paths.sudoersFile);
  for (const line of (sudoers ?? '').split('\n')) for (const name of sudoersEntryUsers(line) ?? []) add(name);
  const ovf = await system.readText(path.posix.join(agentLibDir, 'ovf-env.xml'));
  if (ovf !== undefined) add(parseOvfUserName(ovf));
  return names;
}

/** The users whose way in this request should have opened, with how they are meant to get in. */
export async function targetsOf(request: VmaccessRequest, system: System, paths: SystemPaths, agentLibDir: string): Promise<LoginTarget[]> {
  const account = request.account;
  if (account !== undefined) {
    // `username` alone re-deploys the provisioning keys: a key is the way in then too.
    const key = account.sshKey !== undefined || account.password === undefined;
    return [{ user: account.username, means: { key, password: account.password !== undefined } }];
  }
  if (!request.resetSsh) return [];
  return (await rescueAccounts(system, paths, agentLibDir)).map((user) => ({ user }));
}
