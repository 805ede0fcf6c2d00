import { expect } from 'vitest';
import type { StepOutcome } from '../../src/actions/action.js';
import { emptyRequest, runActionInSandbox } from '../sandbox/index.js';
import type { Sandbox } from '../sandbox/index.js';
import { scenario } from './harness.js';

/**
 * Issue 12, items 1 and 2, attacked for real: the account being given a key is hostile
 * and races every request with its own process, swapping names in its home with
 * renameat2(RENAME_EXCHANGE) (perl's syscall(): perl-base is in every Debian root).
 * The handler's user action runs in the sandbox through the action runner, RUNS times
 * in one process. The attacker must win zero times.
 */

const RUNS = 200;
const ATTACK_SECONDS = 240;
const STOP_FILE = '/tmp/race-stop';

/** renameat2's syscall number and the swap loop prelude, shared by both attackers. */
const PERL_PRELUDE = `
use strict; use warnings; use POSIX ();
my $nr = (POSIX::uname())[4] eq 'aarch64' ? 276 : 316;
sub exchange { return syscall($nr, -100, $_[0], -100, $_[1], 2) == 0 }
my $end = time + ${ATTACK_SECONDS};
my $swaps = 0;
$| = 1;
`;

/**
 * Item 1: whenever the home exists and is the attacker's, keep a link to /root/.ssh
 * ready and exchange it with ~/.ssh the moment a real ~/.ssh appears.
 */
const HOME_ATTACKER = `${PERL_PRELUDE}
my ($home) = @ARGV;
while (!-e '${STOP_FILE}' && time < $end) {
  next unless -d $home && -o _;
  symlink('/root/.ssh', "$home/evil");
  $swaps++ if -d "$home/.ssh" && !-l "$home/.ssh" && exchange("$home/.ssh", "$home/evil");
}
print "$swaps\\n";
`;

/**
 * Item 2: exchange authorized_keys with, in turn, a link to /etc/shadow, a FIFO and a
 * link to /dev/zero, and straight back, as fast as possible.
 */
const FILE_ATTACKER = `${PERL_PRELUDE}
my ($dir) = @ARGV;
my @decoys = ("$dir/decoy-shadow", "$dir/decoy-fifo", "$dir/decoy-zero");
my $turn = 0;
while (!-e '${STOP_FILE}' && time < $end) {
  symlink('/etc/shadow', $decoys[0]) unless -l $decoys[0];
  POSIX::mkfifo($decoys[1], 0600) unless -e $decoys[1];
  symlink('/dev/zero', $decoys[2]) unless -l $decoys[2];
  my $decoy = $decoys[$turn++ % 3];
  next unless -f "$dir/authorized_keys" && !-l "$dir/authorized_keys";
  if (exchange("$dir/authorized_keys", $decoy)) { $swaps++; exchange("$dir/authorized_keys", $decoy); }
}
print "$swaps\\n";
`;

async function uidOf(sandbox: Sandbox, name: string): Promise<string> {
  return (await sandbox.execOk(['id', '-u', name])).stdout.trim();
}

/** Start the attacker as the account (not awaited: it runs until STOP_FILE or its deadline). */
function startAttacker(sandbox: Sandbox, uid: string, script: string, args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return sandbox.exec(['setpriv', '--reuid', uid, '--regid', uid, '--clear-groups', '--', 'perl', '-e', script, ...args], { timeoutMs: (ATTACK_SECONDS + 30) * 1000 });
}

async function stopAttacker(sandbox: Sandbox, attacker: Promise<{ exitCode: number; stdout: string; stderr: string }>): Promise<number> {
  await sandbox.execOk(['touch', STOP_FILE]);
  const result = await attacker;
  expect(result.exitCode, result.stderr).toBe(0);
  return Number(result.stdout.trim());
}

/** sha256, owner and mode of everything under /root/.ssh, and the listing itself. */
async function rootSshState(sandbox: Sandbox): Promise<string> {
  return (await sandbox.execOk(['sh', '-c', 'cd /root/.ssh && ls -la --time-style=+ . | sed 1d && sha256sum -- * 2>/dev/null; true'])).stdout;
}

/** Files the account owns outside its home (anything it could have been given by root). */
async function accountFilesOutside(sandbox: Sandbox, name: string, home: string): Promise<string[]> {
  const found = await sandbox.exec(['find', '/', '-xdev', '(', '-path', '/proc', '-o', '-path', home, '-o', '-path', '/root/race-trash', ')', '-prune', '-o', '-user', name, '-print']);
  return found.stdout.split('\n').filter((line) => line !== '');
}

function keySteps(outcomes: StepOutcome[]): StepOutcome[] {
  return outcomes.filter((outcome) => outcome.name === 'ssh_key');
}

function tally(steps: StepOutcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const step of steps) {
    const key = step.code === undefined ? step.result : `${step.result}:${step.code}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

scenario(
  `no home yet (plain useradd): ${RUNS} key requests while the account swaps ~/.ssh for a link to /root/.ssh; root's keys untouched`,
  async ({ sandbox, proof }) => {
    const rootKey = await sandbox.generateKey('root-race', 'ed25519');
    await sandbox.writeFile('/root/.ssh/authorized_keys', `${rootKey.publicKey}\n`, 0o600);
    await sandbox.execOk(['chmod', '700', '/root/.ssh']);
    const mallory = await sandbox.generateKey('mallory', 'ed25519');
    await sandbox.execOk(['useradd', '--no-create-home', '--shell', '/bin/bash', 'mallory']);
    const uid = await uidOf(sandbox, 'mallory');
    const before = await rootSshState(sandbox);

    const attacker = startAttacker(sandbox, uid, HOME_ATTACKER, ['/home/mallory']);
    // Each run starts without a home: it is moved into a directory the account cannot reach, then removed.
    const reset = 'mkdir -p -m 700 /root/race-trash; if [ -e /home/mallory ]; then mv /home/mallory /root/race-trash/$(date +%s%N); fi; rm -rf /root/race-trash/*; true';
    const run = await runActionInSandbox(sandbox, emptyRequest({ account: { username: 'mallory', sshKey: mallory.publicKey, removePriorKeys: false, passwordless: false } }), {
      repeat: RUNS,
      between: ['sh', '-c', reset],
      timeoutMs: 240_000,
    });
    const swaps = await stopAttacker(sandbox, attacker);
    const steps = keySteps(run.outcomes);
    expect(steps).toHaveLength(RUNS);
    expect(swaps, 'the attacker never got to swap: the test proves nothing').toBeGreaterThan(0);

    expect(await rootSshState(sandbox)).toBe(before);
    expect(await accountFilesOutside(sandbox, 'mallory', '/home/mallory')).toEqual([]);
    const failedOther = steps.filter((step) => step.result === 'failed' && step.code !== 'SSH_KEY_PATH_UNSAFE');
    expect(failedOther, JSON.stringify(failedOther.slice(0, 3))).toEqual([]);
    proof(`${RUNS} runs vs ${swaps} ~/.ssh exchanges: ${JSON.stringify(tally(steps))}; /root/.ssh unchanged, no mallory file outside the home`);

    // Without the attacker the same request works and the key logs in.
    await sandbox.exec(['sh', '-c', reset]);
    const calm = await runActionInSandbox(sandbox, emptyRequest({ account: { username: 'mallory', sshKey: mallory.publicKey, removePriorKeys: false, passwordless: false } }));
    expect(keySteps(calm.outcomes)[0]?.result, JSON.stringify(calm.outcomes)).toBe('changed');
    expect((await sandbox.ssh('mallory', { identityFile: mallory.privateKeyPath }, 'id -un')).stdout).toBe('mallory\n');
    proof('unraced: home made, key login as mallory');
  },
  { timeoutMs: 420_000 },
);

scenario(
  `${RUNS} key requests while the account exchanges authorized_keys with links to /etc/shadow and /dev/zero and a FIFO: no secret read, no hang`,
  async ({ sandbox, proof }) => {
    // A recognisable secret in root's shadow line.
    await sandbox.execOk(['usermod', '-p', '$6$racetest$SecretRootHashForTheRaceTestOnly0123456789', 'root']);
    const shadowRoot = ((await sandbox.readText('/etc/shadow')) ?? '').split('\n').find((line) => line.startsWith('root:')) ?? '';
    expect(shadowRoot).toContain('SecretRootHash');
    const mallory = await sandbox.generateKey('mallory', 'ed25519');
    const other = await sandbox.generateKey('mallory-second', 'ed25519');
    await sandbox.execOk(['useradd', '--create-home', '--shell', '/bin/bash', 'mallory']);
    const uid = await uidOf(sandbox, 'mallory');
    await sandbox.execOk(['setpriv', '--reuid', uid, '--regid', uid, '--clear-groups', '--', 'sh', '-c', 'umask 077; mkdir -p /home/mallory/.ssh && cat > /home/mallory/.ssh/authorized_keys'], {
      input: `${mallory.publicKey}\n# a line vmaccess keeps byte for byte\n`,
    });

    const attacker = startAttacker(sandbox, uid, FILE_ATTACKER, ['/home/mallory/.ssh']);
    // The two keys in turn, one removing the other: every run reads and rewrites the file.
    const started = Date.now();
    const runs: StepOutcome[] = [];
    for (const [index, key] of [mallory, other].entries()) {
      const run = await runActionInSandbox(sandbox, emptyRequest({ account: { username: 'mallory', sshKey: key.publicKey, removePriorKeys: index === 1, passwordless: false } }), {
        repeat: RUNS / 2,
        timeoutMs: 240_000,
      });
      runs.push(...keySteps(run.outcomes));
    }
    const seconds = (Date.now() - started) / 1000;
    const swaps = await stopAttacker(sandbox, attacker);
    expect(runs).toHaveLength(RUNS);
    expect(swaps, 'the attacker never got to swap: the test proves nothing').toBeGreaterThan(0);

    const leaked = await sandbox.exec(['sh', '-c', 'find / -xdev -path /proc -prune -o -user mallory -type f -print0 | xargs -0r grep -lF -- "$1"; true', 'leak', 'SecretRootHash']);
    expect(leaked.stdout.trim(), 'root shadow line in a file the account owns').toBe('');
    expect(await accountFilesOutside(sandbox, 'mallory', '/home/mallory')).toEqual([]);
    const failedOther = runs.filter((step) => step.result === 'failed' && step.code !== 'SSH_KEY_PATH_UNSAFE');
    expect(failedOther, JSON.stringify(failedOther.slice(0, 3))).toEqual([]);
    proof(`${RUNS} runs in ${seconds.toFixed(0)} s vs ${swaps} exchanges: ${JSON.stringify(tally(runs))}; no shadow line in any mallory file, none outside the home`);
  },
  { timeoutMs: 420_000 },
);
