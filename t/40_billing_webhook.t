# POST /api/stripe/webhook: Stripe-Signature edge cases (payloads signed by
# the official stripe npm package through t/node), each event id recorded
# once (also under concurrency), and entitlements that do not depend on the
# order in which events arrive (every permutation of two realistic 4-event
# sequences, plus duplicates of each), cancel, payment failure, manual grants.
use strict;
use warnings;
use Test::More;
use Time::HiRes ();
use List::Util qw(shuffle);
use WebotTest;
use WebotStripe;

my $si = standin();
ok($si, 'the Stripe stand-in (node, official stripe package) runs') or BAIL_OUT('no node/npm');

my $secret = webhook_secret();
my $now = time;

sub events_count { psql_value("SELECT count(*) FROM stripe_events") }
sub new_account {
  my $a = webotctl_json(qw(account create --name), 'billing ' . rid(''));
  return $a->{id};
}

# ---------------------------------------------------------------------------
subtest 'signature edge cases' => sub {
  my $payload = stripe_event('customer.created', $now, { id => rid('cus_'), object => 'customer' });
  my $before = events_count();
  my $official = $si->sign($payload, $secret, $now);
  like($official, qr/^t=\d+,v1=[0-9a-f]{64}$/, 'official header has t= and v1=');
  is($official, sign_local($payload, $secret, $now), 'and equals our HMAC-SHA256 of "t.payload"');

  my $r = post_event($payload, header => undef);
  my $e = error_ok($r, 400, 'WEBHOOK_SIGNATURE_INVALID', 'missing header');
  like($e->{message} // '', qr/no Stripe-Signature/, 'says the header is missing');
  error_ok(post_event($payload, header => 'garbage'), 400, 'WEBHOOK_SIGNATURE_INVALID', 'malformed header');
  error_ok(post_event($payload, header => "v1=" . ('a' x 64)), 400, 'WEBHOOK_SIGNATURE_INVALID', 'no t=');
  error_ok(post_event($payload, header => "t=$now"), 400, 'WEBHOOK_SIGNATURE_INVALID', 't= but no v1');
  my ($v1) = $official =~ /v1=([0-9a-f]+)/;
  error_ok(post_event($payload, header => "t=$now,v0=$v1"), 400, 'WEBHOOK_SIGNATURE_INVALID',
    'only a v0 scheme (ignored)');
  error_ok(post_event($payload, header => "t=x$now,v1=$v1"), 400, 'WEBHOOK_SIGNATURE_INVALID', 'bad t');
  error_ok(post_event($payload, signer => $si, secret => 'whsec_' . ('W' x 32)), 400,
    'WEBHOOK_SIGNATURE_INVALID', 'wrong secret (official signer)');

  my $altered = $payload;
  $altered =~ s/"customer\.created"/"customer.creates"/ or die;
  error_ok(post_event($altered, header => $official), 400, 'WEBHOOK_SIGNATURE_INVALID',
    'body altered by one byte');
  error_ok(post_event("$payload ", header => $official), 400, 'WEBHOOK_SIGNATURE_INVALID',
    'one byte appended');

  my $stale = $now - 301;
  error_ok(post_event($payload, signer => $si, t => $stale), 400, 'WEBHOOK_SIGNATURE_INVALID',
    'timestamp 301 s old (tolerance 300)');
  $e = error_ok(post_event($payload, signer => $si, t => $now + 400), 400,
    'WEBHOOK_SIGNATURE_INVALID', 'timestamp 400 s in the future');
  like($e->{message} // '', qr/future/, 'says why');
  is(events_count(), $before, 'no refused event was recorded');

  # rotation: Stripe sends one v1 per active secret; one of them is ours
  my $other = $si->sign($payload, 'whsec_' . ('R' x 32), $now);
  my ($v1b) = $other =~ /v1=([0-9a-f]+)/;
  $r = post_event($payload, header => "t=$now,v1=$v1b,v1=$v1");
  is($r->status, 200, 'two v1 values, the second one ours: 200') or diag($r->describe);
  is($r->json && $r->json->{outcome}, 'ignored', 'an unused event type is recorded as ignored');
  is(psql_value("SELECT outcome FROM stripe_events WHERE id = '" . (json_decode($payload)->{id}) . "'"),
     'ignored', 'stripe_events row says ignored');

  my $p2 = stripe_event('customer.created', $now, { id => rid('cus_') });
  $r = post_event($p2, header => "t=$now,v1=$v1b," . ($si->sign($p2, $secret, $now) =~ s/^t=\d+,//r) . ",v0=abc,x=y");
  is($r->status, 200, 'our v1 second, other schemes beside it: 200') or diag($r->describe);
  $r = post_event(stripe_event('customer.created', $now - 290, {}), signer => $si, t => $now - 290);
  is($r->status, 200, 'a timestamp 290 s old is inside the tolerance') or diag($r->describe);

  my $notjson = "not json {";
  error_ok(post_event($notjson, signer => $si), 400, 'BAD_REQUEST', 'signed but not JSON');
  error_ok(post_event('{"hello":"world"}', signer => $si), 400, 'BAD_REQUEST', 'signed JSON that is no event');
  my $big = stripe_event('customer.created', $now, { pad => 'x' x (600 * 1024) });
  error_ok(post_event($big, signer => $si), 413, 'PAYLOAD_TOO_LARGE', 'a 600 KiB payload');
  error_ok(api_get('/api/stripe/webhook'), 405, 'METHOD_NOT_ALLOWED', 'GET is not allowed');
};

# ---------------------------------------------------------------------------
subtest 'duplicates, also concurrent' => sub {
  my $acct = new_account();
  my ($cus, $sub) = (rid('cus_'), rid('sub_'));
  my $start = $now - 60;
  my $ev = stripe_event('customer.subscription.created', $now - 30,
    subscription_object(id => $sub, customer => $cus, status => 'active', plan => 'agent_pro',
                        start => $start, end => $start + 30 * 86400));
  my $r = post_event($ev, signer => $si);
  is($r->json && $r->json->{outcome}, 'applied', 'first delivery applied') or diag($r->describe);
  $r = post_event($ev, signer => $si);
  is($r->status, 200, 'second delivery: 200');
  is($r->json && $r->json->{outcome}, 'duplicate', 'and a duplicate');
  my $id = json_decode($ev)->{id};
  is(psql_value("SELECT count(*) FROM stripe_events WHERE id = '$id'"), 1, 'recorded once');

  # the same new event delivered 12 times at once
  my $link = stripe_event('checkout.session.completed', $now - 20,
    session_object(account => $acct, customer => $cus, subscription => $sub));
  my $hdr = $si->sign($link, $secret, time);
  my @outcomes = in_parallel(12, sub { my $x = post_event($link, header => $hdr);
                                    $x->status . ' ' . ($x->json ? $x->json->{outcome} : '') });
  is(scalar(grep { $_ eq '200 applied' } @outcomes), 1, 'exactly one concurrent delivery applied')
    or diag(join ', ', @outcomes);
  is(scalar(grep { $_ eq '200 duplicate' } @outcomes), 11, 'the other 11 are 200 duplicates');
  $id = json_decode($link)->{id};
  is(psql_value("SELECT count(*) FROM stripe_events WHERE id = '$id'"), 1, 'recorded once');
  my $row = ent_row($acct);
  is($row && $row->{status}, 'active', 'the entitlement was applied once, active');
  is($row && $row->{plan_id}, 'agent_pro', 'plan from the price lookup key');

  # a duplicate changes nothing even after a newer state
  my $cancel = stripe_event('customer.subscription.deleted', $now - 10,
    subscription_object(id => $sub, customer => $cus, status => 'canceled', plan => 'agent_pro',
                        start => $start, end => $start + 30 * 86400));
  is(post_event($cancel, signer => $si)->json->{outcome}, 'applied', 'cancel applied');
  is(post_event($ev, signer => $si)->json->{outcome}, 'duplicate', 'the old created event again: duplicate');
  is(ent_row($acct)->{status}, 'canceled', 'still canceled');
};

# ---------------------------------------------------------------------------
# Every permutation of a realistic 4-event sequence, each followed by
# duplicates of all four, must end in the same entitlement row.

sub permutations {
  my (@l) = @_;
  return ([]) unless @l;
  my @out;
  for my $i (0 .. $#l) {
    my @rest = @l;
    my ($x) = splice @rest, $i, 1;
    push @out, [ $x, @$_ ] for permutations(@rest);
  }
  return @out;
}

sub normalized {
  my ($row, $acct, $cus, $sub) = @_;
  return 'none' unless $row;
  my %r = %$row;
  is($r{stripe_customer_id}, $cus, "$acct: its customer") if $cus;
  is($r{stripe_subscription_id}, $sub, "$acct: its subscription") if $sub;
  delete @r{qw(stripe_customer_id stripe_subscription_id)};
  return join '|', map { "$_=$r{$_}" } sort keys %r;
}

subtest 'sign-up: every order of checkout.session.completed, subscription created, invoice.paid, subscription updated' => sub {
  my $t0 = $now - 600;
  my $ps = $t0 - 5;
  my $pe = $ps + 30 * 86400;
  my %final;
  my $n = 0;
  for my $perm (permutations(0 .. 3)) {
    my $acct = new_account();
    my ($cus, $sub) = (rid('cus_'), rid('sub_'));
    my @ev = (
      stripe_event('checkout.session.completed', $t0 + 2,
        session_object(account => $acct, customer => $cus, subscription => $sub)),
      # created and updated in the same second: Stripe's usual pair
      stripe_event('customer.subscription.created', $t0,
        subscription_object(id => $sub, customer => $cus, status => 'incomplete',
                            plan => 'agent_pro', start => $ps, end => $pe)),
      stripe_event('invoice.paid', $t0 + 1,
        invoice_object(customer => $cus, subscription => $sub, start => $ps, end => $pe)),
      stripe_event('customer.subscription.updated', $t0,
        subscription_object(id => $sub, customer => $cus, status => 'active',
                            plan => 'agent_pro', start => $ps, end => $pe)),
    );
    my @got;
    for my $i (@$perm) {
      my $r = post_event($ev[$i], signer => $si);
      push @got, $r->status == 200 ? $r->json->{outcome} : $r->status;
    }
    my @dup = map { post_event($ev[$_], signer => $si)->json->{outcome} } shuffle(0 .. 3);
    is("@dup", 'duplicate duplicate duplicate duplicate', "order @$perm: duplicates change nothing");
    $final{ normalized(ent_row($acct), $acct, $cus, $sub) }++;
    $n++;
  }
  is($n, 24, '24 orders sent');
  my @kinds = keys %final;
  is(scalar @kinds, 1, 'all 24 orders end in the same entitlement row') or diag(explain \%final);
  like($kinds[0], qr/plan_id=agent_pro/, 'plan agent_pro');
  like($kinds[0], qr/status=active/, 'status active');
  like($kinds[0], qr/source=stripe/, 'source stripe');
  like($kinds[0], qr/period_start=$ps\b/, 'period from the subscription');
  like($kinds[0], qr/period_end=$pe\b/, 'period end from the subscription');
  like($kinds[0], qr/past_due_since=\|/, 'not past due');
};

subtest 'renewal after a failed payment: every order of four events' => sub {
  my $t0 = $now - 3000;
  my $ps = $t0 - 30 * 86400;
  my $pe = $t0;
  my $pe2 = $t0 + 30 * 86400;
  my %final;
  for my $perm (permutations(0 .. 3)) {
    my $acct = new_account();
    my ($cus, $sub) = (rid('cus_'), rid('sub_'));
    # linked and active before the sequence
    for my $ev (stripe_event('checkout.session.completed', $ps,
                  session_object(account => $acct, customer => $cus, subscription => $sub)),
                stripe_event('customer.subscription.created', $ps,
                  subscription_object(id => $sub, customer => $cus, status => 'active',
                                      plan => 'both_team', start => $ps, end => $pe))) {
      post_event($ev, signer => $si)->status == 200 or die 'setup failed';
    }
    my @ev = (
      stripe_event('invoice.payment_failed', $t0 + 10,
        invoice_object(customer => $cus, subscription => $sub, start => $pe, end => $pe2,
                       status => 'open', reason => 'subscription_cycle')),
      stripe_event('customer.subscription.updated', $t0 + 10,
        subscription_object(id => $sub, customer => $cus, status => 'past_due',
                            plan => 'both_team', start => $pe, end => $pe2)),
      stripe_event('invoice.paid', $t0 + 500,
        invoice_object(customer => $cus, subscription => $sub, start => $pe, end => $pe2,
                       reason => 'subscription_cycle')),
      stripe_event('customer.subscription.updated', $t0 + 500,
        subscription_object(id => $sub, customer => $cus, status => 'active',
                            plan => 'both_team', start => $pe, end => $pe2)),
    );
    post_event($ev[$_], signer => $si)->status == 200 or fail("order @$perm: event $_ refused") for @$perm;
    my @dup = map { post_event($ev[$_], signer => $si)->json->{outcome} } shuffle(0 .. 3);
    is("@dup", 'duplicate duplicate duplicate duplicate', "order @$perm: duplicates");
    $final{ normalized(ent_row($acct), $acct, $cus, $sub) }++;
  }
  my @kinds = keys %final;
  is(scalar @kinds, 1, 'all 24 orders end in the same entitlement row') or diag(explain \%final);
  like($kinds[0], qr/status=active/, 'active again');
  like($kinds[0], qr/period_start=$pe\b.*|period_end=$pe2\b/, 'the new period');
  like($kinds[0], qr/period_end=$pe2\b/, 'the new period ends a month later');
  like($kinds[0], qr/past_due_since=\|/, 'past_due cleared');
  like($kinds[0], qr/plan_id=both_team/, 'plan both_team');
};

# ---------------------------------------------------------------------------
subtest 'payment failure, cancel, stale events' => sub {
  my $acct = new_account();
  my ($cus, $sub) = (rid('cus_'), rid('sub_'));
  my $ps = $now - 86400;
  my $pe = $ps + 30 * 86400;
  post_event(stripe_event('checkout.session.completed', $now - 900,
    session_object(account => $acct, customer => $cus, subscription => $sub)), signer => $si);
  post_event(stripe_event('customer.subscription.created', $now - 900,
    subscription_object(id => $sub, customer => $cus, status => 'active', plan => 'agent_pro',
                        start => $ps, end => $pe)), signer => $si);
  is(ent_row($acct)->{status}, 'active', 'active');

  my $failed_at = $now - 600;
  my $r = post_event(stripe_event('invoice.payment_failed', $failed_at,
    invoice_object(customer => $cus, subscription => $sub, start => $ps, end => $pe, status => 'open')),
    signer => $si);
  is($r->json->{outcome}, 'applied', 'invoice.payment_failed applied');
  my $row = ent_row($acct);
  is($row->{status}, 'past_due', 'past_due');
  is($row->{past_due_since}, $failed_at, 'past_due_since is the failure time');

  # an older event than the current state is stale
  $r = post_event(stripe_event('customer.subscription.updated', $now - 1000,
    subscription_object(id => $sub, customer => $cus, status => 'trialing', plan => 'both_team',
                        start => $ps, end => $pe)), signer => $si);
  is($r->json->{outcome}, 'stale', 'an older subscription state is stale');
  is(ent_row($acct)->{plan_id}, 'agent_pro', 'and changed nothing');

  $r = post_event(stripe_event('customer.subscription.deleted', $now - 300,
    subscription_object(id => $sub, customer => $cus, status => 'canceled', plan => 'agent_pro',
                        start => $ps, end => $pe)), signer => $si);
  is($r->json->{outcome}, 'applied', 'deleted applied');
  is(ent_row($acct)->{status}, 'canceled', 'canceled');

  # canceled is final: a later "active" update (out of order) does not revive it
  $r = post_event(stripe_event('customer.subscription.updated', $now - 100,
    subscription_object(id => $sub, customer => $cus, status => 'active', plan => 'agent_pro',
                        start => $ps, end => $pe)), signer => $si);
  is($r->json->{outcome}, 'stale', 'an update after deletion is stale');
  is(ent_row($acct)->{status}, 'canceled', 'still canceled');
  $r = post_event(stripe_event('invoice.paid', $now - 50,
    invoice_object(customer => $cus, subscription => $sub, start => $pe, end => $pe + 86400 * 30)),
    signer => $si);
  is(ent_row($acct)->{status}, 'canceled', 'a paid invoice does not revive a canceled subscription');
};

subtest 'links: unknown accounts, events before the link, manual grants' => sub {
  my ($cus, $sub) = (rid('cus_'), rid('sub_'));
  my $r = post_event(stripe_event('checkout.session.completed', $now,
    session_object(account => 'acct_doesnotexist00000000000', customer => $cus, subscription => $sub)),
    signer => $si);
  is($r->status, 200, 'checkout for an unknown account: 200');
  is($r->json->{outcome}, 'ignored', 'recorded as ignored');
  is(psql_value("SELECT count(*) FROM stripe_subscriptions WHERE id = '$sub'"), 0, 'no link made');

  $r = post_event(stripe_event('checkout.session.completed', $now,
    session_object(account => undef, customer => $cus, subscription => $sub)), signer => $si);
  is($r->json->{outcome}, 'ignored', 'no client_reference_id: ignored');
  $r = post_event(stripe_event('checkout.session.completed', $now,
    session_object(account => new_account(), customer => $cus, subscription => undef, mode => 'payment')),
    signer => $si);
  is($r->json->{outcome}, 'ignored', 'a payment-mode session: ignored');

  # an account with a manual grant keeps it when its Stripe subscription ends
  my $acct = new_account();
  webotctl_json('entitlement', 'grant', '--account', $acct, '--plan', 'both_team');
  post_event(stripe_event('checkout.session.completed', $now - 50,
    session_object(account => $acct, customer => $cus, subscription => $sub)), signer => $si);
  $r = post_event(stripe_event('customer.subscription.deleted', $now - 40,
    subscription_object(id => $sub, customer => $cus, status => 'canceled', plan => 'agent_pro',
                        start => $now - 86400, end => $now + 86400)), signer => $si);
  is($r->json->{outcome}, 'applied', 'deleted applied to the subscription');
  my $row = ent_row($acct);
  is($row->{source}, 'manual', 'the manual grant stays');
  is($row->{status}, 'active', 'and active');

  # a subscription whose price matches no catalog plan grants nothing
  my $acct2 = new_account();
  my ($cus2, $sub2) = (rid('cus_'), rid('sub_'));
  post_event(stripe_event('checkout.session.completed', $now - 50,
    session_object(account => $acct2, customer => $cus2, subscription => $sub2)), signer => $si);
  post_event(stripe_event('customer.subscription.created', $now - 50,
    subscription_object(id => $sub2, customer => $cus2, status => 'active', lookup_key => 'someone_elses_price',
                        start => $now - 86400, end => $now + 86400)), signer => $si);
  is(ent_row($acct2), undef, 'unknown lookup key: no entitlement');
};

subtest 'answers quickly (figures in the TAP output)' => sub {
  my $acct = new_account();
  my ($cus, $sub) = (rid('cus_'), rid('sub_'));
  post_event(stripe_event('checkout.session.completed', $now - 5000,
    session_object(account => $acct, customer => $cus, subscription => $sub)));
  my (@lat, $bad);
  my $n = 300;
  my $t0 = Time::HiRes::time();
  for my $i (1 .. $n) {
    # alternately a subscription update that changes the entitlement and an
    # unused event type (locally signed: the HMAC is the same as Stripe's)
    my $ev = $i % 2
      ? stripe_event('customer.subscription.updated', $now - 5000 + $i,
          subscription_object(id => $sub, customer => $cus, status => 'active', plan => 'agent_pro',
                              start => $now - 86400, end => $now + $i))
      : stripe_event('customer.created', $now, {});
    my $t = Time::HiRes::time();
    my $r = post_event($ev);
    push @lat, Time::HiRes::time() - $t;
    $bad++ unless $r->status == 200;
  }
  my $wall = Time::HiRes::time() - $t0;
  @lat = sort { $a <=> $b } @lat;
  ok(!$bad, "$n signed events, all 200");
  diag(sprintf 'webhook: %d events in %.2f s sequentially (%.0f/s); latency p50 %.1f ms, p99 %.1f ms',
       $n, $wall, $n / $wall, 1000 * $lat[int($n / 2)], 1000 * $lat[int($n * 0.99)]);
  ok($lat[int($n * 0.99)] < 1, 'p99 under a second');
  is(ent_row($acct)->{period_end}, $now + ($n - 1), 'the last update won');
};

subtest 'database down: 503, nothing kept, the retry applies' => sub {
  my $acct = new_account();
  my ($cus, $sub) = (rid('cus_'), rid('sub_'));
  my $ev = stripe_event('checkout.session.completed', time,
    session_object(account => $acct, customer => $cus, subscription => $sub));
  my $id = json_decode($ev)->{id};
  pg_stop();
  my $r = eval { post_event($ev, signer => $si) };
  pg_start();
  my $e = error_ok($r, 503, 'SERVICE_UNAVAILABLE', 'PostgreSQL stopped: 503 (Stripe retries)');
  ok(($r->header('Retry-After') // 0) > 0, 'Retry-After');
  is(psql_value("SELECT count(*) FROM stripe_events WHERE id = '$id'"), 0, 'the event was not recorded');
  $r = wait_for(sub { my $x = post_event($ev, signer => $si); $x->status == 200 ? $x : undef }, 20);
  is($r && $r->json->{outcome}, 'applied', 'the redelivery is applied, not a duplicate');
};

done_testing;
