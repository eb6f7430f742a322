// The dependencies of the HTTP API. They are passed in, so tests run it on their own database and streams.
import type { Config } from "../config.ts";
import type { Database } from "../db/client.ts";
import type { FileStore } from "../files/store.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Nats } from "../nats/connection.ts";

export interface ApiDeps {
  config: Config;
  /** The admin token secret: the configured one, or one made for this process's lifetime. */
  jwtSecret: string;
  db: Database;
  nats: Nats;
  files: FileStore;
  logger: Logger;
  metrics: Metrics;
}
