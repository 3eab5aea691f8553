import { describe, expect, it } from 'vitest';
import { LeaseKeeper } from '../src/lease-keeper.ts';
import type { Delivery } from '../src/transport.ts';

/** A delivery whose touches stay on their way until the test answers them. */
function leased() {
  const answers: { resolve: () => void; reject: (error: Error) => void }[] = [];
  const delivery = {
    body: new Uint8Array(),
    headers: {},
    touch: () => new Promise<void>((resolve, reject) => answers.push({ resolve, reject })),
    ack: async () => {},
    release: async () => {},
  } as Delivery;
  return { delivery, answers };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('LeaseKeeper', () => {
  it('marks a lease lost and says so when a touch of a held delivery is refused', async () => {
    const errors: Error[] = [];
    const keeper = new LeaseKeeper(30, (error) => errors.push(error));
    const { delivery, answers } = leased();
    keeper.hold(delivery);
    await until(() => answers.length === 1);
    answers[0]!.reject(new Error('ReceiptHandleIsInvalid'));
    await until(() => errors.length === 1);
    expect(keeper.lost(delivery)).toBe(true);
    expect(errors[0]!.message).toMatch(/lost the lease of a delivery.*ReceiptHandleIsInvalid/);
    keeper.stop();
  });

  it('ignores a refused touch once the delivery was settled and dropped (the ack or hand-back won the race)', async () => {
    const errors: Error[] = [];
    const keeper = new LeaseKeeper(30, (error) => errors.push(error));
    const { delivery, answers } = leased();
    keeper.hold(delivery);
    await until(() => answers.length === 1);
    keeper.drop(delivery);
    answers[0]!.reject(new Error('ReceiptHandleIsInvalid'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(errors).toEqual([]);
    expect(keeper.lost(delivery)).toBe(false);
    keeper.stop();
  });
});
