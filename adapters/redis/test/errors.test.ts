import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import { inspect } from 'node:util';
import { BrokerError, createBus, createIdempotencyStore } from '@omnibus/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createRedisTransport } from '../src/index.ts';
import { collector, message, waitUntil } from './helpers.ts';

const SECRET = 'S3ntinel-pw';
const CONSOLE = ['log', 'info', 'warn', 'error', 'debug'] as const;

function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Everything a user or log could see of an error: message, causes, and what util.inspect prints. */
function visible(error: unknown): string {
  return `${(error as Error)?.message} ${inspect(error, { depth: 10 })}`;
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => error as Error,
  );
}

describe('redis: connection errors say what to do and never show the password', () => {
  it('an unreachable port is a BrokerError naming the server and ECONNREFUSED', async () => {
    const port = await freePort();
    const started = Date.now();
    const error = await failure(createBus(`redis://:${SECRET}@127.0.0.1:${port}`));
    expect(error).toBeInstanceOf(BrokerError);
    expect(error.message).toMatch(
      new RegExp(`^\\[omnibus\\] \\[redis\\] cannot reach 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`),
    );
    expect(visible(error)).not.toContain(SECRET);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('an unknown host is a BrokerError naming it', async () => {
    const error = await failure(
      createBus(`redis://:${SECRET}@no-such-host.invalid:6379?connectTimeoutMs=2000`),
    );
    expect(error).toBeInstanceOf(BrokerError);
    expect(error.message).toMatch(/cannot reach no-such-host\.invalid:6379 \((ENOTFOUND|EAI_AGAIN)\)/);
    expect(visible(error)).not.toContain(SECRET);
  });

  it('the idempotency store reports an unreachable Redis the same way', async () => {
    const port = await freePort();
    const error = await failure(createIdempotencyStore(`redis://:${SECRET}@127.0.0.1:${port}`));
    expect(error.message).toMatch(/cannot reach/);
    expect(visible(error)).not.toContain(SECRET);
  });

  describe.skipIf(!hasRedisServer())('against a Redis that requires a password', () => {
    let server: ChildProcess;
    let port: number;
    beforeAll(async () => {
      port = await freePort();
      // A private, throw-away server: the shared Redis must keep running without a password.
      server = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--requirepass',
          SECRET,
        ],
        { stdio: 'ignore' },
      );
      await waitUntil(
        () => {
          try {
            execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'ignore' });
            return true;
          } catch {
            return false;
          }
        },
        () => `redis-server on ${port} did not start`,
        10_000,
      );
    });
    afterAll(() => {
      server?.kill();
    });

    it('a wrong password is WRONGPASS in words, without the password', async () => {
      const error = await failure(createBus(`redis://:wrong-${SECRET}@127.0.0.1:${port}`));
      expect(error).toBeInstanceOf(BrokerError);
      expect(error.message).toMatch(
        /refused the login of user "default": wrong password or unknown user \(WRONGPASS\)/,
      );
      expect(visible(error)).not.toContain(SECRET);
    });

    it('no password is NOAUTH in words', async () => {
      const error = await failure(createBus(`redis://127.0.0.1:${port}`));
      expect(error.message).toMatch(/requires a password and none was given \(NOAUTH\)/);
    });

    it('the right password connects and works', async () => {
      const transport = createRedisTransport(`redis://:${encodeURIComponent(SECRET)}@127.0.0.1:${port}`);
      await transport.connect();
      await transport.provision('test-redis-auth', ['g']);
      await transport.close();
    });

    it('a dropped connection goes to the logger (lost, then reconnected), never to the console or with the password', async () => {
      const lines: string[] = [];
      const record = (level: string) => (fields: Record<string, unknown>, text: string) =>
        void lines.push(`${level} ${text} ${JSON.stringify(fields)}`);
      const logger = {
        debug: record('debug'),
        info: record('info'),
        warn: record('warn'),
        error: record('error'),
      };
      const console = CONSOLE.map((method) => vi.spyOn(globalThis.console, method));
      const transport = createRedisTransport(`redis://:${SECRET}@127.0.0.1:${port}`, {}, { logger });
      try {
        await transport.connect();
        const topic = 'test-redis-reconnect';
        const seen = collector({ topic, group: 'g' });
        await transport.subscribe(seen.request);
        // Every connection but redis-cli's own is cut, as a network blip or a proxy restart would.
        execFileSync('redis-cli', [
          '-p',
          String(port),
          '-a',
          SECRET,
          '--no-auth-warning',
          'CLIENT',
          'KILL',
          'TYPE',
          'normal',
        ]);
        await waitUntil(
          () => lines.some((l) => l.startsWith('info')),
          () => lines.join('\n'),
          10_000,
        );
        await transport.publish(message(topic, 1, 'k'));
        await waitUntil(
          () => seen.deliveries.length === 1,
          () => 'nothing delivered after reconnecting',
          10_000,
        );
        expect(lines[0]).toMatch(
          new RegExp(
            `^warn \\[omnibus\\] \\[redis\\] connection lost — reconnecting \\(127\\.0\\.0\\.1:${port}\\)`,
          ),
        );
        expect(lines.filter((l) => l.startsWith('info'))[0]).toMatch(/\[omnibus\] \[redis\] reconnected/);
        expect(lines.join('\n')).not.toContain(SECRET);
        for (const spy of console) expect(spy).not.toHaveBeenCalled();
        expect(seen.errors).toEqual([]);
      } finally {
        await transport.close();
        vi.restoreAllMocks();
      }
    });

    it('TLS towards a plain-text Redis fails with a TLS message, not a hang', async () => {
      const error = await failure(createBus(`rediss://:${SECRET}@127.0.0.1:${port}?connectTimeoutMs=2000`));
      expect(error).toBeInstanceOf(BrokerError);
      expect(error.message).toMatch(
        new RegExp(`\\[redis\\] no TLS handshake with 127\\.0\\.0\\.1:${port} .* rediss:// needs a TLS port`),
      );
      expect(visible(error)).not.toContain(SECRET);
    });
  });
});
