# Entitlements from Stripe webhooks as the access gate sees them: access
# after a paid sign-up, past_due within WebotPastDueGrace (3d in the test
# config) and the loss of access after it, a payment restoring access with a
# new quota period, and cancel → 403 ENTITLEMENT_REQUIRED on the next
# request, for API keys and dashboard sessions alike.
use strict;
use warnings;
use Test::More;
use WebotTest;
use WebotAuth qw(session_for entitled_route);
use WebotStripe;

my $si = standin();
ok($si, 'the stand-in signs with the official stripe package') or BAIL_OUT('no node/npm');

my ($method, $path, %ropt) = entitled_route();
ok($method, "a Required route that needs the entitlement: " . ($method // '-') . ' ' . ($path // ''))
  or do { done_testing; exit 0 };

my $acct = make_account();                  # owner, key, no entitlement
my $sess = session_for($acct);
my $id = $acct->{account_id};
my ($cus, $sub) = (rid('cus_'), rid('sub_'));
my $now = time;
my $day = 86400;

sub by_key  { api_request($method, $path, %ropt, key => $acct->{key}) }
sub by_sess { $sess->request($method, $path, %ropt) }
sub ent     { api_get('/api/v1/entitlements', key => $acct->{key})->json || {} }
sub send_ok {
  my ($type, $created, $obj) = @_;
  my $r = post_event(stripe_event($type, $created, $obj), signer => $si);
  is($r->status, 200, "$type accepted") or diag($r->describe);
  return $r->json && $r->json->{outcome};
}
sub allowed {
  my ($r, $name) = @_;
  ok($r->status < 400, "$name: allowed (" . $r->status . ')') or diag($r->describe);
}

error_ok(by_key(), 403, 'ENTITLEMENT_REQUIRED', 'no entitlement yet: API key refused');

# --- sign-up -----------------------------------------------------------------
my ($ps, $pe) = ($now - 10 * $day, $now + 20 * $day);
send_ok('checkout.session.completed', $now - 10 * $day,
  session_object(account => $id, customer => $cus, subscription => $sub, tier => 'both_team'));
is(send_ok('customer.subscription.created', $now - 10 * $day,
  subscription_object(id => $sub, customer => $cus, status => 'active', plan => 'both_team',
                      start => $ps, end => $pe)), 'applied', 'subscription applied');
send_ok('invoice.paid', $now - 10 * $day,
  invoice_object(customer => $cus, subscription => $sub, start => $ps, end => $pe));

my $e = ent();
is($e->{status}, 'active', 'entitlements: active');
is($e->{source}, 'stripe', 'source stripe');
is($e->{plan} && $e->{plan}{id}, 'both_team', 'plan both_team');
is_deeply([sort @{ $e->{access} || [] }], [qw(api dashboard)], 'api and dashboard usable');
allowed(by_key(), 'API key');
allowed(by_sess(), 'dashboard session');

# --- a failed payment: past_due keeps access for the grace period ------------
is(send_ok('invoice.payment_failed', $now - 1 * $day,
  invoice_object(customer => $cus, subscription => $sub, start => $pe, end => $pe + 30 * $day,
                 status => 'open', reason => 'subscription_cycle')), 'applied', 'failure applied');
$e = ent();
is($e->{status}, 'past_due', 'past_due');
is_deeply([sort @{ $e->{access} || [] }], [qw(api dashboard)], 'still usable within the grace period');
allowed(by_key(), 'past_due for 1 day (grace 3d): API key');
allowed(by_sess(), 'past_due for 1 day: session');

# an earlier failure (after the last payment) arrives late: past due since
# 4 days, beyond the 3-day grace
send_ok('invoice.payment_failed', $now - 4 * $day,
  invoice_object(customer => $cus, subscription => $sub, start => $ps, end => $pe,
                 status => 'open', reason => 'subscription_update'));
is(ent_row($id)->{past_due_since}, $now - 4 * $day, 'past_due_since is the first unresolved failure');
$e = ent();
is($e->{status}, 'past_due', 'still past_due');
is_deeply($e->{access} || [], [], 'nothing usable after the grace period');
error_ok(by_key(), 403, 'ENTITLEMENT_REQUIRED', 'past_due beyond the grace: API key refused');
error_ok(by_sess(), 403, 'ENTITLEMENT_REQUIRED', 'past_due beyond the grace: session refused');
is(api_get('/api/v1/me', key => $acct->{key})->status, 200, '/me still answers');

# --- paid: access again, and the new period's quota ----------------------------
my ($ps2, $pe2) = ($pe, $pe + 30 * $day);
send_ok('invoice.paid', $now,
  invoice_object(customer => $cus, subscription => $sub, start => $ps2, end => $pe2,
                 reason => 'subscription_cycle'));
$e = ent();
is($e->{status}, 'active', 'active again after invoice.paid');
my $row = ent_row($id);
is($row->{period_start}, $ps2, 'the quota period is the one paid for (start)');
is($row->{period_end}, $pe2, '(end)');
is($row->{past_due_since}, '', 'past_due_since cleared');
allowed(by_key(), 'paid: API key');
allowed(by_sess(), 'paid: session');

# --- cancel: the next request is refused ----------------------------------------
is(send_ok('customer.subscription.deleted', $now,
  subscription_object(id => $sub, customer => $cus, status => 'canceled', plan => 'both_team',
                      start => $ps2, end => $pe2)), 'applied', 'deleted applied');
is(ent()->{status}, 'canceled', 'entitlements: canceled');
my $err = error_ok(by_key(), 403, 'ENTITLEMENT_REQUIRED', 'canceled: the next API request is refused');
is($err && $err->{suggested_endpoint}, 'GET /api/v1/entitlements', 'pointing at the entitlements');
error_ok(by_sess(), 403, 'ENTITLEMENT_REQUIRED', 'canceled: the next dashboard request is refused');
is(api_get('/api/v1/me', key => $acct->{key})->json->{entitlement}{status}, 'canceled',
   '/me shows canceled');

# a replay of the old "active" events changes nothing
for my $ev (
  stripe_event('customer.subscription.updated', $now - 5 * $day,
    subscription_object(id => $sub, customer => $cus, status => 'active', plan => 'both_team',
                        start => $ps, end => $pe))) {
  my $r = post_event($ev, signer => $si);
  is($r->json && $r->json->{outcome}, 'stale', 'an older active state after the cancel is stale');
}
error_ok(by_key(), 403, 'ENTITLEMENT_REQUIRED', 'still refused');

done_testing;
