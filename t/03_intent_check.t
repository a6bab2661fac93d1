# POST /api/v1/catalog/intent-check: the quota-free draft check. Answers 200
# {ok, service_family, service_option, missing_requirements, problems,
# suggested_action} for any well-formed JSON object; malformed requests get
# the contract's errors (covered in t/06_errors.t).
use strict;
use warnings;
use Test::More;
use JSON::PP ();
use WebotTest;
use WebotFoundation;

my $OPT = 'tone_rewrites_copy_polish';
my %FULL = (audience => 'Existing customers, spring sale', brand_constraints => 'No exclamation marks',
            tone => 'Warm, confident', delivery_format => 'Plain text email');

sub check {
  my ($body, %o) = @_;
  my $r = api_post('/api/v1/catalog/intent-check', json => $body, %o);
  return $r;
}

sub shape_ok {
  my ($r, $name) = @_;
  local $Test::Builder::Level = $Test::Builder::Level + 1;
  is($r->status, 200, "$name: 200") or diag($r->describe);
  my $j = $r->json || {};
  is_deeply([sort keys %$j],
    [sort qw(ok service_family service_option missing_requirements problems suggested_action)],
    "$name: exactly the contract's fields");
  ok(JSON::PP::is_bool($j->{ok}), "$name: ok is a boolean");
  ok(ref $j->{missing_requirements} eq 'ARRAY' && ref $j->{problems} eq 'ARRAY', "$name: lists");
  return $j;
}

sub problem_params { [map { $_->{param} } @{ $_[0]{problems} || [] }] }

# --- a complete request ---------------------------------------------------------------
my $j = shape_ok(check({ service_option => $OPT, title => 'Spring launch email', intake => {%FULL},
                         metadata => { crm_id => '123' } }), 'complete');
ok($j->{ok}, 'complete: ok true');
is($j->{service_family}, 'create_polish', 'complete: service_family');
is($j->{service_option}, $OPT, 'complete: service_option');
is_deeply($j->{missing_requirements}, [], 'complete: nothing missing');
is_deeply($j->{problems}, [], 'complete: no problems');
is($j->{suggested_action}, 'none', 'complete: suggested_action none');

$j = shape_ok(check({ service_option => $OPT, intake => { %FULL, source_text => 'Old copy' } }), 'with optional field');
ok($j->{ok}, 'an optional intake field is accepted');

# another family, to be sure it is not hard-wired
$j = shape_ok(check({ service_option => 'market_scan', intake => { question => 'How big is X?',
                      decision_context => 'Enter the market or not' } }), 'research_brief');
ok($j->{ok}, 'market_scan with its required fields is ok');
is($j->{service_family}, 'research_brief', 'its family is research_brief');

# --- missing requirements -------------------------------------------------------------
$j = shape_ok(check({ service_option => $OPT, intake => { audience => 'a', tone => "  \t " } }), 'missing');
ok(!$j->{ok}, 'missing: ok false');
is($j->{service_family}, 'create_polish', 'missing: the family is still named');
is_deeply($j->{missing_requirements},
  [{ id => 'brand_constraints', label => 'brand or style constraints' },
   { id => 'tone', label => 'tone and voice' },
   { id => 'delivery_format', label => 'delivery format' }],
  'missing: {id, label} per missing requirement in catalog order; a blank value counts as missing');
is_deeply($j->{problems}, [], 'missing: no problems');
is($j->{suggested_action}, 'revise_request', 'missing: suggested_action revise_request');

$j = shape_ok(check({ service_option => $OPT }), 'no intake');
is(scalar @{ $j->{missing_requirements} }, 4, 'no intake at all: four requirements missing');

# --- problems -------------------------------------------------------------------------
$j = shape_ok(check({ service_option => 'no_such_option', intake => { audience => 'x' } }), 'unknown option');
ok(!$j->{ok}, 'unknown option: ok false');
is($j->{service_family}, undef, 'unknown option: service_family null');
is($j->{service_option}, undef, 'unknown option: service_option null');
is_deeply(problem_params($j), ['service_option'], 'unknown option: a problem on service_option');
like($j->{problems}[0]{message} // '', qr/service option/i, 'unknown option: the message says so');
is($j->{suggested_action}, 'revise_request', 'unknown option: revise_request');

$j = shape_ok(check({ service_option => $OPT, intake => { %FULL, colour => 'blue' } }), 'unknown intake key');
ok(!$j->{ok}, 'unknown intake key: ok false');
is_deeply(problem_params($j), ['intake.colour'], 'unknown intake key: param intake.colour');
is_deeply($j->{missing_requirements}, [], 'unknown intake key: nothing missing');

$j = shape_ok(check({ service_option => $OPT, intake => { %FULL, tone => 'x' x 501 } }), 'over max_length');
ok(!$j->{ok}, 'over max_length: ok false');
is_deeply(problem_params($j), ['intake.tone'], 'over max_length: param intake.tone');
like($j->{problems}[0]{message}, qr/500/, 'over max_length: the message names the limit');

$j = shape_ok(check({ service_option => $OPT, intake => { %FULL, tone => "\x{e9}" x 500 } }), 'max_length in characters');
ok($j->{ok}, 'max_length counts characters: 500 two-byte characters are within 500');

$j = shape_ok(check({ intake => {%FULL} }), 'no service_option');
is_deeply(problem_params($j), ['service_option'], 'no service_option: a problem on service_option');
like($j->{problems}[0]{message}, qr/required/, 'no service_option: "is required"');

$j = shape_ok(check({ service_option => $OPT, intake => {%FULL}, colour => 1, title => 5 }), 'unknown field and wrong type');
ok(!$j->{ok}, 'unknown field: ok false');
is_deeply([sort @{ problem_params($j) }], ['colour', 'title'], 'every problem is reported: colour and title');

$j = shape_ok(check({ service_option => $OPT, intake => { %FULL, tone => 7 } }), 'intake value type');
is_deeply(problem_params($j), ['intake.tone'], 'a non-string intake value: param intake.tone');

$j = shape_ok(check({ service_option => $OPT, intake => {%FULL}, file_ids => ['file_ok', 'nope'] }), 'file_ids');
ok((grep { /^file_ids\[\d\]$/ } @{ problem_params($j) }), 'bad file ids: param file_ids[N]');

$j = shape_ok(check({ service_option => $OPT, intake => {%FULL}, title => 'x' x 201 }), 'long title');
is_deeply(problem_params($j), ['title'], 'title over 200 characters: param title');

$j = shape_ok(check({ service_option => $OPT, intake => {%FULL}, metadata => { map { ("k$_" => 'v') } 1 .. 21 } }), 'metadata');
is_deeply(problem_params($j), ['metadata'], '21 metadata pairs: param metadata');

# --- empty body, no credential, nothing created -----------------------------------------
my $r = api_post('/api/v1/catalog/intent-check', body => '');
$j = shape_ok($r, 'empty body');
ok(!$j->{ok}, 'an empty body is {}: ok false');
is_deeply(problem_params($j), ['service_option'], 'an empty body: service_option is required');
$j = shape_ok(api_post('/api/v1/catalog/intent-check', json => {}), '{}');
is_deeply(problem_params($j), ['service_option'], '{} gives the same answer');

$r = check({ service_option => $OPT, intake => {%FULL} }, key => 'wbt_invalid');
is($r->status, 200, 'an invalid bearer key does not matter on a public route');

my $jobs_before = psql_value("SELECT count(*) FROM jobs");
check({ service_option => $OPT, intake => {%FULL} }) for 1 .. 3;
is(psql_value("SELECT count(*) FROM jobs"), $jobs_before, 'intent-check creates no job');

done_testing;
