# Entitlements from Stripe webhooks as the access gate sees them: access
# after a paid sign-up, past_due within WebotPastDueGrace (3d in the test
# config) and the loss of access after it, a payment restoring access with a
# new quota period, and cancel → 403 ENTITLEMENT_REQUIRED on the next
# request, for API keys and dashboard sessions alike; a period that ended
# beyond the grace with no renewal heard of stops access until one comes.
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

# --- no renewal heard of: a Stripe period that ended beyond the grace ---------
# (the webhook endpoint unreachable for days, or the deletion event lost):
# access stops instead of running on forever; a renewal restores it.
{
  my $b = make_account();
  my ($cus2, $sub2) = (rid('cus_'), rid('sub_'));
  my ($bps, $bpe) = ($now - 34 * $day, $now - 4 * $day);
  my $req = sub { api_request($method, $path, %ropt, key => $b->{key}) };
  send_ok('checkout.session.completed', $bps,
    session_object(account => $b->{account_id}, customer => $cus2, subscription => $sub2, tier => 'both_team'));
  is(send_ok('customer.subscription.created', $bps,
    subscription_object(id => $sub2, customer => $cus2, status => 'active', plan => 'both_team',
                        start => $bps, end => $bpe)), 'applied', 'a subscription whose period ended 4 days ago');
  send_ok('invoice.paid', $bps,
    invoice_object(customer => $cus2, subscription => $sub2, start => $bps, end => $bpe));
  my $be = api_get('/api/v1/entitlements', key => $b->{key})->json || {};
  is($be->{status}, 'past_due', 'no renewal for 4 days (grace 3d): shown as past_due');
  is_deeply($be->{access} || [], [], 'nothing usable');
  my $err2 = error_ok($req->(), 403, 'ENTITLEMENT_REQUIRED', 'the API key is refused');
  like($err2 && $err2->{message} // '', qr/renewal/, 'saying that no renewal was received');
  is(api_get('/api/v1/me', key => $b->{key})->status, 200, '/me still answers');

  send_ok('invoice.paid', $now,
    invoice_object(customer => $cus2, subscription => $sub2, start => $bpe, end => $bpe + 30 * $day,
                   reason => 'subscription_cycle'));
  $be = api_get('/api/v1/entitlements', key => $b->{key})->json || {};
  is($be->{status}, 'active', 'the renewal arrives: active again');
  ok($req->()->status < 400, 'and the key is allowed again');

  # within the grace: still usable
  my $c = make_account();
  my ($cus3, $sub3) = (rid('cus_'), rid('sub_'));
  send_ok('checkout.session.completed', $now - 31 * $day,
    session_object(account => $c->{account_id}, customer => $cus3, subscription => $sub3, tier => 'both_team'));
  send_ok('customer.subscription.created', $now - 31 * $day,
    subscription_object(id => $sub3, customer => $cus3, status => 'active', plan => 'both_team',
                        start => $now - 31 * $day, end => $now - 1 * $day));
  is((api_get('/api/v1/entitlements', key => $c->{key})->json || {})->{status}, 'active',
     'a period that ended 1 day ago (grace 3d): still active');
  ok(api_request($method, $path, %ropt, key => $c->{key})->status < 400, 'and usable');
}

done_testing;
