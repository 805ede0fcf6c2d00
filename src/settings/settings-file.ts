import { VmaccessError } from '../errors.js';

/**
 * `config/<seq>.settings` as the guest agent writes it (contract §2.1): one
 * runtimeSettings element with publicSettings (object or null), protectedSettings
 * (base64 CMS or null) and the certificate thumbprint (or null). A 0-byte file
 * means the handler has no settings at all.
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

function notJson(detail: string): VmaccessError {
  return new VmaccessError('SETTINGS_NOT_JSON', `The settings file is not in the guest agent's format: ${detail}.`, {
    hint: 'Apply the extension again so the agent rewrites it.',
  });
}

interface HandlerSettingsLocation {
  handlerSettings: Record<string, unknown>;
  document: Record<string, unknown>;
}

function locateHandlerSettings(text: string): HandlerSettingsLocation {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw notJson('it is not valid JSON');
  }
  if (!isPlainObject(document)) throw notJson('the top level is not an object');
  const runtimeSettings = document.runtimeSettings;
  if (!Array.isArray(runtimeSettings) || runtimeSettings.length === 0) throw notJson('runtimeSettings is not a non-empty array');
  const first: unknown = runtimeSettings[0];
  if (!isPlainObject(first) || !isPlainObject(first.handlerSettings)) throw notJson('runtimeSettings[0].handlerSettings is not an object');
  return { handlerSettings: first.handlerSettings, document };
}

function parsePublic(value: unknown): Record<string, unknown> {
  if (value === null || value === undefined) return {};
  // FastTrack goal states carry publicSettings as a JSON string (the agent normally parses it).
  if (typeof value === 'string') {
    if (value.trim() === '') return {};
    try {
      const parsed: unknown = JSON.parse(value);
      if (isPlainObject(parsed)) return parsed;
    } catch {
      // fall through to the error below
    }
    throw notJson('publicSettings is a string that is not a JSON object');
  }
  if (!isPlainObject(value)) throw notJson('publicSettings is not an object');
  return value;
}

export function parseSettingsFile(text: string): SettingsFile {
  if (text.trim() === '') {
    return { publicSettings: {}, protectedSettings: undefined, thumbprint: undefined, isScrubbed: false, digest: digestOf({}) };
  }
  const { handlerSettings } = locateHandlerSettings(text);
  const publicSettings = parsePublic(handlerSettings.publicSettings);
  const rawProtected = handlerSettings.protectedSettings;
  const rawThumbprint = handlerSettings.protectedSettingsCertThumbprint;
  if (rawProtected !== null && rawProtected !== undefined && typeof rawProtected !== 'string') throw notJson('protectedSettings is not a string');
  if (rawThumbprint !== null && rawThumbprint !== undefined && typeof rawThumbprint !== 'string') {
    throw notJson('protectedSettingsCertThumbprint is not a string');
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
export function scrubSettingsText(text: string): string | undefined {
  if (text.trim() === '') return undefined;
  const { handlerSettings, document } = locateHandlerSettings(text);
  const value = handlerSettings.protectedSettings;
  if (typeof value !== 'string' || value.trim() === '' || value === SCRUBBED_MARKER) return undefined;
  handlerSettings.protectedSettings = SCRUBBED_MARKER;
  return JSON.stringify(document);
}
