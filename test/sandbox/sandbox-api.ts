import type { SandboxSuite } from './rootfs.js';

/** The sandbox's API (types only); createSandbox in sandbox.ts builds one. */

export interface ExecOptions {
  /** Written to the program's standard input (secrets go here, never into argv). */
  input?: string | Uint8Array;
  /** Extra environment on top of PATH, HOME=/root, LC_ALL=C. */
  env?: Record<string, string>;
  /** Kill the program (SIGKILL, inside the sandbox) after this long. Default 60 s. */
  timeoutMs?: number;
  /** Working directory inside the sandbox. Default `/`. */
  cwd?: string;
  /** Use exactly `env` as the environment (no PATH/HOME/LC_ALL defaults). */
  bareEnv?: boolean;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface SshAuth {
  /** Private key path inside the sandbox. */
  identityFile?: string;
  /** Password, given to sshpass through its environment (never argv). */
  password?: string;
}

export interface GeneratedKey {
  /** Private key path inside the sandbox (root-owned, 0600). */
  privateKeyPath: string;
  /** The public key line, `type base64 comment`. */
  publicKey: string;
}

/**
 * How a sandbox runs: `sysv` has no init system (a shell is pid 1, sshd starts from
 * Debian's SysV script); `systemd` boots the root with systemd-nspawn, systemd as pid 1
 * and sshd under ssh.service as Debian enables it.
 */
export type SandboxInit = 'sysv' | 'systemd';

export interface SandboxOptions {
  /** Debian release of the root (default bookworm). */
  suite?: SandboxSuite;
  /** Init system (default `sysv`). */
  init?: SandboxInit;
  /** Create the admin user, its key, sudoers line and ovf-env.xml (default true). */
  provision?: boolean;
  /** Start sshd after provisioning (default true; needs provision or your own set-up). */
  startSshd?: boolean;
  /** Name of the provisioned admin user (default `azureadmin`). */
  adminUser?: string;
}

export interface SandboxAdmin {
  name: string;
  /** The admin's private key inside the sandbox. */
  privateKeyPath: string;
  publicKey: string;
}

export interface Sandbox {
  /**
   * Host path of the sandbox's root (`/proc/<init pid>/root`). Good for a quick look;
   * absolute symlinks inside resolve against the HOST root when followed from here,
   * so read and write through readFile/writeFile, which resolve inside the sandbox.
   */
  readonly root: string;
  /** Host pid of the sandbox's init (pid 1 inside). */
  readonly initPid: number;
  /** Host temp dir holding the overlay's upper and work dirs. */
  readonly tempDir: string;
  /** Set when the sandbox was provisioned. */
  readonly admin: SandboxAdmin | undefined;
  readonly suite: SandboxSuite;
  readonly init: SandboxInit;
  /** Run argv inside the sandbox as root; never throws on a non-zero exit. */
  exec(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Like exec, but throws (with the output) when the exit code is not 0. */
  execOk(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Run a shell script inside (bash -c), never throws on a non-zero exit. */
  sh(script: string, options?: ExecOptions): Promise<ExecResult>;
  /** Write a file inside the sandbox (parents created), as root, with mode (default 0644). */
  writeFile(pathInside: string, data: string | Uint8Array, mode?: number): Promise<void>;
  /** Bytes of a file inside the sandbox, or undefined when it does not exist. */
  readFile(pathInside: string): Promise<Buffer | undefined>;
  /** UTF-8 text of a file inside the sandbox, or undefined when it does not exist. */
  readText(pathInside: string): Promise<string | undefined>;
  /** Whether a path exists inside (lstat, symlinks not followed). */
  exists(pathInside: string): Promise<boolean>;
  /** Generate a key pair with ssh-keygen inside the sandbox, under /root/e2e-keys. */
  generateKey(name: string, type?: 'ed25519' | 'rsa' | 'ecdsa'): Promise<GeneratedKey>;
  /** Log in over SSH to 127.0.0.1:22 from inside the sandbox with the real client and run command. */
  ssh(user: string, auth: SshAuth, command: string, options?: { timeoutMs?: number; input?: string }): Promise<ExecResult>;
  /**
   * Start sshd: Debian's SysV script, or under systemd `systemctl start` of ssh.socket
   * when that is enabled, else ssh.service. Throws if it does not answer.
   */
  startSshd(): Promise<void>;
  /** Stop sshd (SysV script or `systemctl stop ssh.socket ssh.service`, then any leftover listener). */
  stopSshd(): Promise<void>;
  /**
   * True when 127.0.0.1:22 answers with an SSH banner (which starts a socket-activated
   * sshd) and, without an init system, an sshd process is alive.
   */
  sshdRunning(): Promise<boolean>;
  /** Pid (inside the sandbox) of the listening sshd, if any: stable across SIGHUP, new on restart. */
  sshdPid(): Promise<number | undefined>;
  /**
   * How many times sshd started listening since the sandbox started (starts, restarts and
   * SIGHUP reloads all log "Server listening"), from /var/log/sshd.log.
   */
  sshdListenCount(): Promise<number>;
  /** Bind-mount a host file or directory read-only at pathInside (created if missing). */
  bindHostPath(hostPath: string, pathInside: string): Promise<void>;
  /**
   * Power the container off cleanly (systemctl poweroff), stay down downMs, and boot it
   * again on the same overlay: files and paths lent by bindHostPath survive, processes do not. Only
   * for a sandbox booted with systemd. root and initPid change.
   */
  reboot(options?: { downMs?: number }): Promise<void>;
  /** Undo bindHostPath. */
  unbind(pathInside: string): Promise<void>;
  /**
   * Kill every process, detach loop devices the sandbox attached, drop its mounts and
   * remove its temp dir. Safe to call twice. With keep (or VMACCESS_SANDBOX_KEEP=1) it
   * prints how to enter and remove the sandbox instead.
   */
  destroy(options?: { keep?: boolean }): Promise<void>;
}
