/**
 * `bus.health()`: a synchronous, allocation-light snapshot for liveness and readiness probes — what the
 * bus already knows, no broker round trip.
 */

/** The connection as the adapter reports it; `unknown` when the adapter does not (see `Transport.health`). */
export type ConnectionState = 'up' | 'connecting' | 'down' | 'unknown';

export interface SubscriptionHealth {
  topic: string;
  group: string;
  /** `running` until `close()` is called; `closing` while it waits for handlers. */
  state: 'running' | 'closing';
  /** Handler runs in progress. */
  inFlight: number;
  /** Deliveries held: running, waiting for their key, or in backoff between attempts. */
  held: number;
  /** The last error the adapter reported for this subscription (e.g. a consumer that cannot rejoin). */
  lastError?: { message: string; at: Date };
}

export interface BusHealth {
  /**
   * True when the bus is open, its connection is `up` (or `unknown`), and no subscription reported an
   * error within the last minute. A liveness probe can return 503 when false.
   */
  healthy: boolean;
  /** Adapter name, e.g. `kafka`. */
  transport: string;
  /** Closed buses report `down`. */
  connection: ConnectionState;
  /** The adapter's detail about the connection, when it gives one. */
  detail?: string;
  /** Publishes handed to the broker and not confirmed yet. */
  pendingPublishes: number;
  subscriptions: SubscriptionHealth[];
}

/** How long a subscription's reported error keeps the bus unhealthy. */
export const RECENT_ERROR_MS = 60_000;

/** Puts together what the bus, its transport and its consumers know. */
export function busHealth(
  transport: { name: string; health?(): { connection: 'up' | 'connecting' | 'down'; detail?: string } },
  closed: boolean,
  pendingPublishes: number,
  subscriptions: SubscriptionHealth[],
): BusHealth {
  const reported = closed ? undefined : transport.health?.();
  const connection: ConnectionState = closed ? 'down' : (reported?.connection ?? 'unknown');
  const since = Date.now() - RECENT_ERROR_MS;
  const healthy =
    !closed &&
    (connection === 'up' || connection === 'unknown') &&
    subscriptions.every((s) => s.lastError === undefined || s.lastError.at.getTime() < since);
  const health: BusHealth = {
    healthy,
    transport: transport.name,
    connection,
    pendingPublishes,
    subscriptions,
  };
  if (reported?.detail) health.detail = reported.detail;
  return health;
}
