// The service's configuration: parsed from the environment once, at start, and passed on.
// No other module reads process.env or Bun.env.

export interface Config {
  nodeEnv: string;
  host: string;
  port: number;
  databaseUrl: string;
  natsUrl: string;
  redisUrl: string;
  /** HS256 secret of admin tokens; null when unset, and `bun run start` then makes one for its lifetime. */
  jwtSecret: string | null;
  /** Prefix of every JetStream stream, consumer, bucket and work subject, so deployments can share a nats-server. */
  natsPrefix: string;
  /** Event subjects are `<eventSubjectPrefix>.scheduled` and so on. */
  eventSubjectPrefix: string;
  eventsMaxAgeMs: number;
  /** Window in which the events and work streams drop a message whose id they have seen. */
  duplicateWindowMs: number;
  /** When set, files are fetched from this URL (with `{hash}` replaced) instead of the built-in store. */
  filesServiceUrl: string | null;
  filesServiceToken: string | null;
  maxFileBytes: number;
  maxRowsPerFile: number;
  /** Rows a worker pulls, resolves and writes in one transaction. */
  rowBatchSize: number;
  ackWaitMs: number;
  /** Deliveries of one message before it is given up: a row then counts as failed, a file fails its job. */
  maxDeliveries: number;
  /** A job whose counts have not moved for this long is checked and driven on by the sweeper. */
  stalledJobMs: number;
  logLevel: "debug" | "info" | "warn" | "error";
  /** Port on which `bun run worker` serves its own /metrics, or 0 to turn that endpoint off. */
  workerMetricsPort: number;
  /** The service `bun run batch` talks to. */
  batchServiceUrl: string;
  /** The admin token `bun run batch` sends; null to sign one with jwtSecret or read the local token file. */
  batchToken: string | null;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

type Env = Record<string, string | undefined>;

function text(env: Env, name: string, fallback: string): string {
  const value = env[name]?.trim();
  return value ? value : fallback;
}

function optionalText(env: Env, name: string): string | null {
  const value = env[name]?.trim();
  return value ? value : null;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number, breaks: string): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}": it sets ${breaks}`);
  }
  return value;
}

function url(env: Env, name: string, fallback: string, protocols: string[]): string {
  const value = text(env, name, fallback);
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(`${name} is not a valid URL: expected something like ${fallback}`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must use ${protocols.join(" or ")}, got ${parsed.protocol}`);
  }
  return value;
}

/** Parses and checks the environment; throws ConfigError naming the variable and what it would have broken. */
export function loadConfig(env: Env): Config {
  const natsPrefix = text(env, "NATS_PREFIX", "location_batch");
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(natsPrefix)) {
    throw new ConfigError(`NATS_PREFIX must be 1 to 32 letters, digits, "_" or "-", got "${natsPrefix}": it names every stream and consumer`);
  }
  const eventSubjectPrefix = text(env, "EVENT_SUBJECT_PREFIX", "location.batch");
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(eventSubjectPrefix)) {
    throw new ConfigError(`EVENT_SUBJECT_PREFIX must be dot-separated NATS subject tokens without wildcards, got "${eventSubjectPrefix}"`);
  }

  const filesServiceUrl = optionalText(env, "FILES_SERVICE_URL");
  if (filesServiceUrl !== null && !filesServiceUrl.includes("{hash}")) {
    throw new ConfigError(`FILES_SERVICE_URL must contain "{hash}" where the file hash goes, got "${filesServiceUrl}"`);
  }

  const logLevel = text(env, "LOG_LEVEL", "info");
  if (logLevel !== "debug" && logLevel !== "info" && logLevel !== "warn" && logLevel !== "error") {
    throw new ConfigError(`LOG_LEVEL must be debug, info, warn or error, got "${logLevel}"`);
  }

  return {
    nodeEnv: text(env, "NODE_ENV", "development"),
    host: text(env, "HOST", "127.0.0.1"),
    port: integer(env, "PORT", 3000, 0, 65535, "the HTTP port of the API"),
    databaseUrl: url(env, "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/location_batch", ["postgres:", "postgresql:"]),
    natsUrl: url(env, "NATS_URL", "nats://127.0.0.1:4222", ["nats:", "tls:"]),
    redisUrl: url(env, "REDIS_URL", "redis://127.0.0.1:6379", ["redis:", "rediss:"]),
    jwtSecret: optionalText(env, "JWT_SECRET"),
    natsPrefix,
    eventSubjectPrefix,
    eventsMaxAgeMs: integer(env, "EVENTS_MAX_AGE_HOURS", 168, 1, 24 * 365, "how long events stay replayable") * 3_600_000,
    duplicateWindowMs: integer(env, "DUPLICATE_WINDOW_SECONDS", 600, 10, 86_400, "how long a repeated publish is recognised and dropped") * 1000,
    filesServiceUrl,
    filesServiceToken: optionalText(env, "FILES_SERVICE_TOKEN"),
    maxFileBytes: integer(env, "MAX_FILE_BYTES", 256 * 1024 * 1024, 1, 2 ** 40, "the largest file accepted"),
    maxRowsPerFile: integer(env, "MAX_ROWS", 5_000_000, 1, 100_000_000, "the most rows a file may have"),
    rowBatchSize: integer(env, "ROW_BATCH_SIZE", 500, 1, 5000, "how many rows one transaction writes"),
    ackWaitMs: integer(env, "ACK_WAIT_SECONDS", 30, 1, 3600, "how long a worker may hold a message before it is delivered again") * 1000,
    maxDeliveries: integer(env, "MAX_DELIVERIES", 5, 1, 100, "how often a message is tried before it is given up"),
    stalledJobMs: integer(env, "STALLED_JOB_SECONDS", 60, 5, 86_400, "when a job whose counts stopped moving is driven on") * 1000,
    logLevel,
    workerMetricsPort: integer(env, "WORKER_METRICS_PORT", 9464, 0, 65535, "the port of a worker's Prometheus metrics"),
    batchServiceUrl: url(env, "LOCATION_BATCH_URL", "http://127.0.0.1:3000", ["http:", "https:"]),
    batchToken: optionalText(env, "LOCATION_BATCH_TOKEN"),
  };
}

/** Path, relative to the working directory, of the admin token `bun run start` writes when it made its own secret. */
export const localTokenFile = ".location-batch-token";

export function isProduction(config: Config): boolean {
  return config.nodeEnv === "production";
}
