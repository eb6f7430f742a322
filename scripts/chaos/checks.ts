// Checks of a chaos run once its job has ended: the job's counts, its records in Postgres, and its
// events as the events stream stored them, read back from the start of the stream.
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";

export interface Check {
  name: string;
  expected: string;
  actual: string;
  ok: boolean;
}

export interface JobEvent {
  kind: string;
  row: number | null;
  payload: Record<string, unknown>;
}

export interface JobFacts {
  status: string;
  totalRows: number | null;
  completed: number;
  failed: number;
  records: number;
  distinctRows: number;
}

const rowKinds = new Set(["tick", "error"]);
const terminalKinds = new Set(["completed", "failed"]);
const fetchBatch = 5000;

/** Reads the job and the counts of its records directly from Postgres. */
export async function readJobFacts(databaseUrl: string, jobHash: string): Promise<JobFacts | null> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    const [job] = await sql<{ id: string; status: string; total_rows: number | null; completed: number; failed: number }[]>`
      select id, status, total_rows, completed, failed from jobs where hash = ${jobHash}`;
    if (!job) return null;
    const [counts] = await sql<{ records: number; distinct_rows: number }[]>`
      select count(*)::int as records, count(distinct row)::int as distinct_rows from job_record where job_id = ${job.id}`;
    return {
      status: job.status,
      totalRows: job.total_rows,
      completed: job.completed,
      failed: job.failed,
      records: counts?.records ?? 0,
      distinctRows: counts?.distinct_rows ?? 0,
    };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * Reads every message of the events stream with an ordered consumer, in stream order, and keeps
 * those of the job. The stream belongs to this run alone, so it contains little but this job's events.
 */
export async function readJobEvents(natsUrl: string, streamName: string, jobHash: string): Promise<JobEvent[]> {
  const connection = await connect({ servers: natsUrl, name: "chaos-check" });
  try {
    const jsm = await jetstreamManager(connection);
    const info = await jsm.streams.info(streamName);
    const lastSequence = info.state.last_seq;
    const events: JobEvent[] = [];
    if (info.state.messages === 0) return events;

    const consumer = await jetstream(connection).consumers.get(streamName, { deliver_policy: DeliverPolicy.All });
    let sequence = 0;
    const maxRounds = Math.ceil(info.state.messages / fetchBatch) + 10;
    for (let round = 0; round < maxRounds && sequence < lastSequence; round += 1) {
      const messages = await consumer.fetch({ max_messages: fetchBatch, expires: 5000 });
      let received = 0;
      for await (const message of messages) {
        received += 1;
        sequence = message.info.streamSequence;
        const payload = message.json<Record<string, unknown>>();
        if (payload.job_hash === jobHash) {
          const kind = message.subject.split(".").at(-1) ?? "";
          events.push({ kind, row: typeof payload.row === "number" ? payload.row : null, payload });
        }
        if (sequence >= lastSequence) break;
      }
      if (received === 0) throw new Error(`events stream ${streamName} stopped delivering at sequence ${sequence} of ${lastSequence}`);
    }
    return events;
  } finally {
    await connection.close();
  }
}

export function hasTerminalEvent(events: JobEvent[]): boolean {
  return events.some((event) => terminalKinds.has(event.kind));
}

/** Checks that rows 1..rows each have exactly one tick or error event, and no other row has one. */
export function checkRowEvents(events: JobEvent[], rows: number): Check {
  const seen = new Uint8Array(rows + 1);
  let repeated = 0;
  let outside = 0;
  let withoutRow = 0;
  for (const event of events) {
    if (!rowKinds.has(event.kind)) continue;
    const row = event.row;
    if (row === null) {
      withoutRow += 1;
    } else if (!Number.isInteger(row) || row < 1 || row > rows) {
      outside += 1;
    } else {
      if (seen[row] === 1) repeated += 1;
      seen[row] = 1;
    }
  }
  let missing = 0;
  for (let row = 1; row <= rows; row += 1) if (seen[row] === 0) missing += 1;
  const once = rows - missing;
  const ok = missing === 0 && repeated === 0 && outside === 0 && withoutRow === 0;
  const extra = withoutRow > 0 ? `, ${withoutRow} without a row` : "";
  return {
    name: "one tick or error event per row",
    expected: `rows 1..${rows} once each`,
    actual: `${once} seen, ${missing} missing, ${repeated} repeated, ${outside} outside${extra}`,
    ok,
  };
}

/** Checks the order of the job's events: scheduled first, started before any row event, one terminal event last. */
export function checkEventOrder(events: JobEvent[]): Check[] {
  const kinds = events.map((event) => event.kind);
  const firstRowEvent = kinds.findIndex((kind) => rowKinds.has(kind));
  const started = kinds.indexOf("started");
  const terminals = events.filter((event) => terminalKinds.has(event.kind));
  const last = kinds.at(-1) ?? "none";

  return [
    {
      name: "scheduled is the first event",
      expected: "scheduled",
      actual: kinds[0] ?? "no events",
      ok: kinds[0] === "scheduled",
    },
    {
      name: "started before any row event",
      expected: "started before tick/error",
      actual:
        started === -1
          ? "no started event"
          : `started at #${started + 1}, first row event at ${firstRowEvent === -1 ? "none" : `#${firstRowEvent + 1}`}`,
      ok: started !== -1 && (firstRowEvent === -1 || started < firstRowEvent),
    },
    {
      name: "one terminal event, last",
      expected: "1 completed, last",
      actual: `${terminals.length} terminal (${terminals.map((event) => event.kind).join(", ") || "none"}), last is ${last}`,
      ok: terminals.length === 1 && terminals[0]?.kind === "completed" && terminalKinds.has(last),
    },
  ];
}

/** Checks that the completed event carries the job's final counts. */
export function checkCompletedEvent(events: JobEvent[], facts: JobFacts | null): Check {
  const completed = events.find((event) => event.kind === "completed")?.payload;
  const expected = facts ? `${facts.totalRows} = ${facts.completed} ok + ${facts.failed} failed` : "the job's counts";
  const actual = completed ? `${completed.total_rows} = ${completed.completed} ok + ${completed.failed} failed` : "no completed event";
  const ok =
    facts !== null &&
    completed !== undefined &&
    completed.total_rows === facts.totalRows &&
    completed.completed === facts.completed &&
    completed.failed === facts.failed;
  return { name: "completed event counts", expected, actual, ok };
}

/** Prints the checks as a table of fixed-width columns. */
export function printChecks(checks: Check[]): void {
  const header = { name: "check", expected: "expected", actual: "actual", ok: "ok" };
  const rows = checks.map((check) => ({ ...check, ok: check.ok ? "ok" : "FAIL" }));
  const width = (key: "name" | "expected" | "actual") => Math.max(header[key].length, ...rows.map((row) => row[key].length));
  const widths = { name: width("name"), expected: width("expected"), actual: width("actual") };
  const line = (row: { name: string; expected: string; actual: string; ok: string }) =>
    `${row.name.padEnd(widths.name)}  ${row.expected.padEnd(widths.expected)}  ${row.actual.padEnd(widths.actual)}  ${row.ok}`;
  console.log(line(header));
  console.log(line({ name: "-".repeat(widths.name), expected: "-".repeat(widths.expected), actual: "-".repeat(widths.actual), ok: "----" }));
  for (const row of rows) console.log(line(row));
}
