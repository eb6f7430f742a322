// The dependencies of every worker stage. They are passed in, so tests run the stages on their own database and streams.
import type { LocationIdCache } from "../cache/location-ids.ts";
import type { Config } from "../config.ts";
import type { Database } from "../db/client.ts";
import type { FileStore } from "../files/store.ts";
import type { Logger } from "../log.ts";
import type { Nats } from "../nats/connection.ts";
import type { Resolver } from "../resolver/types.ts";
import type { Metrics } from "../metrics.ts";

export interface WorkerDeps {
  config: Config;
  db: Database;
  nats: Nats;
  files: FileStore;
  resolver: Resolver;
  logger: Logger;
  metrics: Metrics;
  locationIds: LocationIdCache;
}

/** Delay before a failed message is delivered again: 1 s, 2 s, 4 s … capped at 30 s. */
export function retryDelayMs(deliveryCount: number): number {
  return Math.min(1000 * 2 ** Math.max(0, deliveryCount - 1), 30_000);
}
