// Names of every stream, consumer, bucket and subject, all derived from one prefix so that
// two deployments (or a test and a running service) can share one nats-server.

export interface NatsNames {
  workStream: string;
  fileSubject: string;
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
    fileSubject: `${prefix}.work.files`,
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
