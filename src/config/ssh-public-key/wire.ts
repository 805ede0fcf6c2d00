import { nodeCrypto } from '../../node-crypto.js';

/**
 * The OpenSSH wire format (RFC 4251 section 5: uint32, uint64, string, mpint) that key
 * blobs are made of, and the small encodings around it.
 */

/** A key blob or line that is not what it claims; the message names the field, never the content. */
export class WireError extends Error {}

export class WireReader {
  private offset = 0;
  constructor(private readonly data: Uint8Array) {}

  private take(length: number, what: string): Uint8Array {
    if (this.offset + length > this.data.length) throw new WireError(`${what} is truncated`);
    const slice = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }

  uint32(what: string): number {
    const bytes = this.take(4, what);
    return ((bytes[0]! << 24) >>> 0) + (bytes[1]! << 16) + (bytes[2]! << 8) + bytes[3]!;
  }

  uint64(what: string): bigint {
    const high = BigInt(this.uint32(what));
    const low = BigInt(this.uint32(what));
    return (high << 32n) + low;
  }

  string(what: string): Uint8Array {
    const length = this.uint32(what);
    return this.take(length, what);
  }

  text(what: string): string {
    const bytes = this.string(what);
    return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  }

  /** Unsigned magnitude of a non-negative mpint, without leading zero bytes. */
  mpint(what: string): Uint8Array {
    const bytes = this.string(what);
    if (bytes.length > 0 && (bytes[0]! & 0x80) !== 0) throw new WireError(`${what} is negative`);
    if (bytes.length > 1 && bytes[0] === 0 && (bytes[1]! & 0x80) === 0) throw new WireError(`${what} has a superfluous leading zero`);
    let start = 0;
    while (start < bytes.length && bytes[start] === 0) start += 1;
    return bytes.subarray(start);
  }

  get done(): boolean {
    return this.offset === this.data.length;
  }

  get position(): number {
    return this.offset;
  }

  slice(from: number, to: number): Uint8Array {
    return this.data.subarray(from, to);
  }
}

export class WireWriter {
  private readonly parts: Uint8Array[] = [];

  string(data: Uint8Array | string): this {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, bytes.length);
    this.parts.push(length, bytes);
    return this;
  }

  /** Write an unsigned big-endian magnitude as an mpint (leading zero when the top bit is set). */
  mpint(magnitude: Uint8Array): this {
    let start = 0;
    while (start < magnitude.length && magnitude[start] === 0) start += 1;
    const trimmed = magnitude.subarray(start);
    const needsZero = trimmed.length > 0 && (trimmed[0]! & 0x80) !== 0;
    return this.string(needsZero ? Uint8Array.from([0, ...trimmed]) : trimmed);
  }

  bytes(): Uint8Array {
    return Buffer.concat(this.parts);
  }
}

export function bitLength(magnitude: Uint8Array): number {
  if (magnitude.length === 0) return 0;
  return (magnitude.length - 1) * 8 + (32 - Math.clz32(magnitude[0]!));
}

export function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

export function fingerprintOf(blob: Uint8Array): string {
  return `SHA256:${nodeCrypto().createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export function decodeBase64Strict(text: string): Uint8Array | undefined {
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  // Round-trip so that non-canonical encodings (stray bits in the padding) are refused.
  return bytes.toString('base64') === text ? new Uint8Array(bytes) : undefined;
}
