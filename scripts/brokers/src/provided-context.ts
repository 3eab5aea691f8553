// Type of the value global-setup.ts provides to tests (vitest provide/inject).
import type { BrokerUrls } from './urls.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Broker URLs found by scripts/brokers/src/global-setup.ts; a missing key = no broker. */
    brokerUrls: BrokerUrls;
  }
}
