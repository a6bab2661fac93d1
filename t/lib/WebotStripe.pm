package WebotStripe;

# Helpers of the billing tests (t/4x_billing*.t), beside WebotTest.pm:
#
#   my $si = standin(key => 'sk_test_...');   # t/node/stripe-standin.js
#   $si->prices([price(...), ...]);           # what GET /v1/prices lists
#   $si->fail({mode => 'reset'});             # status | hang | reset | undef
#   my @req = $si->requests;                  # what it received
#   my $hdr = $si->sign($payload, $secret, $t);   # official stripe package
#
#   stripe_configure($si, extra => "...");    # httpd uses the stand-in
#   stripe_unconfigure();                     # (WebotTest::httpd_graceful)
#
#   my $ev = stripe_event('invoice.paid', $created, invoice_object(...));
#   my $r  = post_event($ev, signer => $si);  # signed, POSTed to the webhook
#   my $row = ent_row($account_id);           # the entitlements row
#
# Objects follow Stripe's API 2024-06-20 shapes (the version mod_webot
# pins), as Stripe sends them in events.

use strict;
use warnings;

use Exporter 'import';
use Carp qw(croak);
use IPC::Open2 ();
use JSON::PP ();
use Time::HiRes ();
use WebotTest;
use WebotAgents qw(node_ready node_bin);

our @EXPORT = qw(
  standin stripe_configure stripe_unconfigure
  stripe_event subscription_object invoice_object session_object price
  catalog_prices post_event sign_local ent_row rid wait_for
  webhook_secret
);

my $JSON = JSON::PP->new->utf8->canonical->pretty;
my $TRUE = JSON::PP::true;
my $FALSE = JSON::PP::false;

sub rid { my ($p) = @_; return $p . join('', map { ('A'..'Z', 'a'..'z', 0..9)[rand 62] } 1..14) }

sub webhook_secret { $ENV{WEBOT_TEST_STRIPE_WEBHOOK_SECRET} // croak 'WEBOT_TEST_STRIPE_WEBHOOK_SECRET is not set' }

# wait_for(sub { ... true when done ... }, $seconds) -> last value
sub wait_for {
  my ($f, $secs) = @_;
  my $end = Time::HiRes::time() + ($secs // 20);
  my $v;
  while (1) {
    $v = $f->();
    return $v if $v || Time::HiRes::time() > $end;
    Time::HiRes::sleep(0.25);
  }
}

# ---------------------------------------------------------------------------
# The stand-in process.

sub standin { WebotStripe::Standin->start(@_) }

# ---------------------------------------------------------------------------
# httpd configuration through an included file and a graceful restart.

our $CONFIGURED = 0;

sub _conf_file { ($ENV{WEBOT_TEST_DIR} // croak 'WEBOT_TEST_DIR is not set') . '/stripe-standin.conf' }

# stripe_configure($standin, key_file => ..., extra => "Directive ...\n"):
# points WebotStripeAPIBase at the stand-in with its secret key, plan checks
# every second and short timeouts, then restarts httpd gracefully.
sub stripe_configure {
  my ($si, %o) = @_;
  my $dir = $ENV{WEBOT_TEST_DIR};
  my $keyfile = "$dir/stripe_secret_key";
  open my $k, '>', $keyfile or croak "$keyfile: $!";
  print {$k} $si->key, "\n";
  close $k;
  chmod 0600, $keyfile;
  my $conf = "# written by t/lib/WebotStripe.pm (billing tests)\n"
    . "WebotStripeAPIBase \"" . $si->url . "\"\n"
    . "WebotStripeSecretKeyFile \"$keyfile\"\n"
    . "WebotStripeVerifyInterval 1\n"
    . "WebotStripeTimeout 3\n"
    . ($o{extra} // '');
  open my $fh, '>', _conf_file() or croak _conf_file() . ": $!";
  print {$fh} $conf;
  close $fh;
  $CONFIGURED = 1;
  httpd_graceful();
  Time::HiRes::sleep(0.3);
}

sub stripe_unconfigure {
  unlink _conf_file();
  httpd_graceful();
  $CONFIGURED = 0;
}

# A test that dies half-way still leaves httpd without the stand-in.
END {
  if ($CONFIGURED) {
    local $?;
    eval { stripe_unconfigure() };
  }
}

# ---------------------------------------------------------------------------
# Stripe objects and events.

# price(lookup_key => .., amount => .., currency => .., interval => ..,
#       active => 1, livemode => 0, interval_count => 1, id => ..)
sub price {
  my (%o) = @_;
  return {
    id => $o{id} // rid('price_'), object => 'price',
    active => ($o{active} // 1) ? $TRUE : $FALSE,
    billing_scheme => 'per_unit', created => time - 86400,
    currency => $o{currency} // 'usd', custom_unit_amount => undef,
    livemode => $o{livemode} ? $TRUE : $FALSE,
    lookup_key => $o{lookup_key}, metadata => {}, nickname => undef,
    product => $o{product} // 'prod_' . ($o{lookup_key} // 'x'),
    recurring => exists $o{recurring} ? $o{recurring} : {
      aggregate_usage => undef, interval => $o{interval} // 'month',
      interval_count => $o{interval_count} // 1, meter => undef,
      trial_period_days => undef, usage_type => 'licensed' },
    tax_behavior => 'unspecified', tiers_mode => undef,
    transform_quantity => undef,
    type => exists $o{recurring} && !$o{recurring} ? 'one_time' : 'recurring',
    unit_amount => exists $o{amount} ? $o{amount} : 9900,
    unit_amount_decimal => (exists $o{amount} ? $o{amount} // '' : 9900) . '',
  };
}

# Prices that match conf/catalog.json, by plan id (overrides per plan:
# catalog_prices(agent_pro => {amount => 1})).
sub catalog_prices {
  my (%over) = @_;
  my $cat = api_get('/api/v1/plans')->json or croak 'no plans';
  my %out;
  for my $pl (@{ $cat->{plans} }) {
    my $key = _lookup_key($pl->{id});
    $out{$pl->{id}} = price(id => "price_$pl->{id}", lookup_key => $key,
      amount => $pl->{price}{amount}, currency => $pl->{price}{currency},
      interval => $pl->{price}{interval}, %{ $over{$pl->{id}} || {} });
  }
  return \%out;
}

my %LOOKUP;
sub _lookup_key {
  my ($plan) = @_;
  if (!%LOOKUP) {
    my $file = ($ENV{WEBOT_TEST_DIR} ? "$ENV{WEBOT_TEST_DIR}/catalog.json"
                                     : top_dir() . '/conf/catalog.json');
    open my $fh, '<', $file or croak "$file: $!";
    my $c = JSON::PP->new->decode(do { local $/; <$fh> });
    $LOOKUP{ $_->{id} } = $_->{stripe_lookup_key} for @{ $c->{plans} };
  }
  return $LOOKUP{$plan} // croak "no plan $plan";
}
sub lookup_key { _lookup_key(@_) }

# subscription_object(id => sub_, customer => cus_, status => ..., plan =>
#   catalog plan id (its lookup key) or lookup_key => .., start => .., end =>)
sub subscription_object {
  my (%o) = @_;
  my $lk = $o{lookup_key} // _lookup_key($o{plan} // 'agent_pro');
  my $price = price(id => $o{price_id} // "price_$lk", lookup_key => $lk,
                    amount => $o{amount} // 9900);
  return {
    id => $o{id}, object => 'subscription', application => undef,
    billing_cycle_anchor => $o{start}, cancel_at => undef,
    cancel_at_period_end => $FALSE, canceled_at => $o{status} eq 'canceled' ? $o{end} : undef,
    collection_method => 'charge_automatically', created => $o{start},
    currency => 'usd', current_period_end => $o{end},
    current_period_start => $o{start}, customer => $o{customer},
    default_payment_method => 'pm_1' . 'Card', ended_at => $o{status} eq 'canceled' ? $o{end} : undef,
    items => { object => 'list', has_more => $FALSE,
      url => "/v1/subscription_items?subscription=$o{id}",
      data => [ { id => 'si_' . substr($o{id}, 4), object => 'subscription_item',
                  created => $o{start}, metadata => {}, price => $price,
                  quantity => 1, subscription => $o{id} } ] },
    latest_invoice => $o{latest_invoice}, livemode => $o{livemode} ? $TRUE : $FALSE,
    metadata => $o{metadata} // {}, plan => undef, quantity => 1,
    start_date => $o{start}, status => $o{status}, trial_end => undef,
    trial_start => undef,
  };
}

# invoice_object(id => in_, customer =>, subscription =>, start =>, end =>,
#   status => 'paid'|'open', reason => 'subscription_create'|'subscription_cycle')
sub invoice_object {
  my (%o) = @_;
  my $paid = ($o{status} // 'paid') eq 'paid';
  return {
    id => $o{id} // rid('in_'), object => 'invoice',
    amount_due => 9900, amount_paid => $paid ? 9900 : 0,
    amount_remaining => $paid ? 0 : 9900, attempt_count => 1,
    attempted => $TRUE, billing_reason => $o{reason} // 'subscription_create',
    collection_method => 'charge_automatically', currency => 'usd',
    customer => $o{customer}, livemode => $FALSE,
    lines => { object => 'list', has_more => $FALSE, url => '/v1/invoices/x/lines',
      data => [ { id => rid('il_'), object => 'line_item', amount => 9900,
                  currency => 'usd', description => '1 x Agent Pro',
                  period => { start => $o{start}, end => $o{end} },
                  proration => $FALSE, quantity => 1,
                  subscription => $o{subscription}, type => 'subscription' } ] },
    paid => $paid ? $TRUE : $FALSE,
    # a renewal invoice's own period is the one that just ended
    period_end => $o{reason} && $o{reason} eq 'subscription_cycle' ? $o{start} : $o{end},
    period_start => $o{reason} && $o{reason} eq 'subscription_cycle'
                    ? $o{start} - ($o{end} - $o{start}) : $o{start},
    status => $o{status} // 'paid', subscription => $o{subscription},
  };
}

sub session_object {
  my (%o) = @_;
  return {
    id => $o{id} // rid('cs_test_'), object => 'checkout.session',
    amount_total => 9900, client_reference_id => $o{account},
    currency => 'usd', customer => $o{customer},
    customer_details => { email => 'buyer@example.test' },
    livemode => $FALSE, metadata => { account_id => $o{account} // '', tier => $o{tier} // 'agent_pro' },
    mode => $o{mode} // 'subscription', payment_status => 'paid',
    status => 'complete', subscription => $o{subscription},
    success_url => 'https://example.test/ok', url => undef,
  };
}

# stripe_event($type, $created, $object, id => .., livemode => ..) -> JSON text
sub stripe_event {
  my ($type, $created, $obj, %o) = @_;
  return $JSON->encode({
    id => $o{id} // rid('evt_'), object => 'event', api_version => '2024-06-20',
    created => $created, data => { object => $obj },
    livemode => $o{livemode} ? $TRUE : $FALSE, pending_webhooks => 1,
    request => { id => undef, idempotency_key => undef }, type => $type,
  });
}

sub sign_local {
  my ($payload, $secret, $t) = @_;
  return stripe_signature($payload, $secret // webhook_secret(), $t // time);
}

# post_event($payload, signer => $standin (official package) | undef (local
# HMAC), secret => .., t => .., header => 'raw Stripe-Signature' | undef)
sub post_event {
  my ($payload, %o) = @_;
  my $hdr = exists $o{header} ? $o{header}
          : $o{signer} ? $o{signer}->sign($payload, $o{secret} // webhook_secret(), $o{t} // time)
          : sign_local($payload, $o{secret}, $o{t});
  my %h = (%{ $o{headers} || {} });
  $h{'Stripe-Signature'} = $hdr if defined $hdr;
  return ($o{client} // WebotTest::Client->new)->post('/api/stripe/webhook',
    body => $payload, content_type => 'application/json; charset=utf-8', headers => \%h);
}

# The entitlements row of an account, times as Unix seconds.
sub ent_row {
  my ($acct) = @_;
  $acct =~ /^[A-Za-z0-9_]+$/ or croak "bad account id $acct";
  my @r = psql("SELECT plan_id, status, source,"
    . " extract(epoch FROM period_start)::bigint, extract(epoch FROM period_end)::bigint,"
    . " coalesce(extract(epoch FROM past_due_since)::bigint::text, ''),"
    . " coalesce(stripe_customer_id, ''), coalesce(stripe_subscription_id, ''),"
    . " coalesce(expires_at::text, '')"
    . " FROM entitlements WHERE account_id = '$acct'");
  return undef unless @r;
  my %h;
  @h{qw(plan_id status source period_start period_end past_due_since
        stripe_customer_id stripe_subscription_id expires_at)} = split /\|/, $r[0], -1;
  return \%h;
}

# ===========================================================================
package WebotStripe::Standin;

use strict;
use warnings;
use Carp qw(croak);
use HTTP::Request ();
use LWP::UserAgent ();

sub start {
  my ($class, %o) = @_;
  WebotAgents::node_ready('t/node') or return undef;
  my $node = WebotAgents::node_bin() or return undef;
  my $key = $o{key} // 'sk_test_' . join('', map { (0..9, 'a'..'z', 'A'..'Z')[rand 62] } 1..24);
  my $script = WebotTest::top_dir() . '/t/node/stripe-standin.js';
  my ($out, $in);
  my $pid = IPC::Open2::open2($out, $in, $node, $script, '--key', $key, '--port', $o{port} // 0);
  my $line = <$out>;
  croak "stand-in did not start" unless defined $line && $line =~ /^listening (\d+)/;
  my $self = bless { pid => $pid, in => $in, out => $out, port => $1, key => $key,
                     ua => LWP::UserAgent->new(timeout => 10) }, $class;
  return $self;
}

sub port { $_[0]{port} }
sub key  { $_[0]{key} }
sub url  { 'http://127.0.0.1:' . $_[0]{port} }

sub _control {
  my ($self, $method, $path, $data) = @_;
  my $req = HTTP::Request->new($method => $self->url . $path);
  if (defined $data) {
    $req->content(JSON::PP->new->utf8->canonical->encode($data));
    $req->header('Content-Type' => 'application/json');
  }
  my $res = $self->{ua}->request($req);
  croak "stand-in $method $path: " . $res->status_line unless $res->is_success;
  return JSON::PP->new->utf8->decode($res->content);
}

# prices(\@prices or \%by_plan)
sub prices {
  my ($self, $p) = @_;
  $p = [ map { $p->{$_} } sort keys %$p ] if ref $p eq 'HASH';
  $self->_control(POST => '/_standin/prices', { prices => $p });
}
sub fail     { $_[0]->_control(POST => '/_standin/fail', $_[1] // { mode => undef }) }
sub requests { @{ $_[0]->_control(GET => '/_standin/requests')->{data} } }
sub clear    { $_[0]->_control(POST => '/_standin/clear', {}) }

# The official stripe package's Stripe-Signature for the payload.
sub sign {
  my ($self, $payload, $secret, $t, $scheme) = @_;
  my %b = (payload => $payload, secret => $secret);
  $b{timestamp} = $t + 0 if defined $t;
  $b{scheme} = $scheme if $scheme;
  return $self->_control(POST => '/_standin/sign', \%b)->{header};
}

sub stop {
  my ($self) = @_;
  return unless $self->{pid};
  close $self->{in};
  kill 'TERM', $self->{pid};
  waitpid $self->{pid}, 0;
  $self->{pid} = undef;
}

sub DESTROY { $_[0]->stop }

1;
