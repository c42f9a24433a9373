-- FIX (missing indexes): the columns the hot queries filter and sort on.
CREATE INDEX IF NOT EXISTS reports_owner_recent_idx ON reports (owner_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS export_jobs_report_recent_idx ON export_jobs (report_id, id DESC);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_idx ON users (email);
ANALYZE;
