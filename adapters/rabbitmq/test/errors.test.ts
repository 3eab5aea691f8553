import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { brokerUrl } from '@omnibus/brokers-dev';
import { BrokerError } from '@omnibus/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RabbitMqTransport } from '../src/adapter.ts';
import { until } from './support.ts';

const url = brokerUrl('amqp');
const SECRET = 'S3ntinel-pw';
/** The user of the broker URL (guest on the test brokers). */
const USER = url ? decodeURIComponent(new URL(url).username) : '';

/** Everything a user or log could see of an error: message, causes, stacks and what util.inspect prints. */
function visible(error: unknown): string {
  return `${(error as Error)?.message} ${(error as Error)?.stack} ${inspect(error, { depth: 10 })}`;
}

/** The broker URL with a changed password or vhost (the path is the URL-encoded vhost). */
function variant(change: { password?: string; vhost?: string }): URL {
  const changed = new URL(url!);
  if (change.password !== undefined) changed.password = encodeURIComponent(change.password);
  if (change.vhost !== undefined) changed.pathname = `/${encodeURIComponent(change.vhost)}`;
  return changed;
}

/** connect()'s failure and how long it took. */
async function connectFailure(target: URL): Promise<{ error: Error; ms: number }> {
  const transport = new RabbitMqTransport(target);
  const started = Date.now();
  try {
    await transport.connect();
  } catch (error) {
    return { error: error as Error, ms: Date.now() - started };
  } finally {
    await transport.close();
  }
  throw new Error(`connecting to ${target.pathname} unexpectedly succeeded`);
}

/** rabbitmqctl drives the broker under test (a local one), so a vhost can be made and removed. */
function hasRabbitmqctl(): boolean {
  if (!url || !['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname)) return false;
  try {
    execFileSync('rabbitmqctl', ['list_vhosts', '--quiet'], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

function rabbitmqctl(...args: string[]): void {
  execFileSync('rabbitmqctl', [...args, '--quiet'], { stdio: 'ignore', timeout: 20_000 });
}

describe.skipIf(!url)('rabbitmq: a refused connection says why, without the password', () => {
  it('a wrong password is a refused login (403 ACCESS_REFUSED), fast, not "is the broker running?"', async () => {
    const { error, ms } = await connectFailure(variant({ password: `wrong-${SECRET}` }));
    expect(error).toBeInstanceOf(BrokerError);
    expect(error.message).toMatch(/^\[omnibus\] \[rabbitmq\] /);
    expect(error.message).toMatch(
      new RegExp(`refused the login of user "${USER}": wrong user name or password \\(403 ACCESS_REFUSED\\)`),
    );
    expect(error.message).toMatch(/check the user and password in the URL/);
    expect(error.message).not.toContain('is the broker running');
    expect(visible(error)).not.toContain(SECRET);
    expect(ms).toBeLessThan(5_000);
  });

  it('a vhost that does not exist is named (530 NOT_ALLOWED), fast, not amqplib\'s "Expected ConnectionOpenOk"', async () => {
    const vhost = `no-such-vhost-${randomBytes(4).toString('hex')}`;
    const { error, ms } = await connectFailure(variant({ vhost }));
    expect(error).toBeInstanceOf(BrokerError);
    expect(error.message).toMatch(
      new RegExp(
        `refused to open vhost "${vhost}" for user "${USER}": it does not exist or the user has no access to it`,
      ),
    );
    expect(error.message).toMatch(/530 NOT_ALLOWED/);
    expect(error.message).not.toContain('Expected ConnectionOpenOk');
    expect(error.message).not.toContain('is the broker running');
    expect(ms).toBeLessThan(5_000);
  });

  describe.skipIf(!hasRabbitmqctl())('on a vhost made for the test (rabbitmqctl)', () => {
    const vhost = `omnibus-errors-test-${randomBytes(4).toString('hex')}`;
    beforeAll(() => rabbitmqctl('add_vhost', vhost));
    afterAll(() => {
      try {
        rabbitmqctl('delete_vhost', vhost);
      } catch {
        // already deleted by the test
      }
    });

    it('a vhost the user has no permissions on gets the same words', async () => {
      const { error } = await connectFailure(variant({ vhost }));
      expect(error.message).toMatch(
        new RegExp(
          `refused to open vhost "${vhost}" for user "${USER}": it does not exist or the user has no access`,
        ),
      );
      expect(error.message).not.toContain('is the broker running');
    });

    it('a vhost deleted under a live transport: publishes and reconnections name the vhost, not "is the broker running?"', async () => {
      rabbitmqctl('set_permissions', '-p', vhost, USER, '.*', '.*', '.*');
      const logged: string[] = [];
      const record = (level: string) => (fields: Record<string, unknown>, message: string) =>
        void logged.push(`${level} ${message} — ${String(fields.reason ?? '')}`);
      const logger = {
        debug: record('debug'),
        info: record('info'),
        warn: record('warn'),
        error: record('error'),
      };
      const transport = new RabbitMqTransport(
        variant({ vhost }),
        { publishTimeoutMs: 1_500, reconnectDelayMs: 50, reconnectMaxDelayMs: 200, unroutable: 'drop' },
        { logger },
      );
      const publish = (topic: string) =>
        transport.publish({ topic, body: Buffer.from('x'), headers: {} }).then(
          () => new Error(`the publish to ${topic} unexpectedly succeeded`),
          (e: unknown) => e as Error,
        );
      try {
        await transport.connect();
        await transport.publish({ topic: 'test-rabbitmq-errors-known', body: Buffer.from('x'), headers: {} });
        rabbitmqctl('delete_vhost', vhost); // closes the connection; every reconnection is refused
        await until(
          () => logged.some((line) => line.includes('reconnect attempt 1 failed')),
          () => `no failed reconnection logged: ${logged.join('\n')}`,
          10_000,
        );
        // A known topic waits in the publisher, a new one for its topology: both give up naming the vhost.
        // (The connection is gone by now: a publish racing its close is the next test.)
        const errors = await Promise.all([
          publish('test-rabbitmq-errors-known'),
          publish('test-rabbitmq-errors-new'),
        ]);
        for (const error of errors) {
          expect(error).toBeInstanceOf(BrokerError);
          expect(error.message).toMatch(new RegExp(`refused to open vhost "${vhost}"`));
          expect(error.message).not.toContain('is the broker running');
        }
        expect(logged.find((line) => line.includes('reconnect attempt 1 failed'))).toMatch(
          new RegExp(`refused to open vhost "${vhost}"`),
        );
      } finally {
        await transport.close();
      }
    });

    it('a publish racing the close of its connection waits for the next one, then fails naming the vhost', async () => {
      const raced = `${vhost}-raced`;
      rabbitmqctl('add_vhost', raced);
      let deleted = false;
      const transport = new RabbitMqTransport(variant({ vhost: raced }), {
        publishTimeoutMs: 1_500,
        reconnectDelayMs: 50,
        reconnectMaxDelayMs: 200,
      });
      try {
        rabbitmqctl('set_permissions', '-p', raced, USER, '.*', '.*', '.*');
        await transport.connect();
        // The broker closes the connection while rabbitmqctl returns: the publish opens its topology channel
        // on a connection that is going away.
        rabbitmqctl('delete_vhost', raced);
        deleted = true;
        const error = await transport
          .publish({ topic: 'test-rabbitmq-errors-raced', body: Buffer.from('x'), headers: {} })
          .then(
            () => new Error('the publish unexpectedly succeeded'),
            (e: unknown) => e as Error,
          );
        expect(error).toBeInstanceOf(BrokerError);
        expect(error.message).toMatch(new RegExp(`refused to open vhost "${raced}"`));
      } finally {
        await transport.close();
        if (!deleted) rabbitmqctl('delete_vhost', raced);
      }
    });
  });
});
