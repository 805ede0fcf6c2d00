import { VmaccessError } from '../errors.js';
import { assertJsonBounds, assertTextSize } from './json-bounds.js';

/**
 * `config/<seq>.settings` as the guest agent writes it (contract §2.1): one
 * runtimeSettings element with publicSettings (object or null), protectedSettings
 * (base64 CMS or null) and the certificate thumbprint (or null). The agent writes
 * a 0-byte `0.settings` when the goal state has no settings for the handler at
 * all (contract §2.1); any other empty or truncated file is damage (a full disk, a
 * crash mid-write) and is reported naming the file, never read as "nothing asked".
 */

/** What vmaccess writes in place of the protected blob once it has been used. */
export const SCRUBBED_MARKER = '*** REDACTED by vmaccess: protected settings are removed after use ***';

export interface SettingsFile {
  publicSettings: Record<string, unknown>;
  /** Base64 CMS EnvelopedData, or undefined when there are no protected settings. */
  protectedSettings: string | undefined;
  thumbprint: string | undefined;
  /** True when an earlier run already replaced the protected blob with SCRUBBED_MARKER. */
  isScrubbed: boolean;
  /**
   * Fingerprint of the public settings. The encrypted blob is left out on purpose:
   * it changes whenever the platform re-encrypts the same request (a new tenant
   * certificate), and that must not re-run a request that is done.
   */
  digest: string;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface SettingsFileOptions {
  /** The file's path, named in errors. */
  file?: string;
  /** True only for the agent's 0-byte `0.settings` of a handler without settings. */
  isNoSettingsMarker?: boolean;
}

function notJson(file: string, detail: string): VmaccessError {
  return new VmaccessError('SETTINGS_NOT_JSON', `The settings file ${file} is not in the guest agent's format: ${detail}.`, {
    hint: 'Apply the extension again so the agent rewrites it.',
  });
}

interface HandlerSettingsLocation {
  handlerSettings: Record<string, unknown>;
  document: Record<string, unknown>;
}

function locateHandlerSettings(text: string, file: string): HandlerSettingsLocation {
  assertTextSize(text, `The settings file ${file}`);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw notJson(file, 'it is not valid JSON (truncated or damaged)');
  }
  assertJsonBounds(document, `The settings file ${file}`);
  if (!isPlainObject(document)) throw notJson(file, 'the top level is not an object');
  const runtimeSettings = document.runtimeSettings;
  if (!Array.isArray(runtimeSettings) || runtimeSettings.length === 0) throw notJson(file, 'runtimeSettings is not a non-empty array');
  const first: unknown = runtimeSettings[0];
  if (!isPlainObject(first) || !isPlainObject(first.handlerSettings)) throw notJson(file, 'runtimeSettings[0].handlerSettings is not an object');
  return { handlerSettings: first.handlerSettings, document };
}

function parsePublic(value: unknown, file: string): Record<string, unknown> {
  if (value === null || value === undefined) return {};
  // FastTrack goal states carry publicSettings as a JSON string (the agent normally parses it).
  if (typeof value === 'string') {
    if (value.trim() === '') return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      throw notJson(file, 'publicSettings is a string that is not a JSON object');
    }
    assertJsonBounds(parsed, `publicSettings in ${file}`);
    if (isPlainObject(parsed)) return parsed;
    throw notJson(file, 'publicSettings is a string that is not a JSON object');
  }
  if (!isPlainObject(value)) throw notJson(file, 'publicSettings is not an object');
  return value;
}

export function parseSettingsFile(text: string, options: SettingsFileOptions = {}): SettingsFile {
  const file = options.file ?? 'for this sequence number';
  if (text === '' && options.isNoSettingsMarker === true) {
    return { publicSettings: {}, protectedSettings: undefined, thumbprint: undefined, isScrubbed: false, digest: digestOf({}) };
  }
  if (text.trim() === '') {
    throw new VmaccessError('SETTINGS_EMPTY', `The settings file ${file} is empty.`, {
      hint: 'The guest agent rewrites it on its next pass; restart the agent or apply the extension again.',
    });
  }
  const { handlerSettings } = locateHandlerSettings(text, file);
  const publicSettings = parsePublic(handlerSettings.publicSettings, file);
  const rawProtected = handlerSettings.protectedSettings;
  const rawThumbprint = handlerSettings.protectedSettingsCertThumbprint;
  if (rawProtected !== null && rawProtected !== undefined && typeof rawProtected !== 'string') throw notJson(file, 'protectedSettings is not a string');
  if (rawThumbprint !== null && rawThumbprint !== undefined && typeof rawThumbprint !== 'string') {
    throw notJson(file, 'protectedSettingsCertThumbprint is not a string');
  }
  const protectedText = typeof rawProtected === 'string' && rawProtected.trim() !== '' ? rawProtected : undefined;
  const isScrubbed = protectedText === SCRUBBED_MARKER;
  return {
    publicSettings,
    protectedSettings: isScrubbed ? undefined : protectedText,
    thumbprint: typeof rawThumbprint === 'string' && rawThumbprint.trim() !== '' ? rawThumbprint.trim() : undefined,
    isScrubbed,
    digest: digestOf(publicSettings),
  };
}

/**
 * 64-bit FNV-1a of the canonical JSON. It only tells "the same public settings" from
 * "other public settings" (nothing secret, nothing adversarial), and it keeps
 * node:crypto off the start-up path of every repeated enable.
 */
function digestOf(publicSettings: Record<string, unknown>): string {
  const FNV_PRIME = 0x100000001b3n;
  const MASK = 0xffffffffffffffffn;
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(JSON.stringify(publicSettings))) {
    hash = ((hash ^ BigInt(byte)) * FNV_PRIME) & MASK;
  }
  return `fnv1a64:${hash.toString(16).padStart(16, '0')}`;
}

/**
 * The same document with the protected blob replaced by SCRUBBED_MARKER, or
 * undefined when there is nothing to scrub. Everything else is kept, so the file
 * stays valid JSON in the agent's shape.
 */
export function scrubSettingsText(text: string, file = 'being scrubbed'): string | undefined {
  if (text.trim() === '') return undefined;
  const { handlerSettings, document } = locateHandlerSettings(text, file);
  const value = handlerSettings.protectedSettings;
  if (typeof value !== 'string' || value.trim() === '' || value === SCRUBBED_MARKER) return undefined;
  handlerSettings.protectedSettings = SCRUBBED_MARKER;
  return JSON.stringify(document);
}
