// The NATS connection and the JetStream streams the service needs, created or updated at start.
import {
  AckPolicy,
  jetstream,
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import type { Config } from "../config.ts";
import { natsNames, type NatsNames } from "./names.ts";

export interface Nats {
  connection: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: NatsNames;
}

export async function connectNats(config: Config, name: string): Promise<Nats> {
  const connection = await connect({
    servers: config.natsUrl,
    name,
    // Keep reconnecting through a nats-server restart instead of giving up after the default ten tries.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
  });
  const js = jetstream(connection);
  const jsm = await jetstreamManager(connection);
  return { connection, js, jsm, names: natsNames(config.natsPrefix, config.eventSubjectPrefix) };
}

export function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

/**
 * JetStream's error code when a new stream's subjects overlap those of an existing stream
 * (JSStreamSubjectOverlapErr).
 */
const streamSubjectOverlapCode = 10065;

async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch (error) {
    if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw error;
    try {
      await jsm.streams.add(config);
    } catch (addError) {
      if (!isApiError(addError, streamSubjectOverlapCode)) throw addError;
      throw new Error(
        `stream ${config.name} could not be created: another stream on this nats-server already has its subjects ` +
          `(${(config.subjects ?? []).join(", ")}). Two deployments sharing a nats-server need their own NATS_PREFIX ` +
          `and EVENT_SUBJECT_PREFIX, for example EVENT_SUBJECT_PREFIX=<NATS_PREFIX>.location.batch`,
        { cause: addError },
      );
    }
    return;
  }
  // Retention cannot change on an existing stream, so the update leaves it out.
  const { retention: _retention, storage: _storage, ...update } = config;
  await jsm.streams.update(config.name, update);
}

/** Creates or updates the work and events streams and the file consumer; running it twice is harmless. */
export async function ensureStreams(nats: Nats, config: Config): Promise<void> {
  const { jsm, names } = nats;
  // The events stream goes first, because its subjects are the ones another deployment may share by
  // mistake, and a start that fails there leaves no work stream behind.
  await ensureStream(jsm, {
    name: names.eventsStream,
    subjects: [names.eventSubjectWildcard],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(config.eventsMaxAgeMs),
    duplicate_window: nanos(config.duplicateWindowMs),
  });
  await ensureStream(jsm, {
    name: names.workStream,
    subjects: [names.fileSubjectWildcard, names.rowSubjectWildcard],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: nanos(config.duplicateWindowMs),
  });
  const fileConsumer = {
    durable_name: names.fileConsumer,
    filter_subject: names.fileSubjectWildcard,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(config.ackWaitMs),
    // Unlimited, because a worker that stops at shutdown hands its file back, and each hand-back is a delivery.
    // Real attempts are counted in jobs.file_attempts, which decides when a file is given up.
    max_deliver: -1,
    max_ack_pending: 1000,
  };
  try {
    const existing = await jsm.consumers.info(names.workStream, names.fileConsumer);
    if (existing.config.filter_subject !== fileConsumer.filter_subject) {
      // nats-server 2.9 cannot change a consumer's filter, so a consumer of another layout is replaced.
      await jsm.consumers.delete(names.workStream, names.fileConsumer);
      await jsm.consumers.add(names.workStream, fileConsumer);
    } else {
      await jsm.consumers.update(names.workStream, names.fileConsumer, {
        ack_wait: fileConsumer.ack_wait,
        max_deliver: fileConsumer.max_deliver,
      });
    }
  } catch (error) {
    if (!isApiError(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
    await jsm.consumers.add(names.workStream, fileConsumer);
  }
}

/** Creates the pull consumer of one job's rows; several workers share it. */
export async function ensureRowConsumer(nats: Nats, config: Config, jobHash: string): Promise<void> {
  const { jsm, names } = nats;
  await jsm.consumers.add(names.workStream, {
    durable_name: names.rowConsumer(jobHash),
    filter_subject: names.rowSubject(jobHash),
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(config.ackWaitMs),
    max_deliver: config.maxDeliveries,
    // Bounds what all workers together hold unacknowledged for one job.
    max_ack_pending: Math.max(config.rowBatchSize * 8, 1000),
    // A consumer left behind by a job that never closed is removed by the server after a week idle.
    inactive_threshold: nanos(7 * 24 * 3_600_000),
  });
}

/**
 * Removes a closed job's row consumer and whatever row messages remain on its subject: the last batch
 * is acknowledged after the close, and copies of redelivered rows may still wait. Left in the work
 * stream they would stay forever, since only the job's consumer takes them.
 */
export async function removeJobRows(nats: Nats, jobHash: string): Promise<void> {
  try {
    await nats.jsm.consumers.delete(nats.names.workStream, nats.names.rowConsumer(jobHash));
  } catch (error) {
    if (!isApiError(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
  }
  await nats.jsm.streams.purge(nats.names.workStream, { filter: nats.names.rowSubject(jobHash) });
}
