ALTER TABLE "jobs" ADD COLUMN "file_attempts" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "rows_dispatched_at" timestamp (3) with time zone;