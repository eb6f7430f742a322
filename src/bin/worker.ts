// `bun run worker`: one worker process (file stage, row stage, coordinator, sweeper). Start as many as the load needs.
import { closeServices, configFromEnvironment, onShutdown, openServices, runWorker } from "../runtime.ts";

const services = await openServices(configFromEnvironment(), "location-batch-worker");
const worker = await runWorker(services);
onShutdown(services.logger, async () => {
  await worker.stop();
  await closeServices(services);
});
