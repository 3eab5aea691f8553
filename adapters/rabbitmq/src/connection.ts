import os from 'node:os';
import { BrokerError, type Logger, silentLogger } from '@omnibus/core';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { ConnectTarget, RabbitMqOptions } from './options.ts';

/** The cause's message with the password scrubbed (empty without a cause). */
function reasonOf(target: ConnectTarget, cause: unknown): string {
  const reason = cause instanceof Error ? cause.message : cause === undefined ? '' : String(cause);
  return target.password.length >= 3 ? reason.split(target.password).join('***') : reason;
}

/** amqplib's message when the broker closes the connection in answer to start-ok with 403: the login. */
const LOGIN_REFUSED = /^Handshake terminated by server: 403 \(ACCESS-REFUSED\)/;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);
/**
 * amqplib's message when the broker closes the connection in answer to connection.open, the step that names
 * the vhost. amqplib drops the reply code and text; RabbitMQ answers this way only with 530 NOT_ALLOWED (the
 * vhost does not exist, the user has no permissions on it, it is down, or a connection limit is reached).
 */
const VHOST_REFUSED = /^Expected ConnectionOpenOk; got <ConnectionClose/;

/**
 * Why the broker turned the connection away, in words an operator acts on, or `undefined` when `cause` is not
 * such a refusal (unreachable, timed out, dropped). Names the user and vhost, never the password.
 */
function refusalOf(target: ConnectTarget, cause: unknown): string | undefined {
  const message = cause instanceof Error ? cause.message : '';
  const user = `user "${target.username}"`;
  if (LOGIN_REFUSED.test(message)) {
    const guest =
      target.username === 'guest' && !LOOPBACK.has(target.hostname)
        ? '; RabbitMQ lets guest log in only from localhost (loopback_users)'
        : '';
    return `the broker refused the login of ${user}: wrong user name or password (403 ACCESS_REFUSED) — check the user and password in the URL (the broker's log says why${guest})`;
  }
  if (VHOST_REFUSED.test(message)) {
    const vhost = target.vhost;
    return (
      `the broker refused to open vhost "${vhost}" for ${user}: it does not exist or the user has no access to it (530 NOT_ALLOWED) — ` +
      `check the vhost in the URL's path (%2F is "/"), create it (rabbitmqctl add_vhost ${vhost}) or give the ` +
      `user permissions on it (rabbitmqctl set_permissions -p ${vhost} ${target.username} …) ` +
      '(a vhost that is down or at a connection limit is refused the same way)'
    );
  }
  return undefined;
}

/** What went wrong, for a message or log line: a refusal in words, or the cause's scrubbed message. */
function describeCause(target: ConnectTarget, cause: unknown): string {
  return refusalOf(target, cause) ?? reasonOf(target, cause);
}

/**
 * `[omnibus] [rabbitmq] <what> (<broker>) — <cause> — <hint>`, with the password scrubbed from the cause.
 * When the cause is the broker refusing the login or the vhost, that refusal and what to do about it take
 * the place of the cause and of the hint, which is written for a broker that cannot be reached.
 */
export function brokerError(
  target: ConnectTarget,
  what: string,
  cause?: unknown,
  hint?: string,
): BrokerError {
  const refusal = refusalOf(target, cause);
  const detail = refusal ?? [reasonOf(target, cause), hint].filter(Boolean).join(' — ');
  const message = `[rabbitmq] ${what} (${target.display})${detail ? ` — ${detail}` : ''}`;
  return new BrokerError(message, cause === undefined ? undefined : { cause });
}

type Listener = (model: ChannelModel) => void;

/**
 * Closes a channel or connection, ignoring errors and giving up after `timeoutMs`: on a connection
 * that died without amqplib noticing yet, close() would wait for a close-ok that never comes.
 */
export async function closeQuietly(
  closable: { close(): Promise<void> } | undefined,
  timeoutMs = 2_000,
): Promise<void> {
  if (!closable) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    closable.close().catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
}

/**
 * One AMQP connection that comes back after it is lost: exponential backoff with jitter, then every
 * `onConnected` listener runs again so publishers and subscriptions re-declare and resume. The loss
 * (warn), each failed attempt (debug) and the recovery (info) go to `logger`, without credentials.
 */
export class ConnectionManager {
  readonly #target: ConnectTarget;
  readonly #options: RabbitMqOptions;
  readonly #logger: Logger;
  readonly #listeners = new Set<Listener>();
  #model: ChannelModel | undefined;
  #waiters: Array<(model: ChannelModel | undefined) => void> = [];
  #closed = false;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #attempt = 0;
  /** Last reason the connection went away, for errors raised while it is down. */
  #lastError: unknown;

  constructor(target: ConnectTarget, options: RabbitMqOptions, logger: Logger = silentLogger) {
    this.#target = target;
    this.#options = options;
    this.#logger = logger;
  }

  get target(): ConnectTarget {
    return this.#target;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Why the connection last went away or could not be opened again (undefined before any failure). */
  get lastError(): unknown {
    return this.#lastError;
  }

  /** The live connection, if there is one right now. */
  get current(): ChannelModel | undefined {
    return this.#model;
  }

  /** First connection: one attempt, failing with a {@link BrokerError} that says what to check. */
  async connect(): Promise<void> {
    if (this.#model) return;
    try {
      this.#adopt(await this.#open());
    } catch (error) {
      throw brokerError(this.#target, 'cannot connect to RabbitMQ', error, 'is the broker running?');
    }
  }

  /** Runs `listener` after every reconnection (not the first connection). Returns an unsubscribe function. */
  onReconnected(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The live connection, waiting for a reconnection until `deadline` (epoch ms); then a BrokerError. */
  async whenConnected(deadline: number, what: string): Promise<ChannelModel> {
    if (this.#model) return this.#model;
    if (this.#closed) throw brokerError(this.#target, `${what}: the transport is closed`);
    const model = await new Promise<ChannelModel | undefined>((resolve) => {
      const timer = setTimeout(() => finish(undefined), Math.max(0, deadline - Date.now()));
      const finish = (m: ChannelModel | undefined) => {
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== finish);
        resolve(m);
      };
      this.#waiters.push(finish);
    });
    if (model) return model;
    throw brokerError(
      this.#target,
      `${what}: no connection to RabbitMQ${this.#closed ? ' (transport closed)' : ''}`,
      this.#lastError,
      'is the broker running?',
    );
  }

  /** A separate connection with the same settings, for a step that could get a connection closed; the caller closes it. */
  openAnother(): Promise<ChannelModel> {
    return this.#open();
  }

  async createChannel(model: ChannelModel): Promise<Channel> {
    const channel = await model.createChannel();
    channel.on('error', () => {}); // reported through 'close'; without a listener amqplib would throw
    return channel;
  }

  async createConfirmChannel(model: ChannelModel): Promise<ConfirmChannel> {
    const channel = await model.createConfirmChannel();
    channel.on('error', () => {});
    return channel;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    for (const waiter of [...this.#waiters]) waiter(undefined);
    const model = this.#model;
    this.#model = undefined;
    if (model) {
      await closeQuietly(model);
      socketOf(model)?.destroy();
    }
  }

  /** Test hook: drop the socket as a network failure would (the broker requeues unacked deliveries). */
  destroySocket(): void {
    const stream = (this.#model?.connection as unknown as { stream?: { destroy(): void } } | undefined)
      ?.stream;
    stream?.destroy();
  }

  async #open(): Promise<ChannelModel> {
    const t = this.#target;
    return await amqp.connect(
      {
        protocol: t.protocol,
        hostname: t.hostname,
        port: t.port,
        username: t.username,
        password: t.password,
        vhost: t.vhost,
        heartbeat: this.#options.heartbeat,
      },
      {
        timeout: this.#options.connectTimeoutMs,
        clientProperties: { connection_name: `omnibus ${os.hostname()} pid ${process.pid}` },
      },
    );
  }

  #adopt(model: ChannelModel): void {
    this.#model = model;
    this.#attempt = 0;
    model.on('error', (error: Error) => {
      this.#lastError = error;
    });
    model.on('close', (error?: Error) => {
      if (error) this.#lastError = error;
      if (this.#model !== model) return;
      this.#model = undefined;
      if (this.#closed) return;
      this.#log('warn', 'connection lost — reconnecting', error);
      this.#scheduleReconnect();
    });
    for (const waiter of [...this.#waiters]) waiter(model);
  }

  #log(level: 'debug' | 'info' | 'warn', what: string, cause?: unknown): void {
    const reason = describeCause(this.#target, cause);
    const fields = { adapter: 'rabbitmq', broker: this.#target.display, ...(reason ? { reason } : {}) };
    this.#logger[level](fields, `[omnibus] [rabbitmq] ${what} (${this.#target.display})`);
  }

  #scheduleReconnect(): void {
    this.#attempt++;
    const base = Math.min(
      this.#options.reconnectMaxDelayMs,
      this.#options.reconnectDelayMs * 2 ** (this.#attempt - 1),
    );
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.#reconnectTimer = setTimeout(() => void this.#reconnect(), delay);
  }

  async #reconnect(): Promise<void> {
    if (this.#closed) return;
    let model: ChannelModel;
    try {
      model = await this.#open();
    } catch (error) {
      this.#lastError = error;
      if (this.#closed) return;
      this.#log('debug', `reconnect attempt ${this.#attempt} failed`, error);
      this.#scheduleReconnect();
      return;
    }
    if (this.#closed) {
      await closeQuietly(model);
      return;
    }
    this.#log('info', `reconnected after ${this.#attempt} attempt(s)`);
    this.#adopt(model);
    for (const listener of [...this.#listeners]) listener(model);
  }
}

function socketOf(model: ChannelModel): { destroy(): void } | undefined {
  return (model.connection as unknown as { stream?: { destroy(): void } }).stream;
}
