/**
 * One error type for everything the handler reports. `code` is stable (callers and
 * dashboards match on it); `message` is safe to put in a status file: it never
 * carries a secret, a raw command line or command output.
 */
export const ERROR_CODES = {
  // settings and request
  SETTINGS_MISSING: 'the settings file for this sequence number does not exist',
  SETTINGS_UNREADABLE: 'the settings file cannot be read',
  SETTINGS_NOT_JSON: 'the settings file is not valid JSON of the expected shape',
  SETTINGS_INVALID: 'the settings break the documented rules',
  PROTECTED_SETTINGS_CERT_MISSING: 'the certificate for the protected settings is missing',
  PROTECTED_SETTINGS_UNDECRYPTABLE: 'the protected settings cannot be decrypted',
  PROTECTED_SETTINGS_CONSUMED: 'the protected settings were already used and scrubbed',
  // handler environment and runtime
  HANDLER_ENVIRONMENT_INVALID: 'HandlerEnvironment.json is missing or malformed',
  PREREQUISITE_MISSING: 'a program the handler needs is missing',
  ENABLE_BUSY: 'another enable is still running',
  INTERNAL: 'an unexpected internal error',
  // accounts
  USER_NOT_FOUND: 'the account does not exist',
  USER_PROTECTED: 'the account must not be changed by this extension',
  USER_NOT_LOCAL: 'the account is not in the local account files',
  USER_COMMAND_FAILED: 'an account command failed',
  SSH_KEY_INVALID: 'an SSH public key cannot be parsed',
  SSH_KEY_PATH_UNSAFE: 'the authorized keys path is not safe to write',
  NO_PROVISIONING_KEYS: 'no SSH keys from provisioning were found',
  SUDOERS_INVALID: 'the candidate sudoers file was rejected by visudo',
  // ssh server
  SSHD_NOT_FOUND: 'the SSH server binary was not found',
  SSHD_CONFIG_INVALID: 'the SSH server rejected the candidate configuration',
  SSHD_NOT_RUNNING: 'the SSH server did not come back up',
  SSHD_ROLLED_BACK: 'the change was rolled back because the SSH server did not come back',
  SSH_BACKUP_MISSING: 'there is no backed-up SSH server configuration',
  FIREWALL_FAILED: 'the SSH port could not be opened in the firewall',
  // disks
  DISK_NOT_FOUND: 'the disk cannot be resolved to one block device',
  DISK_PROTECTED: 'the disk is needed by the running system',
  DISK_BUSY: 'the filesystem is in use and cannot be unmounted',
  DISK_CHECK_FAILED: 'the disk check could not run',
  DISK_REPAIR_FAILED: 'the filesystem could not be repaired',
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
