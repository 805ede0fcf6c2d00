import type * as Crypto from 'node:crypto';
import { createRequire } from 'node:module';

type NodeCrypto = typeof Crypto;

let loaded: NodeCrypto | undefined;

/**
 * node:crypto, loaded on first use instead of at start. Loading it costs 14-21 ms (table
 * (d) of npm run bench) and 2.5-4.4 MiB of peak RSS in the bundled runtime
 * (docs/performance.md), and only requests that parse an SSH key or hash more than a few
 * files need it.
 */
export function nodeCrypto(): NodeCrypto {
  loaded ??= createRequire(import.meta.url)('node:crypto') as NodeCrypto;
  return loaded;
}

/** Whether node:crypto has been loaded through nodeCrypto() in this process. */
export function isNodeCryptoLoaded(): boolean {
  return loaded !== undefined;
}
