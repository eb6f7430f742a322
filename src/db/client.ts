// The Postgres connection (postgres.js under drizzle) and the migrations that shape it.
import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import * as schema from "./schema.ts";

export type Database = PostgresJsDatabase<typeof schema> & { $client: postgres.Sql };
/** A transaction handle, accepted wherever a repository function takes an optional `tx`. */
export type Transaction = Parameters<Parameters<Database["transaction"]>[0]>[0];
export type Executor = Database | Transaction;

const migrationsFolder = new URL("../../drizzle", import.meta.url).pathname;

export function connectDatabase(databaseUrl: string, maxConnections = 10): Database {
  const client = postgres(databaseUrl, {
    max: maxConnections,
    onnotice: () => {},
    // Bound how long a query may wait on a dead server, so a Postgres restart surfaces as an error to retry.
    connect_timeout: 10,
    // postgres.js 3.4 reads the array types on every new connection with a query whose promise is not
    // awaited, so a connection cut during it crashes the process with an unhandled rejection. No query here reads
    // a Postgres array (batches travel as JSON), so the types are not needed.
    fetch_types: false,
  });
  return drizzle(client, { schema }) as Database;
}

export async function closeDatabase(db: Database): Promise<void> {
  await db.$client.end({ timeout: 5 });
}

/** Creates the database named in the URL when it does not exist yet, so a fresh machine needs no manual step. */
export async function ensureDatabaseExists(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (!name) return;
  url.pathname = "/postgres";
  const admin = postgres(url.toString(), { max: 1, onnotice: () => {} });
  try {
    const found = await admin`select 1 from pg_database where datname = ${name}`;
    if (found.length === 0) {
      try {
        await admin.unsafe(`create database "${name.replaceAll('"', '""')}"`);
      } catch (error) {
        // Another process created it between the check and the create. Postgres reports 42P04, or 23505
        // when the two creates ran at the same moment.
        const code = (error as { code?: string }).code;
        if (code !== "42P04" && code !== "23505") throw error;
      }
    }
  } finally {
    await admin.end({ timeout: 5 });
  }
}

/** Applies the SQL migrations under drizzle/; safe to run from several processes at once. */
export async function migrateDatabase(databaseUrl: string): Promise<void> {
  await ensureDatabaseExists(databaseUrl);
  const client = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    // drizzle's migrator is not safe against a concurrent run, so runs take turns on an advisory lock.
    await client`select pg_advisory_lock(727274)`;
    await migrate(drizzle(client), { migrationsFolder });
    await client`select pg_advisory_unlock(727274)`;
  } finally {
    await client.end({ timeout: 5 });
  }
}
