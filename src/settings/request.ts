/** The validated request: what enable was asked to do, in the handler's own terms. */

export interface AccountRequest {
  username: string;
  /** New password; empty strings never get here (they are ignored as documented). */
  password?: string;
  /** One or more public keys, as sent (several lines, SSH2 blocks or PEM allowed). */
  sshKey?: string;
  removePriorKeys: boolean;
  /** `yyyy-mm-dd`, already checked to be a real calendar date. */
  expiration?: string;
  /** Sudo without a password even though a password is set. */
  passwordless: boolean;
  /** Extension: the keys of this request stop working at this instant (ISO 8601 UTC, in the future). */
  keyExpiry?: string;
  /** Extension: what this request grants (a new account, sudo rights) is revoked after this many minutes. */
  accessMinutes?: number;
}

/** Extension: clear what keeps an existing account out, without changing its credentials. */
export interface UnlockRequest {
  username: string;
  /** Set this expiry (`yyyy-mm-dd`) instead of removing the account's expiry. */
  expiration?: string;
  /** Only used when the account's password is locked and there is no hash behind the lock. */
  password?: string;
}

export type DiskRequest = { mode: 'check' } | { mode: 'repair'; diskName: string };

export interface VmaccessRequest {
  account?: AccountRequest;
  removeUser?: string;
  resetSsh: boolean;
  restoreBackupSsh: boolean;
  disk?: DiskRequest;
  /** Read-only diagnosis of the login path (extension); combines with no other action. */
  diagnose?: { username?: string };
  unlock?: UnlockRequest;
  /** Things the caller should know but that did not stop the request (unknown keys, ignored values). */
  warnings: string[];
}

export function isEmptyRequest(request: VmaccessRequest): boolean {
  return (
    request.account === undefined &&
    request.removeUser === undefined &&
    !request.resetSsh &&
    !request.restoreBackupSsh &&
    request.disk === undefined &&
    request.diagnose === undefined &&
    request.unlock === undefined
  );
}
