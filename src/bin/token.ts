// `bun run token [hours]`: prints an admin token signed with JWT_SECRET, valid 24 hours unless another number of hours is given.
import { signAdminToken } from "../api/auth.ts";
import { configFromEnvironment } from "../runtime.ts";

const config = configFromEnvironment();
if (config.jwtSecret === null) {
  console.error("JWT_SECRET is not set: set it to the secret the service checks tokens with, e.g. JWT_SECRET=... bun run token");
  process.exit(2);
}
const hours = Number(process.argv[2] ?? "24");
if (!Number.isFinite(hours) || hours <= 0) {
  console.error(`token lifetime must be a positive number of hours, got "${process.argv[2]}"`);
  process.exit(2);
}
console.log(await signAdminToken(config.jwtSecret, Math.round(hours * 3600)));
