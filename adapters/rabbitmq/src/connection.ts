import os from 'node:os';
import { BrokerError } from '@omnibus/core';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { ConnectTarget, RabbitMqOptions } from './options.ts';

/** `[omnibus] [rabbitmq] <what> (<broker>) — <cause>`, with the password scrubbed from the cause. */
export function brokerError(
  target: ConnectTarget,
  what: string,
  cause?: unknown,
  hint?: string,
): BrokerError {
  let reason = cause instanceof Error ? cause.message : cause === undefined ? '' : String(cause);
  if (target.password.length >= 3) reason = reason.split(target.password).join('***');
  const message = `[rabbitmq] ${what} (${target.display})${reason ? ` — ${reason}` : ''}${hint ? ` — ${hint}` : ''}`;
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
 * `onConnected` listener runs again so publishers and subscriptions re-declare and resume.
 */
export class ConnectionManager {
  readonly #target: ConnectTarget;
  readonly #options: RabbitMqOptions;
  readonly #listeners = new Set<Listener>();
  #model: ChannelModel | undefined;
  #waiters: Array<(model: ChannelModel | undefined) => void> = [];
  #closed = false;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #attempt = 0;
  /** Last reason the connection went away, for errors raised while it is down. */
  #lastError: unknown;

  constructor(target: ConnectTarget, options: RabbitMqOptions) {
    this.#target = target;
    this.#options = options;
  }

  get target(): ConnectTarget {
    return this.#target;
  }

  get closed(): boolean {
    return this.#closed;
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
      throw brokerError(
        this.#target,
        'cannot connect to RabbitMQ',
        error,
        'is the broker running? (pnpm brokers:up)',
      );
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
      if (!this.#closed) this.#scheduleReconnect();
    });
    for (const waiter of [...this.#waiters]) waiter(model);
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
      if (!this.#closed) this.#scheduleReconnect();
      return;
    }
    if (this.#closed) {
      await closeQuietly(model);
      return;
    }
    this.#adopt(model);
    for (const listener of [...this.#listeners]) listener(model);
  }
}

function socketOf(model: ChannelModel): { destroy(): void } | undefined {
  return (model.connection as unknown as { stream?: { destroy(): void } }).stream;
}
