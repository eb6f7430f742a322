// `bun run worker`: one worker process (file stage, row stage, coordinator, sweeper). Start as many as the load needs.
import type { RunningWorker } from "../worker/worker.ts";
import { closeServices, configFromEnvironment, onShutdown, openServices, runWorker, serveWorkerMetrics } from "../runtime.ts";

const services = await openServices(configFromEnvironment(), "location-batch-worker", "worker");
let worker: RunningWorker | null = null;
const metricsServer = serveWorkerMetrics(services);
// Registered before the worker starts, so a SIGTERM during start-up still shuts down cleanly.
onShutdown(services.logger, async () => {
  metricsServer?.stop();
  await worker?.stop();
  await closeServices(services);
});
worker = await runWorker(services);
