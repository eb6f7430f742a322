// A worker process's main loop: pulls file messages, pulls row batches from every active job,
// and sweeps for jobs a crash left behind, until it is stopped.
import { describeError } from "../log.ts";
import type { WorkerDeps } from "./deps.ts";
import { handleFileMessage } from "./file-stage.ts";
import { RowFeeds } from "./row-feeds.ts";
import { runSweeper } from "./sweeper.ts";

export interface RunningWorker {
  /** Stops pulling, finishes and acknowledges in-flight work, and resolves when the worker is idle. */
  stop(): Promise<void>;
}

const feedRefreshMs = 1000;
const sweepIntervalMs = 5000;
/** Files one worker reads and fans out at once. */
const concurrentFiles = 4;

export async function startWorker(deps: WorkerDeps): Promise<RunningWorker> {
  const { nats, logger } = deps;
  const abort = new AbortController();

  const fileConsumer = await nats.js.consumers.get(nats.names.workStream, nats.names.fileConsumer);
  const fileMessages = await fileConsumer.consume({ max_messages: concurrentFiles });
  const fileTasks = new Set<Promise<void>>();
  const fileLoop = (async () => {
    for await (const msg of fileMessages) {
      // Files are read side by side, so a small file is not held up by the fan-out of a large one.
      const task = handleFileMessage(deps, msg, abort.signal)
        .catch((error: unknown) => {
          logger.error({ err: describeError(error) }, "file message handler failed");
          msg.nak(5000);
        })
        .finally(() => fileTasks.delete(task));
      fileTasks.add(task);
      while (fileTasks.size >= concurrentFiles) await Promise.race(fileTasks);
    }
    await Promise.all(fileTasks);
  })();

  const feeds = new RowFeeds(deps);
  const refresh = async () => {
    try {
      await feeds.refresh();
    } catch (error) {
      logger.warn({ err: describeError(error) }, "could not refresh the active jobs");
    }
  };
  await refresh();
  // A started event opens the new job's feed at once instead of at the next refresh.
  const lifecycle = ["started", "completed", "failed"].map((kind) =>
    nats.connection.subscribe(nats.names.eventSubject(kind), { callback: () => void refresh() }),
  );
  const refreshTimer = setInterval(() => void refresh(), feedRefreshMs);
  const rowLoop = feeds.run();
  const sweeper = runSweeper(deps, sweepIntervalMs, abort.signal);
  logger.info({ prefix: deps.config.natsPrefix }, "worker started");

  return {
    async stop() {
      clearInterval(refreshTimer);
      for (const subscription of lifecycle) subscription.unsubscribe();
      abort.abort();
      await fileMessages.close();
      feeds.stop();
      await Promise.all([fileLoop, rowLoop, sweeper]);
      logger.info("worker stopped");
    },
  };
}
