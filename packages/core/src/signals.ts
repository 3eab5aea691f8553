/** How `bus.closeOnSignals()` shuts a service down. */
export interface SignalOptions {
  /** Signals that start the shutdown. @default ['SIGTERM', 'SIGINT'] */
  signals?: NodeJS.Signals[];
  /**
   * The grace period: `close({ timeoutMs })` — running handlers get this long, then their events go back to
   * the broker. Keep it under the platform's own (Kubernetes: `terminationGracePeriodSeconds`, 30 s). @default 10000
   */
  timeoutMs?: number;
  /**
   * Called once the bus is closed, with the error if closing failed. @default exits the process: code 0, or
   * 1 after a failure
   */
  onClosed?: (error?: unknown) => void;
  /** Where signals come from (tests pass their own emitter). @default process */
  source?: Pick<NodeJS.Process, 'once' | 'removeListener'>;
}

/** See `Bus.closeOnSignals`. */
export function closeOnSignals(
  bus: { close(options: { timeoutMs?: number }): Promise<void> },
  options: SignalOptions = {},
): () => void {
  const {
    signals = ['SIGTERM', 'SIGINT'],
    timeoutMs = 10_000,
    onClosed = (error?: unknown) => process.exit(error === undefined ? 0 : 1),
    source = process,
  } = options;
  let closing = false;
  const onSignal = () => {
    if (closing) {
      // A second signal: the operator wants out now.
      onClosed(new Error('a second signal arrived while closing'));
      return;
    }
    closing = true;
    for (const signal of signals) source.once(signal, onSignal); // listen for the second one
    bus.close({ timeoutMs }).then(
      () => onClosed(),
      (error: unknown) => onClosed(error ?? new Error('close failed')),
    );
  };
  for (const signal of signals) source.once(signal, onSignal);
  return () => {
    for (const signal of signals) source.removeListener(signal, onSignal);
  };
}
