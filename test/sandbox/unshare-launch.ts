import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const sandboxDir = path.dirname(fileURLToPath(import.meta.url));
const START_TIMEOUT_MS = 30_000;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Child pids of a process (the init that `unshare --fork` started). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export /** Starts sandbox-init.sh as pid 1 of fresh namespaces (no init system inside). */
async function launchWithoutInit(lower: string, upper: string, work: string, merged: string): Promise<{ launcherPid: number; initPid: number }> {
  const launcher = spawn(
    'unshare',
    ['--mount', '--pid', '--net', '--uts', '--ipc', '--fork', '--kill-child', '--propagation', 'private', '--', '/bin/sh', path.join(sandboxDir, 'sandbox-init.sh'), lower, upper, work, merged],
    // Own session, so a kept sandbox outlives the test process.
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let output = '';
  const ready = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), START_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('ready\n')) {
        clearTimeout(timer);
        resolve(true);
      }
    };
    launcher.stdout.on('data', onData);
    launcher.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    launcher.on('exit', () => {
      clearTimeout(timer);
      resolve(false);
    });
    launcher.on('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  const launcherPid = launcher.pid;
  const isReady = await ready;
  const initPid = launcherPid === undefined ? undefined : childrenOf(launcherPid)[0];
  if (!isReady || initPid === undefined || launcherPid === undefined) {
    if (launcherPid !== undefined && isAlive(launcherPid)) process.kill(launcherPid, 'SIGKILL');
    throw new Error(`the sandbox did not start: ${output.trim()}`);
  }
  launcher.stdout.destroy();
  launcher.stderr.destroy();
  launcher.unref();
  return { launcherPid, initPid };
}


