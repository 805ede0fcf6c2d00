import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, test, vi } from 'vitest';
import type * as UserModule from '../../src/actions/accounts/user.js';
import type * as FileDigestModule from '../../src/actions/file-digest.js';
import type { VmaccessRequest } from '../../src/settings/request.js';
import { createFakeMachine } from '../fakes/user-fake-tools.js';
import { generateTestKeys } from '../fakes/user-test-keys.js';

/**
 * node:crypto is loaded on first use (src/node-crypto.ts), and a request without an
 * SSH key must not use it. Each test imports the modules afresh, so each starts with
 * node:crypto not loaded.
 */

let modules: {
  createUserAction: typeof UserModule.createUserAction;
  fileDigest: typeof FileDigestModule;
  isNodeCryptoLoaded: () => boolean;
};

beforeEach(async () => {
  vi.resetModules();
  modules = {
    createUserAction: (await import('../../src/actions/accounts/user.js')).createUserAction,
    fileDigest: await import('../../src/actions/file-digest.js'),
    isNodeCryptoLoaded: (await import('../../src/node-crypto.js')).isNodeCryptoLoaded,
  };
  expect(modules.isNodeCryptoLoaded()).toBe(false);
});

function bytes(size: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, index) => (index * 31 + seed) & 0xff);
}

function nodeSha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function accountRequest(account: { username: string; password?: string; sshKey?: string }): VmaccessRequest {
  return { account: { removePriorKeys: false, passwordless: false, ...account }, resetSsh: false, restoreBackupSsh: false, warnings: [] };
}

describe('node:crypto on demand', () => {
  test('a password reset and a removal run without loading it', async () => {
    const machine = createFakeMachine();
    const action = modules.createUserAction();
    const reset = await action.apply(await action.plan(accountRequest({ username: 'azureuser', password: 'Corr3ct-horse-battery' }), machine.context), machine.context);
    expect(reset.find((outcome) => outcome.name === 'password')?.result).toBe('changed');
    const removal: VmaccessRequest = { removeUser: 'azureuser', resetSsh: false, restoreBackupSsh: false, warnings: [] };
    const removed = await action.apply(await action.plan(removal, machine.context), machine.context);
    expect(removed.some((outcome) => outcome.result === 'changed')).toBe(true);
    expect(modules.isNodeCryptoLoaded()).toBe(false);
  });

  test('digests in JavaScript match node:crypto, up to the budget, then node:crypto takes over', () => {
    const { JS_DIGEST_BUDGET_BYTES, sha256Hex } = modules.fileDigest;
    expect(sha256Hex('')).toBe(nodeSha256(''));
    expect(sha256Hex('Port 22\nPasswordAuthentication yes\n')).toBe(nodeSha256('Port 22\nPasswordAuthentication yes\n'));
    expect(sha256Hex('é ü\n')).toBe(nodeSha256('é ü\n'));
    // 55, 56 and 64 bytes straddle sha256's padding boundaries.
    for (const size of [55, 56, 63, 64, 65, 1000]) expect(sha256Hex(bytes(size, size))).toBe(nodeSha256(bytes(size, size)));
    expect(modules.isNodeCryptoLoaded()).toBe(false);
    const large = bytes(JS_DIGEST_BUDGET_BYTES, 7);
    expect(sha256Hex(large)).toBe(nodeSha256(large));
    expect(modules.isNodeCryptoLoaded()).toBe(true);
    expect(sha256Hex(bytes(100, 3))).toBe(nodeSha256(bytes(100, 3)));
  });

  test('a request with an SSH key loads it to check the key', async () => {
    const keys = generateTestKeys();
    const machine = createFakeMachine();
    const action = modules.createUserAction();
    const outcomes = await action.apply(await action.plan(accountRequest({ username: 'alice', sshKey: keys.ed25519.text }), machine.context), machine.context);
    expect(outcomes.find((outcome) => outcome.name === 'ssh_key')?.message).toContain(keys.ed25519.fingerprint);
    expect(modules.isNodeCryptoLoaded()).toBe(true);
  }, 60_000);
});
