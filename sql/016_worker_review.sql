-- mod_webot schema, the job worker (issue 5), second part. Kept apart from
-- 006_worker.sql because 006 was already applied to running databases when
-- this was added (migrations are applied once each).
--
-- A deliverable that needs staff review first (a review_required family, or
-- the executor asked for review) waits here, invisible to the customer, and
-- becomes the job's deliverable when staff release the job (any path that
-- moves needs_review -> ready_for_customer_review: webotctl job review
-- --release, or a future staff API). The job object shows `deliverable`
-- only, so a deliverable is never shown before the job reaches
-- ready_for_customer_review.
ALTER TABLE jobs ADD COLUMN review_deliverable jsonb;

CREATE FUNCTION webot_jobs_release_deliverable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.review_deliverable IS NOT NULL THEN
        NEW.deliverable := NEW.review_deliverable;
        NEW.review_deliverable := NULL;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER jobs_release_deliverable BEFORE UPDATE OF status ON jobs
    FOR EACH ROW WHEN (OLD.status = 'needs_review'
                       AND NEW.status = 'ready_for_customer_review')
    EXECUTE FUNCTION webot_jobs_release_deliverable();
