import { createRequire } from 'node:module';

/** The part of kafkajs's internal RequestQueue that the fix below reads and replaces. */
interface RequestQueue {
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  pending: unknown[];
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

/** kafkajs's own interval for re-checking a queue that has requests waiting (CHECK_PENDING_REQUESTS_INTERVAL). */
const CHECK_PENDING_MS = 10;
const fixed = Symbol.for('omnibus.kafka.nonNegativeTimeouts');

/**
 * kafkajs 2.2.x re-schedules its request queue check with `setTimeout(fn, throttledUntil - Date.now())`,
 * a negative delay whenever the broker is not throttling, and Node then prints a TimeoutNegativeWarning
 * on the service's stderr. kafkajs is no longer maintained, so the adapter replaces that one method with
 * the same logic and the delay clamped to 1 ms — what Node does with a negative delay anyway.
 */
export function avoidNegativeTimeouts(): void {
  const require = createRequire(import.meta.url);
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as {
    prototype: RequestQueue & { [fixed]?: true };
  };
  const proto = RequestQueue.prototype;
  if (proto[fixed] || typeof proto.scheduleCheckPendingRequests !== 'function') return;
  proto.scheduleCheckPendingRequests = function (this: RequestQueue) {
    if (this.throttleCheckTimeoutId) return;
    const untilThrottleEnds = this.throttledUntil - Date.now();
    const delay = this.pending.length > 0 && untilThrottleEnds <= 0 ? CHECK_PENDING_MS : untilThrottleEnds;
    this.throttleCheckTimeoutId = setTimeout(
      () => {
        this.throttleCheckTimeoutId = null;
        this.checkPendingRequests();
      },
      Math.max(1, delay),
    );
  };
  proto[fixed] = true;
}
