# Plan verification against a Stripe stand-in (t/node/stripe-standin.js):
# matching and mismatching prices (amount, currency, interval, livemode,
# inactive, missing), GET /plans and /health; POST /api/checkout/tier with
# the exact parameters Stripe receives, idempotency, refusals, Stripe
# unreachable or failing (clear 503, nothing changed); query parameters
# that grant nothing; webhook secret rotation and livemode.
use strict;
use warnings;
use Test::More;
use Time::HiRes ();
use WebotTest;
use WebotAuth qw(session_for login);
use WebotStripe;

my $si = standin();
ok($si, 'the Stripe stand-in runs') or BAIL_OUT('no node/npm');
my $dir = $ENV{WEBOT_TEST_DIR};

sub plans { my $j = api_get('/api/v1/plans')->json; return { map { $_->{id} => $_->{checkout_available} ? 1 : 0 } @{ $j->{plans} } } }
sub plans_are {
  my (%want) = @_;
  return wait_for(sub { my $p = plans(); !grep { ($p->{$_} // -1) != $want{$_} } keys %want }, 20);
}
sub health_catalog { api_get('/api/v1/health')->json->{stripe_catalog} }
sub ents { psql_value("SELECT count(*) FROM entitlements") }

my %ALL1 = map { $_ => 1 } keys %{ plans() };
my %ALL0 = map { $_ => 0 } keys %ALL1;
ok(scalar(keys %ALL1) >= 2, 'the catalog has plans');

my $owner = make_account();
my $c = session_for($owner);

# ---------------------------------------------------------------------------
subtest 'without a secret key' => sub {
  is_deeply(plans(), \%ALL0, 'no plan is available for checkout');
  is(health_catalog(), 'unverified', 'health: unverified');
  my $e = error_ok($c->post('/api/checkout/tier', json => { tier => 'agent_pro' }), 503,
    'CHECKOUT_UNAVAILABLE', 'checkout: 503');
  is($e && $e->{suggested_action}, 'ask_human', 'ask_human');
};

# a second secret file with two secrets (rotation)
my $next = 'whsec_' . join('', map { ('a'..'z', 0..9)[rand 36] } 1..32);
my $next2 = 'whsec_' . join('', map { ('a'..'z', 0..9)[rand 36] } 1..32);
open my $fh, '>', "$dir/stripe_webhook_secret_next" or die;
print {$fh} "# the secret being rolled in, and one more\n$next\n\n$next2\n";
close $fh;

$si->prices(catalog_prices());
stripe_configure($si, extra => "WebotStripeWebhookSecretFile \"$dir/stripe_webhook_secret_next\"\n");

subtest 'matching prices verify' => sub {
  ok(plans_are(%ALL1), 'every plan becomes available for checkout') or diag(explain plans());
  is(health_catalog(), 'verified', 'health: verified');
  my @r = grep { $_->{path} eq '/v1/prices' } $si->requests;
  ok(@r >= 1, 'the thread called GET /v1/prices') or return;
  my $q = $r[-1]{query};
  is_deeply([sort @{ $q->{'lookup_keys[]'} || [] }],
            [sort map { WebotStripe::lookup_key($_) } keys %ALL1], 'lookup_keys[] of every plan');
  is_deeply($q->{active}, ['true'], 'active=true');
  is($r[-1]{headers}{authorization}, 'Bearer ' . $si->key, 'Bearer secret key');
  is($r[-1]{headers}{'stripe-version'}, '2024-06-20', 'pinned Stripe-Version');
  is($r[-1]{method}, 'GET', 'a GET');
  my @v = psql("SELECT plan_id, verified, price_id, key_mode FROM stripe_prices ORDER BY plan_id");
  is(scalar(@v), scalar(keys %ALL1), 'one stripe_prices row per plan');
  ok(!grep({ !/\|t\|price_[a-z_]+\|test$/ } @v), 'all verified in test mode with their price ids')
    or diag(join "\n", @v);
};

subtest 'mismatching prices do not verify' => sub {
  $si->prices(catalog_prices(agent_pro => { amount => 9800 }, human_starter => { currency => 'eur' },
                             both_team => { interval => 'year' }, agent_trial => { livemode => 1 }));
  ok(plans_are(agent_pro => 0, human_starter => 0, both_team => 0, agent_trial => 0),
     'amount, currency, interval and livemode mismatches: all unavailable') or diag(explain plans());
  is(health_catalog(), 'unverified', 'health: unverified');
  like(psql_value("SELECT problem FROM stripe_prices WHERE plan_id = 'agent_pro'"), qr/amount is 9800/,
       'the problem is recorded (amount)');
  like(psql_value("SELECT problem FROM stripe_prices WHERE plan_id = 'human_starter'"), qr/currency is eur/,
       'currency');
  like(psql_value("SELECT problem FROM stripe_prices WHERE plan_id = 'both_team'"), qr/every year/, 'interval');
  like(psql_value("SELECT problem FROM stripe_prices WHERE plan_id = 'agent_trial'"), qr/live-mode price/,
       'livemode');
  my @log = grep { /AH30432/ } error_log_tail(400);
  ok(scalar(grep { /agent_pro/ } @log), 'the error log says why (AH30432)');

  $si->prices(catalog_prices(agent_pro => { active => 0 }));
  ok(plans_are(%ALL1, agent_pro => 0), 'an inactive price: only that plan unavailable') or diag(explain plans());
  $si->prices(catalog_prices(agent_pro => { interval_count => 3 }));
  ok(plans_are(%ALL1, agent_pro => 0), 'every 3 months: unavailable');
  my $p = catalog_prices();
  delete $p->{agent_pro};
  $si->prices($p);
  ok(plans_are(%ALL1, agent_pro => 0), 'no price with the lookup key: unavailable');
  like(psql_value("SELECT problem FROM stripe_prices WHERE plan_id = 'agent_pro'"),
       qr/no active price has the lookup key/, 'says so');
  error_ok($c->post('/api/checkout/tier', json => { tier => 'agent_pro' }), 503, 'CHECKOUT_UNAVAILABLE',
    'checkout of an unverified plan: 503');
  $si->prices(catalog_prices());
  ok(plans_are(%ALL1), 'matching again: all available');
};

# ---------------------------------------------------------------------------
subtest 'checkout: the Checkout Session Stripe receives' => sub {
  my $before = ents();
  $si->clear;
  my $r = $c->post('/api/checkout/tier', json => { tier => 'agent_pro' });
  is($r->status, 200, '200') or diag($r->describe);
  my $j = $r->json || {};
  is_deeply([sort keys %$j], [qw(checkout_session_id checkout_url)], 'exactly checkout_url and checkout_session_id');
  like($j->{checkout_session_id} // '', qr/^cs_test_/, 'a Checkout Session id');
  is($j->{checkout_url}, "https://checkout.stripe.com/c/pay/$j->{checkout_session_id}", 'its URL');
  is($r->header('Cache-Control'), 'no-store', 'no-store');
  my @req = grep { $_->{path} eq '/v1/checkout/sessions' } $si->requests;
  is(scalar @req, 1, 'one POST /v1/checkout/sessions') or return;
  my $q = $req[0];
  is($q->{method}, 'POST', 'POST');
  is_deeply($q->{form}, {
    mode => 'subscription',
    'line_items[0][price]' => 'price_agent_pro',
    'line_items[0][quantity]' => '1',
    client_reference_id => $owner->{account_id},
    customer_email => $owner->{email},
    'metadata[account_id]' => $owner->{account_id},
    'metadata[tier]' => 'agent_pro',
    'subscription_data[metadata][account_id]' => $owner->{account_id},
    'subscription_data[metadata][tier]' => 'agent_pro',
    success_url => 'https://127.0.0.1/billing/success?session_id={CHECKOUT_SESSION_ID}',
    cancel_url => 'https://127.0.0.1/billing/canceled',
  }, 'exactly these form parameters') or diag(explain $q->{form});
  like($q->{headers}{'content-type'}, qr{^application/x-www-form-urlencoded}, 'form-encoded');
  is($q->{headers}{authorization}, 'Bearer ' . $si->key, 'Bearer secret key');
  like($q->{headers}{'idempotency-key'} // '', qr/^webot-checkout-[a-z2-7]{26}$/, 'an Idempotency-Key');
  like($q->{body}, qr/line_items\[0\]\[price\]=price_agent_pro/, 'bracketed names as Stripe libraries send them');
  is(ents(), $before, 'nothing granted');
  my $e = api_get('/api/v1/entitlements', headers => {}, key => $owner->{key})->json;
  is($e && $e->{status}, 'none', 'the account still has no entitlement');

  # Idempotency-Key from the client: the same session again
  my $k = idem_key();
  my $r1 = $c->post('/api/checkout/tier', json => { tier => 'agent_pro' }, headers => { 'Idempotency-Key' => $k });
  my $r2 = $c->post('/api/checkout/tier', json => { tier => 'agent_pro' }, headers => { 'Idempotency-Key' => $k });
  is($r1->status, 200, 'with Idempotency-Key: 200');
  is($r2->json && $r2->json->{checkout_session_id}, $r1->json && $r1->json->{checkout_session_id},
     'the same key gives the same Checkout Session');
  @req = grep { $_->{path} eq '/v1/checkout/sessions' } $si->requests;
  is($req[-1]{headers}{'idempotency-key'}, $req[-2]{headers}{'idempotency-key'},
     'Stripe got the same Idempotency-Key twice');
  my $r3 = $c->post('/api/checkout/tier', json => { tier => 'both_team' }, headers => { 'Idempotency-Key' => $k });
  is($r3->status, 200, 'same key, other tier: 200');
  isnt($r3->json->{checkout_session_id}, $r1->json->{checkout_session_id}, 'a new session for the other tier');
  error_ok($c->post('/api/checkout/tier', json => { tier => 'agent_pro' }, headers => { 'Idempotency-Key' => 'short' }),
    400, 'IDEMPOTENCY_KEY_REQUIRED', 'a malformed Idempotency-Key');

  # an existing Stripe customer is reused
  my ($cus, $sub) = (rid('cus_'), rid('sub_'));
  my $r4 = post_event(stripe_event('checkout.session.completed', time,
    session_object(account => $owner->{account_id}, customer => $cus, subscription => $sub)), signer => $si);
  is($r4->json && $r4->json->{outcome}, 'applied', 'a completed checkout links the customer');
  $si->clear;
  is($c->post('/api/checkout/tier', json => { tier => 'human_starter' })->status, 200, 'checkout again');
  ($q) = grep { $_->{path} eq '/v1/checkout/sessions' } $si->requests;
  is($q->{form}{customer}, $cus, 'customer= the existing Stripe customer');
  ok(!exists $q->{form}{customer_email}, 'and no customer_email');
  is($q->{form}{'line_items[0][price]'}, 'price_human_starter', 'the plan\'s price');
};

subtest 'checkout refusals' => sub {
  $si->clear;
  my $e = error_ok($c->post('/api/checkout/tier', json => { tier => 'gold_plated' }), 422,
    'VALIDATION_ERROR', 'unknown tier');
  is($e && $e->{param}, 'tier', 'param tier');
  error_ok($c->post('/api/checkout/tier', json => {}), 422, 'VALIDATION_ERROR', 'no tier');
  error_ok($c->post('/api/checkout/tier', json => { tier => 'agent_pro', plan => 'x' }), 422,
    'VALIDATION_ERROR', 'an unknown field');
  error_ok($c->post('/api/checkout/tier', body => 'tier=agent_pro', content_type => 'application/x-www-form-urlencoded'),
    415, 'UNSUPPORTED_MEDIA_TYPE', 'not JSON');
  error_ok(api_post('/api/checkout/tier', json => { tier => 'agent_pro' }), 401, 'UNAUTHORIZED', 'no credential');
  error_ok(api_post('/api/checkout/tier', json => { tier => 'agent_pro' }, key => $owner->{key}), 403,
    'FORBIDDEN', 'an API key');
  my $member = make_account(role => 'member');
  error_ok(session_for($member)->post('/api/checkout/tier', json => { tier => 'agent_pro' }), 403,
    'FORBIDDEN', 'a member');
  my $nocsrf = session_for($owner);
  $nocsrf->set_header('X-CSRF-Token', undef);
  error_ok($nocsrf->post('/api/checkout/tier', json => { tier => 'agent_pro' }), 403, 'CSRF_FAILED', 'no CSRF token');
  is(scalar(grep { $_->{path} eq '/v1/checkout/sessions' } $si->requests), 0, 'Stripe was not called');
  error_ok($c->get('/api/checkout/tier'), 405, 'METHOD_NOT_ALLOWED', 'GET');
};

subtest 'Stripe unreachable or failing: a clear 503, nothing changed' => sub {
  my $before = ents();
  my $acct = make_account();
  my $s = session_for($acct);
  for my $case ([{ mode => 'reset' }, 'connection reset'], [{ mode => 'status', status => 500 }, '500'],
                [{ mode => 'status', status => 503 }, '503'], [{ mode => 'status', status => 429, type => 'rate_limit_error' }, '429'],
                [{ mode => 'hang' }, 'no answer within WebotStripeTimeout']) {
    $si->fail($case->[0]);
    my $t = Time::HiRes::time();
    my $r = $s->post('/api/checkout/tier', json => { tier => 'agent_pro' });
    my $e = error_ok($r, 503, 'CHECKOUT_UNAVAILABLE', "Stripe $case->[1]: 503");
    is($e && $e->{suggested_action}, 'retry', 'suggested_action retry');
    ok(($r->header('Retry-After') // 0) > 0, 'Retry-After');
    unlike($e->{message} // '', qr/curl|errno|127\.0\.0\.1|sk_/i, 'no internals in the message');
    ok(Time::HiRes::time() - $t < 10, 'answered within the timeout');
  }
  $si->fail({ mode => 'status', status => 401, type => 'invalid_request_error' });
  my $e = error_ok($s->post('/api/checkout/tier', json => { tier => 'agent_pro' }), 503, 'CHECKOUT_UNAVAILABLE',
    'Stripe refuses the key: 503');
  is($e && $e->{suggested_action}, 'ask_human', 'ask_human');
  $si->fail({ mode => 'reset' });
  Time::HiRes::sleep(2.5);
  is_deeply(plans(), \%ALL1, 'while Stripe is unreachable the verified state stays');
  $si->fail(undef);
  is(ents(), $before, 'no entitlement appeared');
  is(psql_value("SELECT count(*) FROM stripe_subscriptions WHERE account_id = '$acct->{account_id}'"), 0,
     'no subscription link appeared');
  is($s->post('/api/checkout/tier', json => { tier => 'agent_pro' })->status, 200, 'Stripe back: 200');
};

subtest 'query parameters grant nothing' => sub {
  my $acct = make_account();
  my $s = session_for($acct);
  my $qs = '?session_id=cs_test_fake&paid=true&plan=both_team&status=active&tier=both_team';
  my $r = $s->post("/api/checkout/tier$qs", json => { tier => 'agent_pro' });
  is($r->status, 200, 'checkout with query parameters: just a Checkout Session');
  for my $p ('/api/v1/entitlements', '/api/v1/me') {
    my $j = api_get("$p$qs", key => $acct->{key})->json || {};
    my $st = $p =~ /me$/ ? $j->{entitlement}{status} : $j->{status};
    is($st, 'none', "$p$qs: still no entitlement");
  }
  is(psql_value("SELECT count(*) FROM entitlements WHERE account_id = '$acct->{account_id}'"), 0,
     'no entitlements row');
  error_ok(api_get("/api/v1/api-keys$qs", key => $acct->{key}), 403, 'FORBIDDEN',
    'an API key still cannot use owner routes');
};

subtest 'webhook: secret rotation and livemode' => sub {
  my $p = stripe_event('customer.created', time, {});
  is(post_event($p, signer => $si, secret => $next)->status, 200, 'signed with the second file\'s secret: 200');
  is(post_event(stripe_event('customer.created', time, {}), signer => $si, secret => $next2)->status, 200,
     'its second line: 200');
  is(post_event(stripe_event('customer.created', time, {}), signer => $si)->status, 200,
     'the first file\'s secret still: 200');
  error_ok(post_event(stripe_event('customer.created', time, {}), signer => $si, secret => 'whsec_' . ('z' x 32)),
    400, 'WEBHOOK_SIGNATURE_INVALID', 'an unknown secret: 400');

  my $acct = make_account();
  my ($cus, $sub) = (rid('cus_'), rid('sub_'));
  my $r = post_event(stripe_event('checkout.session.completed', time,
    session_object(account => $acct->{account_id}, customer => $cus, subscription => $sub), livemode => 1),
    signer => $si);
  is($r->status, 200, 'a live-mode event on a test deployment: 200');
  is($r->json->{outcome}, 'ignored', 'but ignored');
  is(psql_value("SELECT count(*) FROM stripe_subscriptions WHERE id = '$sub'"), 0, 'nothing linked');
};

stripe_unconfigure();
subtest 'secret key removed' => sub {
  is_deeply(plans(), \%ALL0, 'no plan available without a key, at once');
  is(health_catalog(), 'unverified', 'health: unverified');
};

done_testing;
