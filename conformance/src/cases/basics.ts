import { encodedSize, MessageTooLargeError, ValidationError } from '@omnibus/core';
import { type ConformanceCase, check, Ledger, sleep, testContract } from '../harness.ts';

const roundTrip: ConformanceCase = {
  name: 'round-trip',
  requires: [],
  timeoutMs: 60_000,
  async run(ctx) {
    const contract = testContract(ctx.topic());
    const bus = await ctx.bus();
    const received = new Map<
      string,
      { event: unknown; key?: string; headers: Record<string, string>; type: string; time: Date | undefined }
    >();
    await bus.subscribe(contract, { group: 'g' }, (event, c) => {
      received.set(c.id, { event, key: c.key, headers: c.headers, type: c.type, time: c.time });
    });
    const headers = { 'x-trace': 'abc-123', 'x-greeting': 'Grüße, 世界 🚀' };
    const sent = new Map<string, { seq: number; key: string; time: Date }>();
    for (let seq = 0; seq < 100; seq++) {
      const key = `k${seq % 7}`;
      const time = new Date(Date.UTC(2026, 0, 1, 0, 0, seq));
      const { id } = await bus.publish(
        contract,
        { seq, key, payload: `payload ${seq} ✓` },
        { key, headers, time },
      );
      sent.set(id, { seq, key, time });
    }
    await ctx.waitFor(
      () => received.size >= 100,
      () => `${100 - received.size} of 100 events not received`,
    );
    for (const [id, s] of sent) {
      const r = received.get(id);
      check(r, () => `event ${id} (seq ${s.seq}) never arrived`);
      check(
        JSON.stringify(r.event) === JSON.stringify({ seq: s.seq, key: s.key, payload: `payload ${s.seq} ✓` }),
        () => `payload of seq ${s.seq} changed: ${JSON.stringify(r.event)}`,
      );
      check(r.key === s.key, () => `key of seq ${s.seq}: expected ${s.key}, got ${r.key}`);
      check(r.type === contract.type, () => `type: got ${r.type}`);
      check(
        r.time?.getTime() === s.time.getTime(),
        () => `time of seq ${s.seq}: expected ${s.time.toISOString()}, got ${r.time}`,
      );
      check(
        JSON.stringify(r.headers) === JSON.stringify(headers),
        () => `headers of seq ${s.seq}: ${JSON.stringify(r.headers)}`,
      );
    }
  },
};

const topicIsolation: ConformanceCase = {
  name: 'topic-isolation',
  requires: [],
  timeoutMs: 90_000,
  async run(ctx) {
    const a = testContract(ctx.topic('a'));
    const b = testContract(ctx.topic('b'));
    const c = testContract(ctx.topic('c'));
    const bus = await ctx.bus();
    // One service group on two topics (a common shape: `billing` reads orders and refunds), plus a
    // topic nobody in that group reads. Each subscription must get all of its topic and nothing else.
    const seenB: string[] = [];
    const seenC: string[] = [];
    await bus.provision(a, { groups: ['g'] });
    await bus.subscribe(b, { group: 'g' }, (event) => void seenB.push(event.payload));
    await bus.subscribe(c, { group: 'g' }, (event) => void seenC.push(event.payload));
    for (let i = 0; i < 50; i++) {
      await bus.publish(a, { seq: i, key: `k${i}`, payload: 'A' }, { key: `k${i}` });
      await bus.publish(b, { seq: i, key: `k${i}`, payload: 'B' }, { key: `k${i}` });
      await bus.publish(c, { seq: i, key: `k${i}`, payload: 'C' }, { key: `k${i}` });
    }
    await ctx.waitFor(
      () => seenB.length >= 50 && seenC.length >= 50,
      () => `${seenB.length} of 50 topic-B and ${seenC.length} of 50 topic-C events received by group g`,
    );
    await sleep(500); // absence check: give stray events time to show up
    check(
      seenB.length === 50 && seenB.every((p) => p === 'B'),
      () => `subscriber of B saw ${JSON.stringify(seenB.filter((p) => p !== 'B'))}`,
    );
    check(
      seenC.length === 50 && seenC.every((p) => p === 'C'),
      () => `subscriber of C saw ${JSON.stringify(seenC.filter((p) => p !== 'C'))}`,
    );
  },
};

const largeAndEmpty: ConformanceCase = {
  name: 'large-and-empty-payloads',
  requires: [],
  timeoutMs: 60_000,
  async run(ctx) {
    const contract = testContract(ctx.topic());
    const bus = await ctx.bus();
    const limit = bus.capabilities.maxMessageBytes;
    const got: string[] = [];
    await bus.subscribe(contract, { group: 'g' }, (event) => void got.push(event.payload));
    // A group that rejects big events: the at-limit event must still fit in the dead-letter topic.
    const deadLetters: number[] = [];
    if (ctx.capabilities.deadLetter) {
      await bus.subscribe(contract, { group: 'rejects-big', maxAttempts: 1 }, (event) => {
        if (event.payload.length > 0) throw new Error('too big to handle');
      });
      await bus.subscribeDeadLetters(contract, {}, (letter) => void deadLetters.push(letter.body.byteLength));
    }
    const options = { key: 'k', id: '00000000-0000-4000-8000-000000000000', time: new Date(0) };
    // Grow the payload until the encoded message is exactly at the limit.
    const size = (n: number): number => {
      try {
        const m = bus.encode(contract, { seq: 1, key: 'k', payload: 'x'.repeat(n) }, options);
        return encodedSize(m.body, m.headers, m.key);
      } catch (error) {
        if (error instanceof MessageTooLargeError) return error.bytes;
        throw error;
      }
    };
    // Size grows by one byte per character (plus the length's varint), so start near and step to the limit.
    let length = Math.max(0, limit - size(0));
    while (length > 0 && size(length) > limit) length--;
    while (size(length + 1) <= limit) length++;
    check(
      size(length) >= limit - 2,
      () => `could not build a message at the limit (${size(length)} of ${limit})`,
    );
    await bus.publish(contract, { seq: 0, key: 'k', payload: '' }, { key: 'k' });
    await bus.publish(contract, { seq: 1, key: 'k', payload: 'x'.repeat(length) }, options);
    let rejected: unknown;
    try {
      await bus.publish(contract, { seq: 2, key: 'k', payload: 'x'.repeat(length + 10) }, options);
    } catch (error) {
      rejected = error;
    }
    check(
      rejected instanceof MessageTooLargeError,
      () => `an over-limit event was not rejected with MessageTooLargeError: ${rejected}`,
    );
    check(/bytes/.test((rejected as Error).message), () => 'the size error does not say the size');
    await ctx.waitFor(
      () => got.length >= 2,
      () => `${got.length} of 2 events (empty, at-limit) received`,
    );
    if (ctx.capabilities.deadLetter) {
      await ctx.waitFor(
        () => deadLetters.length >= 1,
        () => 'the rejected at-limit event never reached the dead-letter topic',
      );
      const atLimitBody = bus.encode(contract, { seq: 1, key: 'k', payload: 'x'.repeat(length) }, options)
        .body.byteLength;
      check(
        deadLetters[0] === atLimitBody,
        () => `dead letter body is ${deadLetters[0]} bytes, the event was ${atLimitBody}`,
      );
    }
    await sleep(300);
    check(
      got.length === 2 && got[0] === '' && got[1]!.length === length,
      () => `received ${got.length} events, lengths ${got.map((p) => p.length)}`,
    );
  },
};

const invalidPayload: ConformanceCase = {
  name: 'schema-invalid-payload',
  requires: [],
  timeoutMs: 30_000,
  async run(ctx) {
    const contract = testContract(ctx.topic());
    const bus = await ctx.bus();
    const got: number[] = [];
    await bus.subscribe(contract, { group: 'g' }, (event) => void got.push(event.seq));
    let error: unknown;
    try {
      await bus.publish(contract, { seq: 1, key: 'k', payload: 42 } as never);
    } catch (e) {
      error = e;
    }
    check(
      error instanceof ValidationError && error.code === 'VALIDATION',
      () => `expected ValidationError, got ${error}`,
    );
    check(
      error.issues.some((i) => i.path.join('.') === 'payload') && /payload/.test(error.message),
      () => `error does not name the field: ${error.message}`,
    );
    await bus.publish(contract, { seq: 2, key: 'k', payload: 'valid' });
    await ctx.waitFor(
      () => got.length >= 1,
      () => 'the valid marker event never arrived',
    );
    await sleep(300);
    check(
      JSON.stringify(got) === '[2]',
      () => `the broker received an invalid event: ${JSON.stringify(got)}`,
    );
  },
};

const throughputSmoke: ConformanceCase = {
  name: 'throughput-smoke',
  requires: [],
  timeoutMs: 300_000,
  async run(ctx) {
    const contract = testContract(ctx.topic());
    const bus = await ctx.bus();
    const ledger = new Ledger();
    await bus.subscribe(contract, { group: 'g', concurrency: 32 }, (_e, c) => ledger.complete(c.id));
    const ids: Promise<{ id: string }>[] = [];
    for (let seq = 0; seq < 10_000; seq++) {
      ids.push(bus.publish(contract, { seq, key: `k${seq % 100}`, payload: 'p' }, { key: `k${seq % 100}` }));
      if (ids.length === 500) for (const { id } of await Promise.all(ids.splice(0))) ledger.published.add(id);
    }
    for (const { id } of await Promise.all(ids)) ledger.published.add(id);
    await ctx.waitFor(
      () => ledger.done(),
      () => ledger.describe(),
      240_000,
    );
  },
};

export const basicCases = [roundTrip, topicIsolation, invalidPayload, largeAndEmpty, throughputSmoke];
