import { parseLoginDefs } from './login-defs.js';

/**
 * Which crypt(3) method and cost this distribution uses for new passwords, so a hash
 * computed here (and set with `chpasswd -e`, past PAM's quality and history checks that
 * would refuse a rescue password) is the one `passwd` would have written. PAM decides
 * where it is used (pam_unix's `yescrypt`/`sha512`/... option in the password stack:
 * Debian 11+ and Ubuntu 22.04+ say yescrypt while login.defs still says SHA512);
 * login.defs's ENCRYPT_METHOD is the next source; SHA-512 the floor. Nothing weaker
 * than SHA-256 is ever chosen (MD5 and DES are refused as a method).
 */

export type HashMethod = 'yescrypt' | 'sha512' | 'sha256';

export interface HashChoice {
  method: HashMethod;
  /** SHA-crypt rounds; undefined for the library's default (5000). */
  rounds?: number;
}

const PAM_METHODS: Record<string, HashMethod> = { yescrypt: 'yescrypt', gost_yescrypt: 'yescrypt', sha512: 'sha512', sha256: 'sha256' };
const LOGIN_DEFS_METHODS: Record<string, HashMethod> = { YESCRYPT: 'yescrypt', SHA512: 'sha512', SHA256: 'sha256' };

function boundedRounds(value: number | undefined): number | undefined {
  if (value === undefined || !Number.isSafeInteger(value)) return undefined;
  // crypt(3) clamps to 1000..999999999; a cost far above the default would stall enable.
  return Math.min(Math.max(value, 1000), 1_000_000);
}

/** The pam_unix `password` line's method and rounds, if the stack names one. */
export function pamHashChoice(pamText: string | undefined): HashChoice | undefined {
  for (const raw of (pamText ?? '').split('\n')) {
    const tokens = raw.replace(/#.*/, '').trim().split(/\s+/);
    if (tokens[0] !== 'password' || !tokens.some((token) => /(^|\/)pam_unix\.so$/.test(token))) continue;
    const method = tokens.map((token) => PAM_METHODS[token]).find((value) => value !== undefined);
    const rounds = tokens.map((token) => /^rounds=(\d+)$/.exec(token)?.[1]).find((value) => value !== undefined);
    if (method !== undefined) return { method, ...(rounds === undefined || method === 'yescrypt' ? {} : { rounds: boundedRounds(Number(rounds)) }) };
  }
  return undefined;
}

export function chooseHashMethod(pamTexts: readonly (string | undefined)[], loginDefs: string | undefined): HashChoice {
  const values = parseLoginDefs(loginDefs ?? '');
  const numeric = (key: string): number | undefined => {
    const value = values.get(key);
    return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
  };
  const shaRounds = boundedRounds(numeric('SHA_CRYPT_MAX_ROUNDS') ?? numeric('SHA_CRYPT_MIN_ROUNDS'));
  for (const text of pamTexts) {
    const choice = pamHashChoice(text);
    if (choice !== undefined) return choice.rounds === undefined && choice.method !== 'yescrypt' && shaRounds !== undefined ? { ...choice, rounds: shaRounds } : choice;
  }
  const method = LOGIN_DEFS_METHODS[(values.get('ENCRYPT_METHOD') ?? '').toUpperCase()] ?? 'sha512';
  return method === 'yescrypt' || shaRounds === undefined ? { method } : { method, rounds: shaRounds };
}

/** The crypt(3) setting string ("salt") for a choice and 16 salt characters of [./0-9A-Za-z]. */
export function cryptSetting(choice: HashChoice, salt: string): string {
  // $y$j9T$ is libxcrypt's default yescrypt cost (YESCRYPT_COST_FACTOR 5).
  if (choice.method === 'yescrypt') return `$y$j9T$${salt}`;
  const id = choice.method === 'sha512' ? '6' : '5';
  return choice.rounds === undefined ? `$${id}$${salt}` : `$${id}$rounds=${choice.rounds}$${salt}`;
}

/** Whether `hash` is a complete hash of that setting (crypt returns "*0"-style failures otherwise). */
export function isHashOf(setting: string, hash: string): boolean {
  return hash.startsWith(`${setting}$`) && /^[$./0-9A-Za-z=]+$/.test(hash) && hash.length > setting.length + 20;
}
