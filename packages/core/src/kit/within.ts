/**
 * True if `promise` settles (fulfilled or rejected) within `ms`, false on time-out; the timer is cleared
 * either way and `promise` is left running. For bounded waits: a heartbeat between settles, a close that
 * stops waiting for a broker that no longer answers.
 */
export function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    promise.then(done, done);
  });
}
