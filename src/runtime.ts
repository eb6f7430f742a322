// Process bootstrap shared by the entry points: config, connections, streams, migrations,
// the API server, the worker, and a clean shutdown on SIGTERM or SIGINT.
import { createApp } from "./api/app.ts";
import { LocationIdCache } from "./cache/location-ids.ts";
import { ConfigError, loadConfig, type Config } from "./config.ts";
import { closeDatabase, connectDatabase, migrateDatabase, type Database } from "./db/client.ts";
import { FileStore } from "./files/store.ts";
import { createLogger, describeError, type Logger } from "./log.ts";
import { createMetrics, type Metrics, type MetricsScope } from "./metrics.ts";
import { connectNats, ensureStreams, type Nats } from "./nats/connection.ts";
import { retryWhileUnavailable } from "./outage.ts";
import { loadEmbeddedResolver } from "./resolver/index.ts";
import { startWorker, type RunningWorker } from "./worker/worker.ts";

export interface Services {
  config: Config;
  logger: Logger;
  db: Database;
  nats: Nats;
  files: FileStore;
  metrics: Metrics;
}

/** Shutdown waits this long for in-flight work before the process exits anyway. */
const shutdownTimeoutMs = 30_000;

/**
 * Reads the configuration from the environment. An invalid variable ends the process with exit code 2
 * and its message, without a stack trace.
 */
export function configFromEnvironment(): Config {
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`invalid configuration: ${error.message}`);
    process.exit(2);
  }
}

/** Logs an error that escaped every handler as one fatal JSON line, then exits, so a crash is never silent. */
function logCrashes(logger: Logger): void {
  const crash = (kind: string) => (error: unknown) => {
    logger.fatal({ err: describeError(error), stack: error instanceof Error ? error.stack : undefined }, kind);
    process.exit(1);
  };
  process.on("uncaughtException", crash("uncaught exception, exiting"));
  process.on("unhandledRejection", crash("unhandled promise rejection, exiting"));
}

/**
 * Migrates the database, connects to Postgres and NATS, and creates or updates the streams. Each step
 * is tried again while Postgres or NATS is unreachable, so processes may start before the servers do.
 */
export async function openServices(config: Config, name: string, metricsScope: MetricsScope = "both"): Promise<Services> {
  const logger = createLogger(config.logLevel, name);
  logCrashes(logger);
  const waitFor = <T>(what: string, step: () => Promise<T>) =>
    retryWhileUnavailable(what, step, (error, delayMs) =>
      logger.warn({ err: describeError(error), retry_in_ms: delayMs }, `${what} failed, retrying`),
    );
  await waitFor("database migration", () => migrateDatabase(config.databaseUrl));
  const db = connectDatabase(config.databaseUrl);
  const nats = await waitFor("NATS connection", () => connectNats(config, name));
  await waitFor("stream set-up", () => ensureStreams(nats, config));
  return { config, logger, db, nats, files: new FileStore(config, nats), metrics: createMetrics(metricsScope) };
}

export async function closeServices(services: Services): Promise<void> {
  await services.nats.connection.drain();
  await closeDatabase(services.db);
}

export function serveApi(services: Services, jwtSecret: string) {
  const app = createApp({ ...services, jwtSecret });
  app.listen({
    hostname: services.config.host,
    port: services.config.port,
    // Bun's default cap of 128 MiB would cut uploads short of MAX_FILE_BYTES.
    maxRequestBodySize: services.config.maxFileBytes + 1024 * 1024,
    // Elysia 1.4 turns SO_REUSEPORT on, so a second API on a taken port would share it silently
    // instead of failing to start.
    reusePort: false,
  });
  services.logger.info({ url: `http://${services.config.host}:${app.server?.port}` }, "api listening");
  return app;
}

/**
 * Serves this worker's Prometheus metrics (row counts, stage latencies, process figures) on
 * WORKER_METRICS_PORT, because a worker has no API. Returns null when the port is 0 or cannot be bound,
 * so a second worker on the same host runs without its own endpoint instead of failing to start.
 */
export function serveWorkerMetrics(services: Services): { stop(): void } | null {
  const { config, logger, metrics } = services;
  if (config.workerMetricsPort === 0) return null;
  try {
    const server = Bun.serve({
      hostname: config.host,
      port: config.workerMetricsPort,
      async fetch(request) {
        if (new URL(request.url).pathname !== "/metrics") return new Response("not found: the metrics are at /metrics\n", { status: 404 });
        return new Response(await metrics.registry.metrics(), { headers: { "content-type": metrics.registry.contentType } });
      },
    });
    logger.info({ url: `http://${config.host}:${server.port}/metrics` }, "worker metrics listening");
    return { stop: () => void server.stop(true) };
  } catch (error) {
    logger.warn(
      { err: describeError(error), port: config.workerMetricsPort },
      "worker metrics port unavailable, so this worker serves no metrics; set WORKER_METRICS_PORT to a free port",
    );
    return null;
  }
}

/**
 * Parts of the API's Elysia instance that stopApi uses, typed structurally so that an app with extra routes
 * stops the same way.
 */
interface StoppableApi {
  decorator: { progressHub: { close(): void } };
  server: { stop(closeActiveConnections?: boolean): Promise<void>; pendingRequests: number } | null;
  stop(): Promise<unknown>;
}

/**
 * Time in ms that open responses, such as a download, get to finish when the API stops. After it, their
 * connections are closed.
 */
const responseGraceMs = 5000;

/**
 * Stops the API. Progress streams end at once, because they would never finish on their own. Other
 * responses get `responseGraceMs` to finish, so a slow download cannot hold the shutdown until its timeout.
 */
export async function stopApi(app: StoppableApi, logger: Logger): Promise<void> {
  app.decorator.progressHub.close();
  const server = app.server;
  const timer = setTimeout(() => {
    logger.warn({ grace_ms: responseGraceMs, pending_requests: server?.pendingRequests }, "closing responses still open at shutdown");
    void server?.stop(true);
  }, responseGraceMs);
  try {
    await app.stop();
  } finally {
    clearTimeout(timer);
  }
}

export async function runWorker(services: Services): Promise<RunningWorker> {
  const started = performance.now();
  const resolver = loadEmbeddedResolver();
  services.logger.info({ seconds: Number(((performance.now() - started) / 1000).toFixed(2)) }, "gazetteer loaded");
  const locationIds = new LocationIdCache(services.config.redisUrl, services.logger);
  await locationIds.connect(services.db, services.config.natsPrefix);
  const worker = await retryWhileUnavailable(
    "worker start",
    () => startWorker({ ...services, resolver, locationIds }),
    (error, delayMs) => services.logger.warn({ err: describeError(error), retry_in_ms: delayMs }, "worker start failed, retrying"),
  );
  return {
    async stop() {
      await worker.stop();
      await locationIds.close();
    },
  };
}

/** Runs `stop` on the first SIGTERM or SIGINT, then exits; a second signal or the timeout exits at once. */
export function onShutdown(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, "shutting down");
    const timer = setTimeout(() => {
      logger.error({ timeout_ms: shutdownTimeoutMs }, "shutdown timed out, exiting");
      process.exit(1);
    }, shutdownTimeoutMs);
    stop()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error({ err: describeError(error) }, "shutdown failed");
        process.exit(1);
      })
      .finally(() => clearTimeout(timer));
  };
  process.on("SIGTERM", () => handler("SIGTERM"));
  process.on("SIGINT", () => handler("SIGINT"));
}
