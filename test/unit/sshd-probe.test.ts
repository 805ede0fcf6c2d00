import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createRealSystem } from '../../src/system/real-system.js';
import type { System } from '../../src/system/system.js';
import { FakeSystem } from '../fakes/fake-system.js';

/**
 * probeTcpBanner, the one System method the ssh action added: the same expectations
 * for the real implementation (against local TCP servers started here) and the fake.
 */

const servers: Server[] = [];
const ports = { ssh: 0, silent: 0, closed: 0, long: 0 };

function listen(onConnection: (socket: Socket) => void): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer(onConnection);
    servers.push(server);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : 0);
    });
  });
}

beforeAll(async () => {
  ports.ssh = await listen((socket) => socket.end('SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n'));
  ports.silent = await listen(() => undefined);
  ports.long = await listen((socket) => socket.end('x'.repeat(400)));
  // A port nothing listens on: take one, then close it.
  const closed = await listen(() => undefined);
  await new Promise((resolve) => servers.pop()?.close(resolve));
  ports.closed = closed;
});

afterAll(async () => {
  for (const server of servers) await new Promise((resolve) => server.close(resolve));
});

function fake(): System {
  const system = new FakeSystem();
  system.banners.set(`127.0.0.1:${ports.ssh}`, 'SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13');
  system.banners.set(`127.0.0.1:${ports.long}`, 'x'.repeat(255));
  return system;
}

describe.each([
  ['real', createRealSystem],
  ['fake', fake],
])('probeTcpBanner (%s)', (_name, make) => {
  test('returns the identification line without CR LF', async () => {
    expect(await make().probeTcpBanner('127.0.0.1', ports.ssh, 2_000)).toBe('SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13');
  });

  test('undefined when nothing listens or nothing is said in time', async () => {
    const system = make();
    expect(await system.probeTcpBanner('127.0.0.1', ports.closed, 2_000)).toBeUndefined();
    expect(await system.probeTcpBanner('127.0.0.1', ports.silent, 200)).toBeUndefined();
  });

  test('at most 255 bytes (RFC 4253 4.2)', async () => {
    expect(await make().probeTcpBanner('127.0.0.1', ports.long, 2_000)).toHaveLength(255);
  });
});
