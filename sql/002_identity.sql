-- mod_webot schema, identity and access (issue 3).
--
-- The quota period rule, in one place, used by the access gate's single
-- query and by anything that charges or reads quota (jobs, usage):
--
--   * source 'stripe': the period Stripe reported for the subscription,
--     exactly as stored (entitlements.period_start / period_end);
--   * source 'manual': calendar-month periods anchored at
--     entitlements.period_start (the moment of the grant), computed in UTC:
--     [anchor + k months, anchor + (k+1) months) for the k >= 0 whose period
--     contains `at`. Month arithmetic is PostgreSQL's (a grant on Jan 31
--     renews on Feb 28/29, Mar 31, ...), always counted from the anchor so
--     that short months never shift later periods. entitlements.period_end
--     of a manual grant is informational (the end of the first period).
--
-- quota_periods rows are keyed by (account_id, period_start) with the
-- period_start this function returns.

-- Three functions, one rule. The scalar ones are plain SQL expressions
-- (no FROM, not STRICT) so that PostgreSQL inlines them into the gate's
-- query instead of running a function call per request.

-- k: the index of the monthly period (from the anchor) that contains `at`.
CREATE FUNCTION webot_quota_period_index(anchor timestamptz, at timestamptz)
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN at < anchor THEN 0
           ELSE ((extract(year FROM at AT TIME ZONE 'UTC')
                  - extract(year FROM anchor AT TIME ZONE 'UTC')) * 12
                 + extract(month FROM at AT TIME ZONE 'UTC')
                 - extract(month FROM anchor AT TIME ZONE 'UTC'))::int
                - CASE WHEN (anchor AT TIME ZONE 'UTC') + make_interval(months =>
                         ((extract(year FROM at AT TIME ZONE 'UTC')
                           - extract(year FROM anchor AT TIME ZONE 'UTC')) * 12
                          + extract(month FROM at AT TIME ZONE 'UTC')
                          - extract(month FROM anchor AT TIME ZONE 'UTC'))::int)
                       > (at AT TIME ZONE 'UTC') THEN 1 ELSE 0 END
           END
$$;

CREATE FUNCTION webot_quota_period_start(src text, anchor timestamptz,
                                         stored_end timestamptz, at timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN src = 'stripe' THEN anchor
           ELSE ((anchor AT TIME ZONE 'UTC')
                 + make_interval(months => webot_quota_period_index(anchor, at)))
                AT TIME ZONE 'UTC' END
$$;

CREATE FUNCTION webot_quota_period_end(src text, anchor timestamptz,
                                       stored_end timestamptz, at timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN src = 'stripe' THEN stored_end
           ELSE ((anchor AT TIME ZONE 'UTC')
                 + make_interval(months => webot_quota_period_index(anchor, at) + 1))
                AT TIME ZONE 'UTC' END
$$;

-- Both ends at once (for ad-hoc SQL and tests).
CREATE FUNCTION webot_quota_period(src text, anchor timestamptz,
                                   stored_end timestamptz, at timestamptz,
                                   OUT period_start timestamptz,
                                   OUT period_end timestamptz)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT webot_quota_period_start(src, anchor, stored_end, at),
           webot_quota_period_end(src, anchor, stored_end, at)
$$;

COMMENT ON FUNCTION webot_quota_period(text, timestamptz, timestamptz, timestamptz) IS
    'The quota period containing `at` for an entitlement: Stripe''s stored period, '
    'or monthly periods anchored at period_start for manual grants (UTC).';

-- Sessions are looked up by token_hash (unique index in 001); expired ones
-- are found by this index when purged.
CREATE INDEX sessions_user_idx ON sessions (user_id);
