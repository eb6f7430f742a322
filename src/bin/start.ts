// `bun run start`: the API and a worker in one process. Without JWT_SECRET it makes a secret for
// its lifetime and prints an admin token; with NODE_ENV=production it refuses to start without one.
import { writeFile } from "node:fs/promises";
import { signAdminToken } from "../api/auth.ts";
import { isProduction, localTokenFile } from "../config.ts";
import type { RunningWorker } from "../worker/worker.ts";
import { closeServices, configFromEnvironment, onShutdown, openServices, runWorker, serveApi, stopApi } from "../runtime.ts";

const config = configFromEnvironment();
if (config.jwtSecret === null && isProduction(config)) {
  console.error("JWT_SECRET is not set: with NODE_ENV=production the service needs a fixed secret to check admin tokens");
  process.exit(2);
}
const jwtSecret = config.jwtSecret ?? crypto.randomUUID() + crypto.randomUUID();

const services = await openServices(config, "location-batch");
let worker: RunningWorker | null = null;
let app: ReturnType<typeof serveApi> | null = null;
// Registered before anything starts, so a SIGTERM during start-up still shuts down cleanly.
onShutdown(services.logger, async () => {
  if (app !== null) await stopApi(app, services.logger);
  await worker?.stop();
  await closeServices(services);
});
worker = await runWorker(services);
app = serveApi(services, jwtSecret);

if (config.jwtSecret === null) {
  const token = await signAdminToken(jwtSecret);
  // `bun run batch` reads this file when given no token, so the first run needs no copying.
  await writeFile(localTokenFile, token, { mode: 0o600 });
  console.log(`\nJWT_SECRET is not set, so this process made its own secret. An admin token, valid 24 hours`);
  console.log(`(also written to ${localTokenFile}, which \`bun run batch\` reads):\n\n${token}\n`);
}
console.log(`API on http://${config.host}:${app.server?.port} (Swagger UI at /swagger)`);
