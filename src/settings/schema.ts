import * as z from 'zod';
import { VmaccessError } from '../errors.js';
import type { AccountRequest, DiskRequest, UnlockRequest, VmaccessRequest } from './request.js';

// One parse per process: zod's generated fast paths (new Function) cost more to build than they save.
z.config({ jitless: true });

/**
 * The settings contract (../shared/docs/vmaccess-settings.md) as one zod schema.
 * Public and protected settings are merged first; each field remembers which
 * section it came from so errors can name it. Error texts never contain values:
 * any string here may be a password.
 */

export const PUBLIC_FIELDS = ['check_disk', 'repair_disk', 'disk_name', 'diagnose'] as const;
export const PROTECTED_FIELDS = [
  'username',
  'password',
  'ssh_key',
  'reset_ssh',
  'remove_user',
  'expiration',
  'remove_prior_keys',
  'restore_backup_ssh',
  'enable_passwordless_access',
  // Extensions beyond the original extension's contract (README, "Settings").
  'unlock',
  'ssh_key_expiry',
  'access_minutes',
] as const;
const KNOWN_FIELDS: readonly string[] = [...PUBLIC_FIELDS, ...PROTECTED_FIELDS];
/** Fields that must never travel in the clear. */
const SECRET_FIELDS = new Set(['password']);

export type SettingsSection = 'publicSettings' | 'protectedSettings';

const LOGIN_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*\$?$/;
const LOGIN_NAME_MAX = 32;
const loginNameProblem =
  'must be a login name of 1-32 characters: letters, digits, "_", "-" or "." (a trailing "$" is allowed), starting with a letter or "_"';

const booleanProblem = 'must be true or false (a JSON boolean or the string "true" or "false")';
const flexibleBoolean = z
  .union([z.boolean(), z.string().regex(/^(true|false)$/i, { error: booleanProblem })], { error: booleanProblem })
  .transform((value) => (typeof value === 'boolean' ? value : value.toLowerCase() === 'true'));

const text = (what: string) => z.string({ error: `must be a string (${what})` });

const loginName = text('a login name')
  .max(LOGIN_NAME_MAX, { error: loginNameProblem })
  .regex(LOGIN_NAME, { error: loginNameProblem })
  .refine((name) => name !== '.' && name !== '..' && !/^\d+\$?$/.test(name), { error: loginNameProblem });

/** chpasswd reads `name:password` lines: a line break would smuggle in a second account. */
const password = text('the new password')
  .max(1024, { error: 'must be at most 1024 characters' })
  .refine((value) => !/[\r\n\0]/.test(value), { error: 'must not contain line breaks or NUL characters' });

const sshKey = text('one or more public keys').max(256 * 1024, { error: 'must be at most 256 KiB' });

const diskName = text('a device, mount point, UUID= or LABEL=')
  .max(1024, { error: 'must be at most 1024 characters' })
  .refine((value) => !/\p{Cc}/u.test(value), { error: 'must not contain control characters' });

/** ISO 8601 in UTC with seconds: `2026-12-24T18:00:00Z` (fractions allowed, `Z` required). */
const KEY_EXPIRY = /^(\d{4}-\d{2}-\d{2})T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?Z$/;

function isUtcInstant(value: string): boolean {
  const match = KEY_EXPIRY.exec(value);
  return match !== null && isCalendarDate(match[1]!) && !Number.isNaN(Date.parse(value));
}

const minutesProblem = 'must be a whole number of minutes';
/** A JSON integer, or its decimal digits as a string (the portal sends strings). */
const accessMinutes = z
  .union([z.number({ error: minutesProblem }).int({ error: minutesProblem }), z.string({ error: minutesProblem }).regex(/^\d{1,6}$/, { error: minutesProblem })], { error: minutesProblem })
  .transform((value) => Number(value))
  .refine((value) => value >= 5 && value <= 10_080, { error: 'must be between 5 and 10080 minutes (one week)' });

function isCalendarDate(value: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (match === null) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

const fieldsSchema = z.object({
  check_disk: flexibleBoolean.optional(),
  repair_disk: flexibleBoolean.optional(),
  disk_name: diskName.optional(),
  diagnose: flexibleBoolean.optional(),
  username: z.union([z.literal(''), loginName], { error: loginNameProblem }).optional(),
  password: password.optional(),
  ssh_key: sshKey.optional(),
  reset_ssh: flexibleBoolean.optional(),
  remove_user: z.union([z.literal(''), loginName], { error: loginNameProblem }).optional(),
  expiration: text('a date as yyyy-mm-dd')
    .refine(isCalendarDate, { error: 'must be a real calendar date written yyyy-mm-dd' })
    .optional(),
  remove_prior_keys: flexibleBoolean.optional(),
  restore_backup_ssh: flexibleBoolean.optional(),
  enable_passwordless_access: flexibleBoolean.optional(),
  unlock: flexibleBoolean.optional(),
  ssh_key_expiry: text('a UTC time as yyyy-mm-ddThh:mm:ssZ')
    .refine(isUtcInstant, { error: 'must be an ISO 8601 UTC time written yyyy-mm-ddThh:mm:ssZ' })
    .optional(),
  access_minutes: accessMinutes.optional(),
});

type Fields = z.infer<typeof fieldsSchema>;

/** The settings after merging both sections: values plus where each came from. */
export interface MergedSettings {
  values: Record<string, unknown>;
  origin: Record<string, SettingsSection>;
}

export interface ValidationContext {
  /** Today's date as yyyy-mm-dd (UTC); an expiration must lie after it. */
  today: string;
  /** The current instant; ssh_key_expiry must lie after it (start of `today` when not given). */
  now?: Date;
}

function levenshtein(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    let diagonal = previous[0] ?? 0;
    previous[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const above = previous[j] ?? 0;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      previous[j] = Math.min(above + 1, (previous[j - 1] ?? 0) + 1, diagonal + cost);
      diagonal = above;
    }
  }
  return previous[b.length] ?? 0;
}

/** The known field closest to an unknown key, for "did you mean" warnings. */
export function closestField(key: string): string | undefined {
  const normalised = key.toLowerCase().replace(/[-\s]/g, '_');
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const field of KNOWN_FIELDS) {
    const distance = levenshtein(normalised, field);
    if (distance < bestDistance) {
      best = field;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

function describeKey(key: string): string {
  // Unknown keys come from the caller; show them only if they look like identifiers.
  return /^[A-Za-z0-9_.-]{1,64}$/.test(key) ? `"${key}"` : 'a key with unusual characters';
}

interface Problem {
  path: string;
  message: string;
}

/** Merge the two sections. Conflicts and secrets in the clear are problems; misplaced fields are warnings. */
export function mergeSections(
  publicSettings: Record<string, unknown>,
  protectedSettings: Record<string, unknown>,
): { merged: MergedSettings; problems: Problem[]; warnings: string[] } {
  const values: Record<string, unknown> = {};
  const origin: Record<string, SettingsSection> = {};
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const sections: [SettingsSection, Record<string, unknown>][] = [
    ['protectedSettings', protectedSettings],
    ['publicSettings', publicSettings],
  ];
  for (const [section, object] of sections) {
    for (const [key, value] of Object.entries(object)) {
      // ARM templates emit null for every parameter left unset: null means "not given".
      if (value === null) continue;
      const where = `${section}.${key}`;
      if (!KNOWN_FIELDS.includes(key)) {
        const suggestion = closestField(key);
        warnings.push(
          `${section}: unknown setting ${describeKey(key)} was ignored${suggestion === undefined ? '' : `; did you mean "${suggestion}"?`}`,
        );
        continue;
      }
      if (section === 'publicSettings' && SECRET_FIELDS.has(key)) {
        problems.push({ path: where, message: 'must be sent in protectedSettings: public settings are stored and shown in the clear' });
        continue;
      }
      if (key in values) {
        if (JSON.stringify(values[key]) !== JSON.stringify(value)) {
          problems.push({ path: where, message: `conflicts with protectedSettings.${key}; send it in one section only` });
        }
        continue;
      }
      const expected = expectedSection(key);
      if (section !== expected) warnings.push(`${where} belongs in ${expected}; it was used anyway`);
      values[key] = value;
      origin[key] = section;
    }
  }
  return { merged: { values, origin }, problems, warnings };
}

/** The section a field belongs in; names a field the request did not send (e.g. a missing disk_name). */
export function expectedSection(key: string): SettingsSection {
  return (PUBLIC_FIELDS as readonly string[]).includes(key) ? 'publicSettings' : 'protectedSettings';
}

function crossFieldProblems(fields: Fields, context: ValidationContext, name: (key: keyof Fields) => string): Problem[] {
  const problems: Problem[] = [];
  const add = (key: keyof Fields, message: string): void => {
    problems.push({ path: name(key), message });
  };
  const username = fields.username === '' ? undefined : fields.username;
  const removeUser = fields.remove_user === '' ? undefined : fields.remove_user;
  const password = fields.password === '' ? undefined : fields.password;
  const sshKey = fields.ssh_key?.trim() === '' ? undefined : fields.ssh_key;

  if (fields.diagnose === true) {
    // diagnose is read-only: mixing it with a change would make "what changed" ambiguous.
    const others = (['check_disk', 'repair_disk', 'disk_name', 'password', 'ssh_key', 'reset_ssh', 'remove_user', 'expiration', 'remove_prior_keys', 'restore_backup_ssh', 'enable_passwordless_access'] as const).filter(
      (key) => fields[key] !== undefined && fields[key] !== false && fields[key] !== '',
    );
    for (const key of others) add(key, 'cannot be combined with diagnose, which only reads; send it in a separate request');
    return problems;
  }
  if (fields.check_disk === true && fields.repair_disk === true) add('repair_disk', 'cannot be combined with check_disk; choose one');
  if (fields.repair_disk === true && (fields.disk_name === undefined || fields.disk_name.trim() === '')) {
    add('disk_name', 'is required when repair_disk is true');
  }
  if (removeUser !== undefined) {
    if (fields.reset_ssh === true) add('remove_user', 'cannot be combined with reset_ssh');
    if (fields.restore_backup_ssh === true) add('remove_user', 'cannot be combined with restore_backup_ssh');
    if (password !== undefined) add('remove_user', 'cannot be combined with password');
    if (username !== undefined && username === removeUser) add('remove_user', 'names the same account as username');
  }
  if (fields.reset_ssh === true && fields.restore_backup_ssh === true) add('reset_ssh', 'cannot be combined with restore_backup_ssh');
  if (username === undefined) {
    if (password !== undefined) add('password', 'needs username');
    if (sshKey !== undefined) add('ssh_key', 'needs username');
    if (fields.expiration !== undefined) add('expiration', 'needs username');
    if (fields.remove_prior_keys === true) add('remove_prior_keys', 'needs username');
    if (fields.enable_passwordless_access === true) add('enable_passwordless_access', 'needs username');
  }
  if (fields.remove_prior_keys === true && sshKey === undefined) add('remove_prior_keys', 'needs ssh_key: it replaces the existing keys with ssh_key');
  if (fields.expiration !== undefined && fields.expiration <= context.today) {
    add('expiration', 'must be a date after today: an account that has expired cannot log in');
  }
  problems.push(...extensionProblems(fields, context, name));
  return problems;
}

/** The rules of the extensions (unlock, ssh_key_expiry, access_minutes). */
function extensionProblems(fields: Fields, context: ValidationContext, name: (key: keyof Fields) => string): Problem[] {
  const problems: Problem[] = [];
  const add = (key: keyof Fields, message: string): void => {
    problems.push({ path: name(key), message });
  };
  const username = fields.username === '' ? undefined : fields.username;
  const sshKey = fields.ssh_key?.trim() === '' ? undefined : fields.ssh_key;
  const password = fields.password === '' ? undefined : fields.password;
  if (fields.unlock === true) {
    if (username === undefined) add('unlock', 'needs username: the account to unlock');
    // unlock changes no credentials and grants nothing: these ask for something else.
    const others: (keyof Fields)[] = ['ssh_key', 'remove_prior_keys', 'enable_passwordless_access', 'remove_user', 'ssh_key_expiry', 'access_minutes'];
    for (const key of others) {
      const value = fields[key];
      if (value === undefined || value === false || value === '' || (key === 'ssh_key' && sshKey === undefined)) continue;
      add('unlock', `cannot be combined with ${key}`);
    }
  }
  if (fields.ssh_key_expiry !== undefined) {
    if (username === undefined) add('ssh_key_expiry', 'needs username');
    else if (password !== undefined && sshKey === undefined) add('ssh_key_expiry', 'needs ssh_key: it applies to the keys of this request');
    const now = context.now ?? new Date(`${context.today}T00:00:00Z`);
    if (isUtcInstant(fields.ssh_key_expiry) && Date.parse(fields.ssh_key_expiry) <= now.getTime()) {
      add('ssh_key_expiry', 'must be in the future: sshd would refuse the key at once');
    }
  }
  if (fields.access_minutes !== undefined) {
    if (username === undefined) add('access_minutes', 'needs username: it limits what this request grants to that account');
    const removeUser = fields.remove_user === '' ? undefined : fields.remove_user;
    if (removeUser !== undefined) add('access_minutes', 'cannot be combined with remove_user');
  }
  return problems;
}

function toRequest(fields: Fields, warnings: string[], name: (key: keyof Fields) => string): VmaccessRequest {
  const username = fields.username === '' ? undefined : fields.username;
  const removeUser = fields.remove_user === '' ? undefined : fields.remove_user;
  const password = fields.password === '' ? undefined : fields.password;
  const sshKey = fields.ssh_key?.trim() === '' ? undefined : fields.ssh_key;
  if (fields.password === '') warnings.push(`${name('password')} is empty and was ignored`);
  if (fields.ssh_key !== undefined && sshKey === undefined) warnings.push(`${name('ssh_key')} is empty and was ignored`);
  if (fields.disk_name !== undefined && fields.repair_disk !== true) warnings.push(`${name('disk_name')} is only used with repair_disk and was ignored`);

  if (fields.diagnose === true) {
    return { resetSsh: false, restoreBackupSsh: false, diagnose: username === undefined ? {} : { username }, warnings };
  }
  let account: AccountRequest | undefined;
  let unlock: UnlockRequest | undefined;
  if (username !== undefined && fields.unlock === true) {
    unlock = {
      username,
      ...(password === undefined ? {} : { password }),
      ...(fields.expiration === undefined ? {} : { expiration: fields.expiration }),
    };
  } else if (username !== undefined) {
    account = {
      username,
      removePriorKeys: fields.remove_prior_keys ?? false,
      passwordless: fields.enable_passwordless_access ?? false,
      ...(password === undefined ? {} : { password }),
      ...(sshKey === undefined ? {} : { sshKey }),
      ...(fields.expiration === undefined ? {} : { expiration: fields.expiration }),
      ...(fields.ssh_key_expiry === undefined ? {} : { keyExpiry: new Date(fields.ssh_key_expiry).toISOString() }),
      ...(fields.access_minutes === undefined ? {} : { accessMinutes: fields.access_minutes }),
    };
  }
  let disk: DiskRequest | undefined;
  if (fields.repair_disk === true && fields.disk_name !== undefined) disk = { mode: 'repair', diskName: fields.disk_name.trim() };
  else if (fields.check_disk === true) disk = { mode: 'check' };

  return {
    ...(account === undefined ? {} : { account }),
    ...(removeUser === undefined ? {} : { removeUser }),
    resetSsh: fields.reset_ssh ?? false,
    restoreBackupSsh: fields.restore_backup_ssh ?? false,
    ...(disk === undefined ? {} : { disk }),
    ...(unlock === undefined ? {} : { unlock }),
    warnings,
  };
}

/**
 * Validate decrypted settings into a request. Throws SETTINGS_INVALID listing every
 * problem as `section.field: problem`.
 */
export function parseRequest(
  publicSettings: Record<string, unknown>,
  protectedSettings: Record<string, unknown>,
  context: ValidationContext,
): VmaccessRequest {
  const { merged, problems, warnings } = mergeSections(publicSettings, protectedSettings);
  const name = (key: string): string => `${merged.origin[key] ?? expectedSection(key)}.${key}`;
  const parsed = fieldsSchema.safeParse(merged.values);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path[0];
      problems.push({ path: typeof key === 'string' ? name(key) : 'settings', message: issue.message });
    }
  } else {
    problems.push(...crossFieldProblems(parsed.data, context, (key) => name(key)));
  }
  if (problems.length > 0 || !parsed.success) {
    const list = problems.map((problem) => `${problem.path}: ${problem.message}`).join('; ');
    throw new VmaccessError('SETTINGS_INVALID', `The settings are not valid: ${list}.`, {
      hint: 'Correct the request and apply the extension again.',
    });
  }
  return toRequest(parsed.data, warnings, name);
}
