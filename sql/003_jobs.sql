-- mod_webot schema, the jobs API (issue 4).
--
-- Active jobs. A plan's max_active_jobs counts an account's jobs in the
-- statuses queued, accepted and running (work not yet delivered; keep in
-- step with webot_job_status_active() in mod_webot/webot_job.c). Counting
-- them per creation would read every active job of the account, so the
-- count is kept in job_counters: job creation (the API, the only writer of
-- new jobs) locks the account's row (SELECT ... FOR UPDATE), checks the
-- count and the quota, and adds the new job itself, so creations of one
-- account never pass the limits together; every later status change,
-- whoever makes it (the API, the worker, webotctl), is counted by the
-- trigger below.
CREATE TABLE job_counters (
    account_id  text PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    active      integer NOT NULL DEFAULT 0
);

INSERT INTO job_counters (account_id, active)
SELECT a.id, (SELECT count(*) FROM jobs j WHERE j.account_id = a.id
              AND j.status IN ('queued','accepted','running'))
FROM accounts a;

-- Every new account gets its counter row.
CREATE FUNCTION webot_job_counters_new_account() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_counters (account_id) VALUES (NEW.id)
        ON CONFLICT (account_id) DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER accounts_job_counters AFTER INSERT ON accounts
    FOR EACH ROW EXECUTE FUNCTION webot_job_counters_new_account();

-- +1 when a job enters an active status again (a revision), -1 when it
-- leaves one (never below 0: a counter must not make a worker's move fail).
CREATE FUNCTION webot_job_counters_move() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    was boolean := TG_OP <> 'INSERT'
                   AND OLD.status IN ('queued','accepted','running');
    now_active boolean := TG_OP <> 'DELETE'
                   AND NEW.status IN ('queued','accepted','running');
BEGIN
    IF now_active AND NOT was THEN
        INSERT INTO job_counters AS c (account_id, active)
            VALUES (NEW.account_id, 1)
            ON CONFLICT (account_id) DO UPDATE SET active = c.active + 1;
    ELSIF was AND NOT now_active THEN
        UPDATE job_counters SET active = greatest(active - 1, 0)
            WHERE account_id = OLD.account_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_counters_update AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN ((OLD.status IN ('queued','accepted','running'))
                       IS DISTINCT FROM
                       (NEW.status IN ('queued','accepted','running')))
    EXECUTE FUNCTION webot_job_counters_move();

-- The customer's reason for a cancel (POST /jobs/{id}/cancel {"reason"}),
-- kept for staff; never shown in events.
ALTER TABLE jobs ADD COLUMN cancel_reason text;
