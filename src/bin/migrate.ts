// `bun run db:migrate`: creates the database if needed and applies the migrations under drizzle/.
import { migrateDatabase } from "../db/client.ts";
import { configFromEnvironment } from "../runtime.ts";

const config = configFromEnvironment();
await migrateDatabase(config.databaseUrl);
console.log(`migrations applied to ${new URL(config.databaseUrl).pathname.slice(1)}`);
