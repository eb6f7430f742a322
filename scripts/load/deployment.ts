// The deployment of a load run: API and worker processes on the machine's Postgres, NATS and Redis,
// under a database, NATS prefix and Redis key prefix of its own, and the cleanup that removes them.
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { join } from "node:path";
import { connectPostgresAdmin, deleteRedisKeys, dropDatabase, serviceEnvironment } from "../support/environment.ts";
import { Child, loopback } from "../support/processes.ts";

const repoRoot = new URL("../..", import.meta.url).pathname;
const natsUrl = `nats://${loopback}:4222`;
const stopGraceMs = 5000;

export interface Deployment {
  prefix: string;
  databaseName: string;
  jwtSecret: string;
  port: number;
  logDirectory: string;
}

/** Starts `bun run entry` as a service of the deployment, with stdout and stderr in their own log files. */
export function startChild(deployment: Deployment, name: string, entry: string): Child {
  const env: Record<string, string | undefined> = {
    ...process.env,
    NODE_ENV: "development",
    ...serviceEnvironment({
      databaseName: deployment.databaseName,
      natsPrefix: deployment.prefix,
      natsUrl,
      jwtSecret: deployment.jwtSecret,
      apiPort: deployment.port,
    }),
    // Empty values unset these, so a variable left in the shell cannot send the children elsewhere.
    FILES_SERVICE_URL: "",
    FILES_SERVICE_TOKEN: "",
    LOG_LEVEL: "info",
  };
  return new Child(name, ["bun", "run", entry], {
    cwd: repoRoot,
    env,
    logPath: join(deployment.logDirectory, `${name}.out.log`),
    errorLogPath: join(deployment.logDirectory, `${name}.err.log`),
  });
}

/**
 * Creates the deployment's database before any child starts. NOTE: the service creates a missing
 * database itself, but processes that start together race to create it. The losers exit with Postgres
 * error 23505 (duplicate key in pg_database), so the script does not leave that to the children.
 */
export async function createDatabase(deployment: Deployment): Promise<void> {
  const admin = connectPostgresAdmin();
  try {
    await admin.unsafe(`create database "${deployment.databaseName}"`);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

/**
 * Sends SIGTERM to each child by PID, then SIGKILL to any still running after the grace period.
 * Returns a message for each child that could not be stopped, so the rest of the cleanup still runs.
 */
export async function stopChildren(children: Child[]): Promise<string[]> {
  const warnKill = (child: Child) => console.error(`${child.name} (pid ${child.pid}) did not stop within ${stopGraceMs} ms, sending SIGKILL`);
  const outcomes = await Promise.allSettled(children.map((child) => child.stop(stopGraceMs, warnKill)));
  return outcomes.flatMap((outcome) => (outcome.status === "rejected" ? [(outcome.reason as Error).message] : []));
}

/** Drops the database, deletes the streams and the files bucket's stream, and deletes the Redis keys of the deployment. */
export async function removeDeployment(deployment: Deployment): Promise<string[]> {
  const failures: string[] = [];

  const admin = connectPostgresAdmin();
  try {
    await dropDatabase(admin, deployment.databaseName);
  } catch (error) {
    failures.push(`drop database ${deployment.databaseName}: ${(error as Error).message}`);
  } finally {
    await admin.end({ timeout: 5 });
  }

  try {
    const connection = await connect({ servers: natsUrl, name: `load-cleanup-${deployment.prefix}` });
    try {
      const jsm = await jetstreamManager(connection);
      const streamPrefix = deployment.prefix.toUpperCase();
      for (const stream of [`${streamPrefix}_WORK`, `${streamPrefix}_EVENTS`, `OBJ_${deployment.prefix}_files`]) {
        await jsm.streams.delete(stream).catch((error: unknown) => {
          // A stream that was never created is not a failure of the cleanup.
          if (!/not found/i.test((error as Error).message)) failures.push(`delete stream ${stream}: ${(error as Error).message}`);
        });
      }
    } finally {
      await connection.close();
    }
  } catch (error) {
    failures.push(`NATS cleanup: ${(error as Error).message}`);
  }

  try {
    await deleteRedisKeys(deployment.prefix);
  } catch (error) {
    failures.push(`Redis cleanup: ${(error as Error).message}`);
  }
  return failures;
}
