CREATE TYPE "public"."job_status" AS ENUM('scheduled', 'processing', 'complete', 'failed');--> statement-breakpoint
CREATE TYPE "public"."record_status" AS ENUM('ok', 'failed');--> statement-breakpoint
CREATE TABLE "job_record" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"job_id" bigint NOT NULL,
	"location_id" bigint,
	"row" integer NOT NULL,
	"value" text NOT NULL,
	"status" "record_status" NOT NULL,
	"match_level" text,
	"error" text,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "jobs" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"hash" text NOT NULL,
	"file_hash" text NOT NULL,
	"status" "job_status" DEFAULT 'scheduled' NOT NULL,
	"total_rows" integer,
	"completed" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"error" text,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp (3) with time zone,
	"finished_at" timestamp (3) with time zone,
	"progressed_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"terminal_event_at" timestamp (3) with time zone,
	"file_attempts" integer DEFAULT 0 NOT NULL,
	"rows_dispatched_at" timestamp (3) with time zone
);
--> statement-breakpoint
CREATE TABLE "locations" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"location_hash" text NOT NULL,
	"name" text NOT NULL,
	"country_code" text NOT NULL,
	"admin1" text,
	"latitude" double precision NOT NULL,
	"longitude" double precision NOT NULL,
	"source" text NOT NULL,
	"source_id" text NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "job_record" ADD CONSTRAINT "job_record_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "job_record" ADD CONSTRAINT "job_record_location_id_locations_id_fk" FOREIGN KEY ("location_id") REFERENCES "public"."locations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "job_record_job_id_row_key" ON "job_record" USING btree ("job_id","row");--> statement-breakpoint
CREATE INDEX "job_record_job_id_status_row_idx" ON "job_record" USING btree ("job_id","status","row");--> statement-breakpoint
CREATE UNIQUE INDEX "jobs_hash_key" ON "jobs" USING btree ("hash");--> statement-breakpoint
CREATE INDEX "jobs_status_idx" ON "jobs" USING btree ("status","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "locations_location_hash_key" ON "locations" USING btree ("location_hash");