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
    request.diagnose === undefined
  );
}
