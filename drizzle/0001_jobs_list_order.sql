DROP INDEX "jobs_status_idx";--> statement-breakpoint
CREATE INDEX "jobs_created_at_id_idx" ON "jobs" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "jobs_status_created_at_id_idx" ON "jobs" USING btree ("status","created_at","id");