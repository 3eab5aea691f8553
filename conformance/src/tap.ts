import type {
  Delivery,
  OutgoingMessage,
  SubscribeRequest,
  Transport,
  TransportSubscription,
} from '@omnibus/core';

const DONE = Promise.resolve();

/** A delivery that stops reaching the broker once its instance "died": a zombie's late ack settles nothing. */
class MortalDelivery implements Delivery {
  readonly #inner: Delivery;
  readonly #dead: () => boolean;
  constructor(inner: Delivery, dead: () => boolean) {
    this.#inner = inner;
    this.#dead = dead;
  }
  get key() {
    return this.#inner.key;
  }
  get body() {
    return this.#inner.body;
  }
  get headers() {
    return this.#inner.headers;
  }
  get deliveryCount() {
    return this.#inner.deliveryCount;
  }
  get revoked() {
    return this.#inner.revoked;
  }
  get touch() {
    const touch = this.#inner.touch;
    return touch && (() => (this.#dead() ? DONE : touch.call(this.#inner)));
  }
  ack() {
    return this.#dead() ? DONE : this.#inner.ack();
  }
  release() {
    return this.#dead() ? DONE : this.#inner.release();
  }
}

/**
 * The harness's view of a transport: remembers what was provisioned (so the case can delete it) and, for
 * in-process brokers, can "crash" — drop every consumer without settling anything, as a killed process
 * would, while the abandoned handlers may still run and try to ack.
 */
export class TappedTransport implements Transport {
  readonly #inner: Transport;
  readonly #provisioned: Map<string, Set<string>>;
  readonly #mortal: boolean;
  readonly #subscriptions = new Set<TransportSubscription>();
  #dead = false;

  constructor(inner: Transport, provisioned: Map<string, Set<string>>, mortal: boolean) {
    this.#inner = inner;
    this.#provisioned = provisioned;
    this.#mortal = mortal;
    if (inner.publishBatch) this.publishBatch = (messages) => inner.publishBatch!(messages);
  }

  get name() {
    return this.#inner.name;
  }
  get capabilities() {
    return this.#inner.capabilities;
  }
  publishBatch?: Transport['publishBatch'];

  connect() {
    return this.#inner.connect();
  }

  publish(message: OutgoingMessage) {
    return this.#inner.publish(message);
  }

  provision(topic: string, groups: string[]) {
    const known = this.#provisioned.get(topic) ?? new Set<string>();
    for (const group of groups) known.add(group);
    this.#provisioned.set(topic, known);
    return this.#inner.provision(topic, groups);
  }

  async subscribe(request: SubscribeRequest): Promise<TransportSubscription> {
    const dead = () => this.#dead;
    const onDelivery = this.#mortal
      ? (delivery: Delivery) => request.onDelivery(new MortalDelivery(delivery, dead))
      : request.onDelivery;
    const subscription = await this.#inner.subscribe({ ...request, onDelivery });
    this.#subscriptions.add(subscription);
    return subscription;
  }

  close() {
    return this.#inner.close();
  }

  /** In-process crash: consumers vanish without settling; what they held goes back to the broker. */
  async crash(): Promise<void> {
    this.#dead = true;
    await Promise.allSettled([...this.#subscriptions].map((s) => s.close()));
    await this.#inner.close();
  }
}
