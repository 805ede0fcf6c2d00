/**
 * One error type for everything the handler reports. `code` is stable (callers and
 * dashboards match on it) and has a fixed integer for the status file's `code`;
 * `message` is safe to put in a status file: it never carries a secret, a raw
 * command line or command output.
 */
export const ERROR_CODES = {
  // settings and request
  SETTINGS_MISSING: { status: 10, summary: 'the settings file for this sequence number does not exist' },
  SETTINGS_UNREADABLE: { status: 11, summary: 'the settings file cannot be read' },
  SETTINGS_NOT_JSON: { status: 12, summary: 'the settings file is not valid JSON of the expected shape' },
  SETTINGS_INVALID: { status: 13, summary: 'the settings break the documented rules' },
  PROTECTED_SETTINGS_CERT_MISSING: { status: 14, summary: 'the certificate for the protected settings is missing' },
  PROTECTED_SETTINGS_UNDECRYPTABLE: { status: 15, summary: 'the protected settings cannot be decrypted' },
  PROTECTED_SETTINGS_CONSUMED: { status: 16, summary: 'the protected settings were already used and scrubbed' },
  SETTINGS_EMPTY: { status: 17, summary: 'the settings file for this sequence number is empty' },
  SETTINGS_TOO_LARGE: { status: 18, summary: 'the settings are larger or nested deeper than any valid request' },
  // handler environment and runtime
  HANDLER_ENVIRONMENT_INVALID: { status: 20, summary: 'HandlerEnvironment.json is missing or malformed' },
  PREREQUISITE_MISSING: { status: 21, summary: 'a program the handler needs is missing' },
  ENABLE_BUSY: { status: 22, summary: 'another enable is still running' },
  INTERNAL: { status: 29, summary: 'an unexpected internal error' },
  // accounts
  USER_NOT_FOUND: { status: 30, summary: 'the account does not exist' },
  USER_PROTECTED: { status: 31, summary: 'the account must not be changed by this extension' },
  USER_NOT_LOCAL: { status: 32, summary: 'the account is not in the local account files' },
  USER_COMMAND_FAILED: { status: 33, summary: 'an account command failed' },
  SSH_KEY_INVALID: { status: 34, summary: 'an SSH public key cannot be parsed' },
  SSH_KEY_PATH_UNSAFE: { status: 35, summary: 'the authorized keys path is not safe to write' },
  NO_PROVISIONING_KEYS: { status: 36, summary: 'no SSH keys from provisioning were found' },
  SUDOERS_INVALID: { status: 37, summary: 'the candidate sudoers file was rejected by visudo' },
  SSH_KEY_EXPIRY_UNSUPPORTED: { status: 38, summary: "the VM's sshd is older than OpenSSH 8.2 and cannot expire a key by itself" },
  ACCESS_EXPIRY_FAILED: { status: 39, summary: 'time-limited access could not be recorded, scheduled or revoked' },
  // ssh server
  SSHD_NOT_FOUND: { status: 40, summary: 'the SSH server binary was not found' },
  SSHD_CONFIG_INVALID: { status: 41, summary: 'the SSH server rejected the candidate configuration' },
  SSHD_NOT_RUNNING: { status: 42, summary: 'the SSH server did not come back up' },
  SSHD_ROLLED_BACK: { status: 43, summary: 'the change was rolled back because the SSH server did not come back' },
  SSH_BACKUP_MISSING: { status: 44, summary: 'there is no backed-up SSH server configuration' },
  FIREWALL_FAILED: { status: 45, summary: 'the SSH port could not be opened in the firewall' },
  SSHD_PLAN_STALE: { status: 46, summary: 'an SSH server file changed between planning and applying the change' },
  // disks
  DISK_NOT_FOUND: { status: 50, summary: 'the disk cannot be resolved to one block device' },
  DISK_PROTECTED: { status: 51, summary: 'the disk is needed by the running system' },
  DISK_BUSY: { status: 52, summary: 'the filesystem is in use and cannot be unmounted' },
  DISK_CHECK_FAILED: { status: 53, summary: 'the disk check could not run' },
  DISK_REPAIR_FAILED: { status: 54, summary: 'the filesystem could not be repaired' },
  // login path
  LOGIN_PATH_BLOCKED: { status: 60, summary: 'the change was made, but something else still refuses the user a login' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface VmaccessErrorOptions {
  hint?: string;
  cause?: unknown;
}

export class VmaccessError extends Error {
  override readonly name = 'VmaccessError';
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: VmaccessErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
  }

  /** The text for a status file: the message and, when there is one, what to do about it. */
  get statusMessage(): string {
    return this.hint === undefined ? this.message : `${this.message} ${this.hint}`;
  }
}

export function isVmaccessError(error: unknown): error is VmaccessError {
  return error instanceof VmaccessError;
}

/** Node's errno code of an error, e.g. `ENOENT`, if it has one. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const { code } = error;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
