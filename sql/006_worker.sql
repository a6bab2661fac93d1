-- mod_webot schema, the job worker (issue 5).
--
-- The worker claims jobs oldest first:
--   SELECT id FROM jobs WHERE status IN ('queued','accepted','running')
--     AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
--     ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT n
-- 001's jobs_claim_idx is ordered by next_attempt_at first, so with a deep
-- queue every claim sorted all claimable rows (O(queue) per claim). This
-- index returns them in created_at order and the scan stops after n rows.
CREATE INDEX jobs_worker_queue_idx ON jobs (created_at)
    WHERE status IN ('queued','accepted','running');

-- One row per httpd instance running a worker (worker_id = host:parent pid);
-- beat_at is refreshed by the worker every few seconds. /api/v1/health and
-- server-status read it; rows of instances gone for a week are purged by the
-- worker's housekeeping.
ALTER TABLE worker_heartbeats
    ADD COLUMN running     integer NOT NULL DEFAULT 0,   -- executor calls in flight
    ADD COLUMN retries     bigint  NOT NULL DEFAULT 0,   -- retryable failures
    ADD COLUMN started_at  timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN lease_owner text;                        -- the current leader's lease tag

