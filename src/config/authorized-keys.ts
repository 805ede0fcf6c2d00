import { authorizedKeyLineIdentity, expiryOptionOf, formatAuthorizedKey, keyIdentity, tryParseAuthorizedKeyLine, withExpiryOption } from './ssh-public-key/index.js';
import type { SshPublicKey } from './ssh-public-key/index.js';

/**
 * authorized_keys as text. Keys are identified by their blob (plus whether the line is a
 * cert-authority line), so a key already present under another comment or with options
 * is not added twice. Lines we do not understand are kept byte for byte: sshd skips
 * them, and they may be something the owner wants (comments, newer key types).
 */

export interface AuthorizedKeysMerge {
  text: string;
  changed: boolean;
  /** Keys written that were not there before. */
  added: SshPublicKey[];
  /** Requested keys that were already there (or repeated in the request). */
  alreadyPresent: SshPublicKey[];
  /** Key lines dropped by remove_prior_keys. */
  removed: number;
  /** Keys already there whose line took the request's expiry-time (its other options kept). */
  expiryUpdated: SshPublicKey[];
}

/** Blob identities of every key line in an authorized_keys text. */
export function authorizedKeyIdentities(text: string): Set<string> {
  const identities = new Set<string>();
  for (const line of text.split('\n')) {
    const identity = authorizedKeyLineIdentity(line);
    if (identity !== undefined) identities.add(identity);
  }
  return identities;
}

/**
 * Add keys to an authorized_keys text (append, de-duplicated), or with `replace` make
 * them the only keys. The result always ends with a newline when it holds anything we
 * wrote, so a file that lacked one does not get two keys glued into one line.
 */
export function mergeAuthorizedKeys(existing: string | undefined, keys: readonly SshPublicKey[], options: { replace: boolean }): AuthorizedKeysMerge {
  const before = existing ?? '';
  const added: SshPublicKey[] = [];
  const alreadyPresent: SshPublicKey[] = [];

  if (options.replace) {
    const seen = new Set<string>();
    const lines: string[] = [];
    const previous = authorizedKeyIdentities(before);
    for (const key of keys) {
      const identity = keyIdentity(key);
      if (seen.has(identity)) {
        alreadyPresent.push(key);
        continue;
      }
      seen.add(identity);
      lines.push(formatAuthorizedKey(key));
      (previous.has(identity) ? alreadyPresent : added).push(key);
    }
    const removed = [...previous].filter((identity) => !seen.has(identity)).length;
    const text = lines.length === 0 ? '' : `${lines.join('\n')}\n`;
    return { text, changed: text !== before, added, alreadyPresent, removed, expiryUpdated: [] };
  }

  const present = authorizedKeyIdentities(before);
  const newLines: string[] = [];
  for (const key of keys) {
    const identity = keyIdentity(key);
    if (present.has(identity)) {
      alreadyPresent.push(key);
      continue;
    }
    present.add(identity);
    newLines.push(formatAuthorizedKey(key));
    added.push(key);
  }
  const { text: kept, updated: expiryUpdated } = refreshExpiry(before, alreadyPresent);
  if (newLines.length === 0) return { text: kept, changed: kept !== before, added, alreadyPresent, removed: 0, expiryUpdated };
  const separator = kept === '' || kept.endsWith('\n') ? '' : '\n';
  const text = `${kept}${separator}${newLines.join('\n')}\n`;
  return { text, changed: true, added, alreadyPresent, removed: 0, expiryUpdated };
}

/**
 * A requested key with an expiry-time that is already in the file: its line takes that
 * expiry (replacing one it had) and keeps its other options and comment, so the request's
 * "this key ends at T" holds for it too. Keys requested without expiry leave lines alone.
 */
function refreshExpiry(text: string, present: readonly SshPublicKey[]): { text: string; updated: SshPublicKey[] } {
  const wanted = new Map<string, { key: SshPublicKey; expiry: string }>();
  for (const key of present) {
    const expiry = expiryOptionOf(key.options);
    if (expiry !== undefined) wanted.set(keyIdentity(key), { key, expiry });
  }
  if (wanted.size === 0) return { text, updated: [] };
  const updated = new Set<SshPublicKey>();
  const lines = text.split('\n').map((line) => {
    const identity = authorizedKeyLineIdentity(line);
    const want = identity === undefined ? undefined : wanted.get(identity);
    const parsed = want === undefined ? undefined : tryParseAuthorizedKeyLine(line);
    if (want === undefined || parsed === undefined || expiryOptionOf(parsed.options) === want.expiry) return line;
    updated.add(want.key);
    return formatAuthorizedKey({ ...parsed, options: withExpiryOption(parsed.options, want.expiry) });
  });
  return { text: lines.join('\n'), updated: [...updated] };
}
