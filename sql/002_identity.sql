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

CREATE FUNCTION webot_quota_period(src text, anchor timestamptz,
                                   stored_end timestamptz, at timestamptz,
                                   OUT period_start timestamptz,
                                   OUT period_end timestamptz)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN src = 'stripe' THEN anchor
                ELSE (a + make_interval(months => k)) AT TIME ZONE 'UTC' END,
           CASE WHEN src = 'stripe' THEN stored_end
                ELSE (a + make_interval(months => k + 1)) AT TIME ZONE 'UTC' END
    FROM (SELECT a, CASE WHEN t < a THEN 0
                         WHEN a + make_interval(months => m) > t THEN m - 1
                         ELSE m END AS k
          FROM (SELECT a, t,
                       ((extract(year FROM t) - extract(year FROM a)) * 12
                        + extract(month FROM t) - extract(month FROM a))::int AS m
                FROM (SELECT anchor AT TIME ZONE 'UTC' AS a,
                             at AT TIME ZONE 'UTC' AS t) x) y) z
$$;

COMMENT ON FUNCTION webot_quota_period(text, timestamptz, timestamptz, timestamptz) IS
    'The quota period containing `at` for an entitlement: Stripe''s stored period, '
    'or monthly periods anchored at period_start for manual grants (UTC).';

-- Sessions are looked up by token_hash (unique index in 001); expired ones
-- are found by this index when purged.
CREATE INDEX sessions_user_idx ON sessions (user_id);
