# The public GET routes: /health, /catalog and /plans have the contract's
# shape, serve the catalog file the server was configured with, answer HEAD,
# ignore unknown query parameters, and need no credential.
use strict;
use warnings;
use Test::More;
use JSON::PP ();
use WebotTest;
use WebotFoundation;

sub slurp_json {
  my ($f) = @_;
  open my $fh, '<', $f or die "$f: $!";
  local $/;
  return JSON::PP->new->utf8->decode(<$fh>);
}

my $catalog_file = ($ENV{WEBOT_TEST_DIR} // die 'WEBOT_TEST_DIR is not set') . '/catalog.json';
my $file = slurp_json($catalog_file);

# --- health ---------------------------------------------------------------------
{
  my $r = api_get('/api/v1/health');
  is($r->status, 200, 'GET /api/v1/health is 200 with the database up') or diag($r->describe);
  like($r->header('Content-Type') // '', qr{^application/json\b}i, 'application/json');
  my $h = $r->json || {};
  is($h->{status}, 'ok', 'status ok');
  is($h->{database}, 'ok', 'database ok');
  ok(defined $h->{worker} && !ref $h->{worker}, 'worker is a string');
  like($h->{stripe_catalog} // '', qr/^(verified|unverified)$/, 'stripe_catalog verified|unverified');
  my @extra = grep { !/^(status|database|worker|stripe_catalog|schema_version)$/ } keys %$h;
  ok(!@extra, 'no fields beyond the contract\'s (and schema_version)') or diag("extra: @extra");
  if (exists $h->{schema_version}) {
    my $latest = psql_value('SELECT max(version) FROM schema_migrations');
    is($h->{schema_version}, $latest, 'schema_version is the latest applied migration');
  }
  is($r->header('X-Content-Type-Options'), 'nosniff', 'nosniff');
  ok(!defined $r->header('ETag'), 'health has no ETag (it is live state)');
}

# --- catalog ---------------------------------------------------------------------
my $r = api_get('/api/v1/catalog');
is($r->status, 200, 'GET /api/v1/catalog is 200') or diag($r->describe);
like($r->header('Content-Type') // '', qr{^application/json\b}i, 'application/json');
my $c = $r->json || {};
is_deeply([sort keys %$c], [qw(job_statuses service_families)], 'catalog has service_families and job_statuses');
is_deeply($c->{job_statuses},
  [qw(queued accepted running needs_review ready_for_customer_review completed rejected canceled)],
  'job_statuses in the contract\'s order');
my $fams = $c->{service_families} || [];
cmp_ok(scalar @$fams, '>=', 3, 'at least three service families');
ok((grep { $_->{id} eq 'create_polish' } @$fams), 'the create_polish family is offered');
is_deeply([map { $_->{id} } @$fams], [map { $_->{id} } @{ $file->{service_families} }],
  'families in the order of the catalog file');

for my $i (0 .. $#$fams) {
  my $f = $fams->[$i];
  my $src = $file->{service_families}[$i];
  subtest "family $f->{id}" => sub {
    for my $k (qw(id name)) {
      ok(defined $f->{$k} && !ref $f->{$k} && length $f->{$k}, "$k is a non-empty string");
    }
    is($f->{name}, $src->{name}, 'name from the file');
    ok(ref $f->{intake_requirements} eq 'ARRAY', 'intake_requirements is a list');
    ok(!grep({ ref $_ } @{ $f->{intake_requirements} }), 'intake_requirements are labels (strings)');
    is_deeply($f->{intake_requirements},
      [map { $_->{label} } grep { $_->{required} } @{ $src->{intake_fields} }],
      'intake_requirements are the labels of the required intake fields, in order');
    ok(ref $f->{intake_fields} eq 'ARRAY' && @{ $f->{intake_fields} }, 'intake_fields is a non-empty list');
    for my $fld (@{ $f->{intake_fields} }) {
      is_deeply([sort keys %$fld], [qw(id label max_length required)],
        "intake field $fld->{id}: exactly id, label, required, max_length");
      ok(JSON::PP::is_bool($fld->{required}), "intake field $fld->{id}: required is a boolean");
      like($fld->{max_length}, qr/^\d+$/, "intake field $fld->{id}: max_length is an integer");
    }
    is_deeply([map { [$_->{id}, $_->{label}, $_->{required} ? 1 : 0, $_->{max_length}] } @{ $f->{intake_fields} }],
              [map { [$_->{id}, $_->{label}, $_->{required} ? 1 : 0, $_->{max_length}] } @{ $src->{intake_fields} }],
              'intake_fields as in the file');
    ok(ref $f->{quality_signals} eq 'ARRAY', 'quality_signals is a list');
    is_deeply($f->{quality_signals}, $src->{quality_signals}, 'quality_signals from the file');
    ok(ref $f->{service_options} eq 'ARRAY' && @{ $f->{service_options} }, 'service_options is a non-empty list');
    for my $o (@{ $f->{service_options} }) {
      ok(length($o->{id} // '') && length($o->{name} // ''), "option $o->{id} has id and name");
    }
    is_deeply([map { $_->{id} } @{ $f->{service_options} }], [map { $_->{id} } @{ $src->{service_options} }],
      'service option ids from the file');
  };
}
{
  my ($cp) = grep { $_->{id} eq 'create_polish' } @$fams;
  ok($cp && (grep { $_->{id} eq 'tone_rewrites_copy_polish' } @{ $cp->{service_options} }),
     'create_polish offers tone_rewrites_copy_polish');
  my %req = map { $_->{id} => $_->{required} } @{ $cp->{intake_fields} || [] };
  ok($req{audience} && $req{brand_constraints} && $req{tone} && $req{delivery_format},
     'create_polish requires audience, brand_constraints, tone and delivery_format');
}
my %opt_ids;
$opt_ids{ $_->{id} }++ for map { @{ $_->{service_options} } } @$fams;
ok(!grep({ $_ > 1 } values %opt_ids), 'service option ids are unique across families');

# --- plans ----------------------------------------------------------------------------
my $p = api_get('/api/v1/plans');
is($p->status, 200, 'GET /api/v1/plans is 200') or diag($p->describe);
my $plans = ($p->json || {})->{plans} || [];
is_deeply([sort keys %{ $p->json || {} }], ['plans'], 'the body is {"plans":[...]}');
is_deeply([map { $_->{id} } @$plans], [map { $_->{id} } @{ $file->{plans} }],
  'every plan of the catalog file, in order');
for my $i (0 .. $#$plans) {
  my ($pl, $src) = ($plans->[$i], $file->{plans}[$i]);
  subtest "plan $pl->{id}" => sub {
    is($pl->{name}, $src->{name}, 'name');
    is_deeply($pl->{access}, $src->{access}, 'access');
    ok(!grep({ !/^(api|dashboard)$/ } @{ $pl->{access} || [] }), 'access is api and/or dashboard');
    is_deeply([sort keys %{ $pl->{limits} || {} }],
      [sort qw(monthly_jobs max_active_jobs max_revisions rate_limit_per_minute max_upload_bytes)],
      'limits has exactly the contract\'s five fields');
    is_deeply($pl->{limits}, $src->{limits}, 'limits from the file');
    is_deeply([sort keys %{ $pl->{price} || {} }], [qw(amount currency interval)], 'price has amount, currency, interval');
    is_deeply($pl->{price}, $src->{price}, 'price from the file');
    ok(JSON::PP::is_bool($pl->{checkout_available}), 'checkout_available is a JSON boolean');
    ok(!$pl->{checkout_available}, 'checkout_available is false (no verified Stripe price)');
    ok(!exists $pl->{stripe_lookup_key}, 'the Stripe lookup key is not published');
  };
}
my %kinds;
for my $pl (@$plans) {
  my %a = map { $_ => 1 } @{ $pl->{access} };
  $kinds{ $a{api} && $a{dashboard} ? 'both' : $a{api} ? 'agent' : 'human' }++;
}
ok($kinds{human} && $kinds{agent} && $kinds{both}, 'plans cover Human, Agent and Both');
ok((grep { (join ',', @{ $_->{access} }) eq 'api' && $_->{limits}{monthly_jobs} <= 10 } @$plans),
   'an Agent trial plan of at most 10 jobs a month');

# --- HEAD, query parameters, credentials ---------------------------------------------------
for my $path ('/api/v1/catalog', '/api/v1/plans', '/api/v1/openapi.json', '/api/v1/health') {
  my $get = api_get($path);
  my ($head) = raw_http("HEAD $path HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", head => 1, count => 1);
  is($head && $head->{status}, 200, "HEAD $path is 200");
  is($head && $head->{body}, '', "HEAD $path has no body");
  is($head && $head->{headers}{'content-length'}, length($get->content), "HEAD $path: Content-Length of the GET body");
  like($head && $head->{headers}{'content-type'} // '', qr{^application/json\b}, "HEAD $path: application/json");
}

is(api_get('/api/v1/catalog?foo=bar&limit=zz&cursor=%00')->content, $r->content,
   'unknown query parameters are ignored on /catalog');
is(api_get('/api/v1/plans?x')->content, $p->content, 'and on /plans');
is(api_get('/api/v1/catalog', key => 'wbt_not_a_real_key')->status, 200,
   'a public route ignores an Authorization header (even an invalid key)');

done_testing;
