-- mod_webot schema, billing (issue 6): Stripe subscriptions as the webhook
-- events describe them, and the verified plan catalog.
--
-- Entitlements change only from this state (or an operator's manual grant).
-- Each Stripe subscription accumulates its state here; each part of that
-- state is guarded by its own high-water mark, so an older event never
-- overwrites a newer one and the result does not depend on the order in
-- which Stripe's events arrive (docs/billing.md, "Order independence"):
--   * the subscription's own state (status, price, current period) from
--     customer.subscription.created|updated|deleted: the event with the
--     greatest (created, current_period_end, type rank, status rank) wins,
--     and a terminal status (canceled, incomplete_expired) is never undone;
--   * the period paid for (invoice.paid): the greatest period wins;
--   * the link to an account (checkout.session.completed): set once;
--   * past_due_since: the first invoice.payment_failed after the last
--     invoice.paid, computed from stripe_events.

CREATE TABLE stripe_subscriptions (
    id                text PRIMARY KEY,        -- Stripe's sub_ id
    customer_id       text,                    -- cus_
    account_id        text REFERENCES accounts(id) ON DELETE SET NULL,
    link_created      bigint,                  -- created of the linking event
    status            text,                    -- Stripe's status, as sent
    plan_id           text,                    -- catalog plan of the price's
                                               -- lookup key; NULL: unknown
    lookup_key        text,
    price_id          text,
    period_start      timestamptz,             -- current period
    period_end        timestamptz,
    -- high-water mark of the subscription state
    sub_created       bigint,                  -- event.created
    sub_period_end    bigint,                  -- current_period_end (Unix s)
    sub_type_rank     integer,                 -- created 0, updated 1, deleted 2
    sub_status_rank   integer,
    -- the latest period paid for (invoice.paid)
    paid_period_start timestamptz,
    paid_period_end   timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stripe_subscriptions_account_idx ON stripe_subscriptions (account_id);
CREATE INDEX stripe_subscriptions_customer_idx ON stripe_subscriptions (customer_id);

-- The subscription an (applied) event concerns, for the past_due rule.
ALTER TABLE stripe_events ADD COLUMN subscription_id text;
ALTER TABLE stripe_events ADD COLUMN livemode boolean;
CREATE INDEX stripe_events_subscription_idx
    ON stripe_events (subscription_id, type, created)
    WHERE subscription_id IS NOT NULL;

-- Plan verification ("tier readback"), written by the background thread of
-- every httpd host, read by GET /api/v1/plans, /health and checkout. A row
-- counts only while it matches the catalog's current values and the
-- configured key's mode.
CREATE TABLE stripe_prices (
    plan_id     text PRIMARY KEY,
    lookup_key  text NOT NULL,
    key_mode    text NOT NULL CHECK (key_mode IN ('test','live')),
    verified    boolean NOT NULL,
    price_id    text,                          -- when verified
    amount      bigint NOT NULL,               -- the catalog values checked
    currency    text NOT NULL,
    interval    text NOT NULL,
    problem     text,                          -- why not verified
    checked_at  timestamptz NOT NULL DEFAULT now(),
    changed_at  timestamptz NOT NULL DEFAULT now()
);
