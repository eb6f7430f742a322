// Names of every stream, consumer, bucket and subject, all derived from one prefix so that
// two deployments (or a test and a running service) can share one nats-server.

export interface NatsNames {
  workStream: string;
  /** One subject per job's file message, so the sweeper can tell whether a job's message is still waiting. */
  fileSubject(jobHash: string): string;
  fileSubjectWildcard: string;
  fileConsumer: string;
  rowSubject(jobHash: string): string;
  rowSubjectWildcard: string;
  rowConsumer(jobHash: string): string;
  eventsStream: string;
  eventSubject(kind: string): string;
  eventSubjectWildcard: string;
  filesBucket: string;
}

export function natsNames(prefix: string, eventSubjectPrefix: string): NatsNames {
  const upper = prefix.toUpperCase();
  return {
    workStream: `${upper}_WORK`,
    fileSubject: (jobHash) => `${prefix}.work.files.${jobHash}`,
    fileSubjectWildcard: `${prefix}.work.files.*`,
    fileConsumer: `${prefix}_files`,
    rowSubject: (jobHash) => `${prefix}.work.rows.${jobHash}`,
    rowSubjectWildcard: `${prefix}.work.rows.*`,
    rowConsumer: (jobHash) => `${prefix}_rows_${jobHash}`,
    eventsStream: `${upper}_EVENTS`,
    eventSubject: (kind) => `${eventSubjectPrefix}.${kind}`,
    eventSubjectWildcard: `${eventSubjectPrefix}.>`,
    filesBucket: `${prefix}_files`,
  };
}
