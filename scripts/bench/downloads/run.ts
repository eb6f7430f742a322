// Runs the downloads benchmark at one job size. It seeds one complete job into a fresh database
// and starts the API as a child process, on the machine's NATS under a prefix of its own. It then times
// both downloads and the paginated results while the API's memory is sampled. Everything the run made
// is removed when it ends, however it ends.
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { signAdminToken } from "../../../src/api/auth.ts";
import { closeDatabase, connectDatabase, migrateDatabase } from "../../../src/db/client.ts";
import { natsNames } from "../../../src/nats/names.ts";
import { withCleanup, type Cleanup } from "../../support/cleanup.ts";
import { databaseUrl, randomHex, serviceEnvironment, type ServiceSettings } from "../../support/environment.ts";
import { freePort, loopback, waitForHealthy } from "../../support/processes.ts";
import type { Workspace } from "../../support/run-script.ts";
import { ApiClient } from "../api-client.ts";
import { createDatabase, ServiceProcesses } from "../environment.ts";
import { readResidentMemory, type ResidentMemory } from "./memory.ts";
import { seedCompleteJob, type SeededJob } from "./seed.ts";
import { timeDownload, timePageWalk, type DownloadFigures, type PageWalkFigures } from "./transfer.ts";
import type { ValuePools } from "./values.ts";

export const natsUrl = `nats://${loopback}:4222`;
const startupTimeoutMs = 60_000;

export interface DownloadRunResult {
  rows: number;
  seed: SeededJob;
  /** The API's memory once it is healthy, before the first download. */
  apiAtStart: ResidentMemory;
  csv: DownloadFigures;
  ndjson: DownloadFigures;
  pages: PageWalkFigures;
}

export interface DownloadRunRequest {
  rows: number;
  pools: ValuePools;
  workspace: Workspace;
  timeLimitMs: number;
  /** Aborted on SIGINT or SIGTERM. */
  signal: AbortSignal;
}

/**
 * Deletes the streams and the files bucket that the API creates under the run's prefix on the machine's
 * nats-server. A stream that was never created is not a failure.
 */
async function deleteStreams(prefix: string, eventSubjectPrefix: string): Promise<void> {
  const names = natsNames(prefix, eventSubjectPrefix);
  const connection = await connect({ servers: natsUrl, name: `bench-downloads-cleanup-${prefix}` });
  try {
    const jsm = await jetstreamManager(connection);
    // An Object Store bucket is stored in the stream OBJ_<bucket>.
    for (const stream of [names.workStream, names.eventsStream, `OBJ_${names.filesBucket}`]) {
      try {
        await jsm.streams.delete(stream);
      } catch (error) {
        if (!/not found/i.test((error as Error).message)) throw new Error(`deleting stream ${stream} failed: ${(error as Error).message}`);
      }
    }
  } finally {
    await connection.close();
  }
}

/** Creates and migrates the run's database and seeds the job, closing the connection however the seeding ends. */
async function prepareDatabase(cleanup: Cleanup, name: string, request: DownloadRunRequest, signal: AbortSignal): Promise<SeededJob> {
  await createDatabase(cleanup, name);
  await migrateDatabase(databaseUrl(name));
  const db = connectDatabase(databaseUrl(name), 1);
  try {
    return await seedCompleteJob(db, request.rows, request.pools, signal);
  } finally {
    await closeDatabase(db);
  }
}

/** Runs the benchmark at one job size. Throws when a step fails, after removing what the run made. */
export function runDownloads(request: DownloadRunRequest): Promise<DownloadRunResult> {
  const { rows, workspace } = request;
  const label = `${rows} rows`;
  const signal = AbortSignal.any([request.signal, AbortSignal.timeout(request.timeLimitMs)]);

  return withCleanup(async (cleanup) => {
    const name = `bench_dl_${randomHex(5)}`;
    const settings: ServiceSettings = { databaseName: name, natsPrefix: name, natsUrl, jwtSecret: randomHex(32), apiPort: freePort() };
    // The stream cleanup is registered first, so it runs last, after the API has stopped.
    const eventSubjectPrefix = serviceEnvironment(settings).EVENT_SUBJECT_PREFIX!;
    cleanup.add(`delete the streams of ${name}`, () => deleteStreams(name, eventSubjectPrefix));
    console.log(`\n${label}: database, NATS prefix and event subject prefix ${name}`);

    const seed = await prepareDatabase(cleanup, name, request, signal);
    console.log(`${label}: seeded job ${seed.jobHash}, ${seed.okRows} ok and ${seed.failedRows} failed rows, in ${seed.seconds.toFixed(1)} s`);

    const processes = new ServiceProcesses(cleanup, settings, workspace);
    const api = processes.start("api", "src/bin/api.ts");
    const baseUrl = `http://${loopback}:${settings.apiPort}`;
    await waitForHealthy(baseUrl, { timeoutMs: startupTimeoutMs, children: processes.children, signal });
    signal.throwIfAborted();
    const apiAtStart = readResidentMemory(api.pid);
    console.log(`${label}: API pid ${api.pid} on ${baseUrl}, RSS ${(apiAtStart.residentKiB / 1024).toFixed(1)} MiB, log in ${api.options.logPath}`);

    const client = new ApiClient(baseUrl, await signAdminToken(settings.jwtSecret, 3600, "bench-downloads"));
    const context = { client, jobHash: seed.jobHash, rows, apiPid: api.pid, label, signal };
    const withExitCheck = async <T>(step: Promise<T>): Promise<T> => {
      try {
        return await step;
      } catch (error) {
        const exit = processes.describeExit();
        throw exit === null ? error : new Error(`${(error as Error).message}; ${exit}`);
      }
    };
    const csv = await withExitCheck(timeDownload(context, "csv"));
    const ndjson = await withExitCheck(timeDownload(context, "ndjson"));
    const pages = await withExitCheck(timePageWalk(context));
    return { rows, seed, apiAtStart, csv, ndjson, pages };
  });
}
