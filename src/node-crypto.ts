import type * as Crypto from 'node:crypto';
import { createRequire } from 'node:module';

type NodeCrypto = typeof Crypto;

let loaded: NodeCrypto | undefined;

/**
 * node:crypto, loaded on first use instead of at start. Importing it costs about 17 ms and
 * 3-4 MiB in the bundled runtime (docs/performance.md), and only requests that parse an
 * SSH key or digest more than a few files need it.
 */
export function nodeCrypto(): NodeCrypto {
  loaded ??= createRequire(import.meta.url)('node:crypto') as NodeCrypto;
  return loaded;
}

/** Whether node:crypto has been loaded through nodeCrypto() in this process. */
export function isNodeCryptoLoaded(): boolean {
  return loaded !== undefined;
}
