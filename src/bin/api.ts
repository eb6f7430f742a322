// `bun run api`: the HTTP API alone. JWT_SECRET is required, since workers and tokens must share it.
import { closeServices, configFromEnvironment, onShutdown, openServices, serveApi, stopApi } from "../runtime.ts";

const config = configFromEnvironment();
if (config.jwtSecret === null) {
  console.error("JWT_SECRET is not set: `bun run api` needs the secret that admin tokens are signed with (see `bun run token`)");
  process.exit(2);
}
const services = await openServices(config, "location-batch-api", "api");
let app: ReturnType<typeof serveApi> | null = null;
onShutdown(services.logger, async () => {
  if (app !== null) await stopApi(app, services.logger);
  await closeServices(services);
});
app = serveApi(services, config.jwtSecret);
