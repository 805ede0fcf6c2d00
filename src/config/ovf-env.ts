/**
 * The SSH public keys given at provisioning time, from the guest agent's copy of the
 * OVF environment (`<lib dir>/ovf-env.xml`):
 *   ...<SSH><PublicKeys><PublicKey><Fingerprint/><Path/><Value/></PublicKey>...
 * Elements may carry any namespace prefix. The file is read as data, not as a document:
 * no DTD, no external entities, only the five predefined entities and character
 * references, so a crafted file cannot make us read anything else.
 */

export interface ProvisioningKey {
  /** Thumbprint of `<lib dir>/<FINGERPRINT>.crt` when the key was delivered as a certificate. */
  fingerprint: string | undefined;
  /** Where the agent put it (informational; keys go where sshd reads them for the user). */
  path: string | undefined;
  /** The key text, when delivered inline. */
  value: string | undefined;
}

export class OvfEnvError extends Error {}

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeText(raw: string): string {
  const cdata = /^\s*<!\[CDATA\[([\s\S]*)\]\]>\s*$/.exec(raw);
  if (cdata !== null) return cdata[1]!;
  return raw.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (whole, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(Number.parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(Number.parseInt(entity.slice(1), 10));
    const value = PREDEFINED[entity];
    if (value === undefined) throw new OvfEnvError('ovf-env.xml uses an entity that is not predefined');
    return value;
  });
}

/** Inner text of each element named `name` (any prefix) directly in `xml`. */
function elements(xml: string, name: string): string[] {
  const pattern = new RegExp(`<(?:[A-Za-z_][\\w.-]*:)?${name}(?:\\s[^>]*)?(?:/>|>([\\s\\S]*?)</(?:[A-Za-z_][\\w.-]*:)?${name}\\s*>)`, 'g');
  return [...xml.matchAll(pattern)].map((match) => match[1] ?? '');
}

function field(xml: string, name: string): string | undefined {
  const raw = elements(xml, name)[0];
  if (raw === undefined) return undefined;
  const text = decodeText(raw).trim();
  return text === '' ? undefined : text;
}

export function parseOvfProvisioningKeys(xml: string): ProvisioningKey[] {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new OvfEnvError('ovf-env.xml declares a DTD or entities; refusing to read it');
  const withoutComments = xml.replace(/<!--[\s\S]*?-->/g, '');
  const keys: ProvisioningKey[] = [];
  for (const ssh of elements(withoutComments, 'SSH')) {
    for (const list of elements(ssh, 'PublicKeys')) {
      for (const entry of elements(list, 'PublicKey')) {
        const key = { fingerprint: field(entry, 'Fingerprint'), path: field(entry, 'Path'), value: field(entry, 'Value') };
        if (key.fingerprint !== undefined || key.value !== undefined) keys.push(key);
      }
    }
  }
  return keys;
}

/** The provisioned admin's name, for messages. */
export function parseOvfUserName(xml: string): string | undefined {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) return undefined;
  return field(xml.replace(/<!--[\s\S]*?-->/g, ''), 'UserName');
}
