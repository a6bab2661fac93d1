# GET /api/v1/openapi.json: a valid OpenAPI 3.1 document, built from the
# route table, that lists exactly the table's routes (each with its schemas
# and error responses), and whose published response schemas the public
# routes' real answers satisfy.
use strict;
use warnings;
use Test::More;
use WebotTest;
use WebotFoundation;

my %CODES = contract_codes();

my $r = api_get('/api/v1/openapi.json');
is($r->status, 200, 'GET /api/v1/openapi.json is 200') or diag($r->describe);
like($r->header('Content-Type') // '', qr{^application/json\b}i, 'application/json');
my $doc = $r->json;
ok(ref $doc eq 'HASH', 'the body is a JSON object') or BAIL_OUT('no OpenAPI document');
is($doc->{openapi}, '3.1.0', 'openapi is "3.1.0"');
ok($doc->{info} && length($doc->{info}{title} // '') && length($doc->{info}{version} // ''),
   'info has title and version');
ok(ref $doc->{paths} eq 'HASH', 'paths is an object');
ok(ref $doc->{components}{schemas}{Error} eq 'HASH', 'components/schemas/Error exists');

# --- exactly the table's routes ---------------------------------------------
my @table = route_table();
ok(scalar @table >= 5, 'the route table has rows (' . scalar(@table) . ')');
my %in_table = map { ("$_->[0] $_->[1]" => 1) } @table;
is(scalar(keys %in_table), scalar(@table), 'no route is in the table twice');
my %in_doc;
for my $path (keys %{ $doc->{paths} }) {
  for my $m (keys %{ $doc->{paths}{$path} }) {
    next unless $m =~ /^(get|put|post|delete|patch|head|options)$/;
    $in_doc{ uc($m) . " $path" } = $doc->{paths}{$path}{$m};
  }
}
is_deeply([sort keys %in_doc], [sort keys %in_table],
  'the document lists exactly the routes of mod_webot/routes_*.inc');

for my $want ('GET /api/v1/openapi.json', 'GET /api/v1/health', 'GET /api/v1/catalog',
              'GET /api/v1/plans', 'POST /api/v1/catalog/intent-check') {
  ok($in_doc{$want}, "$want is documented");
}

# --- every operation is complete -----------------------------------------------
my (%op_ids, @bad);
for my $key (sort keys %in_doc) {
  my $op = $in_doc{$key};
  my ($method, $path) = split / /, $key, 2;
  push @bad, "$key: no operationId" unless length($op->{operationId} // '');
  push @bad, "$key: duplicate operationId $op->{operationId}"
    if $op->{operationId} && $op_ids{ $op->{operationId} }++;
  push @bad, "$key: no summary" unless length($op->{summary} // '');
  push @bad, "$key: no tags" unless ref $op->{tags} eq 'ARRAY' && @{ $op->{tags} };
  push @bad, "$key: no security list" unless ref $op->{security} eq 'ARRAY';
  my $resp = $op->{responses} || {};
  my @ok = grep { /^2\d\d$/ } keys %$resp;
  push @bad, "$key: no 2xx response" unless @ok;
  for my $status (grep { /^[45]\d\d$/ } keys %$resp) {
    my $c = $resp->{$status}{content}{'application/json'};
    push @bad, "$key: $status does not use the Error schema"
      unless $c && ($c->{schema}{'$ref'} // '') eq '#/components/schemas/Error';
    for my $code (keys %{ $c->{examples} || {} }) {
      push @bad, "$key: $status lists $code, not a contract code of that status"
        unless ($CODES{$code} // 0) == $status;
    }
  }
  # path parameters are named {id}
  for my $p ($path =~ /\{([^}]*)\}/g) {
    push @bad, "$key: path parameter {$p} (must be {id})" unless $p eq 'id';
  }
  if ($path =~ /\{id\}/) {
    push @bad, "$key: {id} not declared as a path parameter"
      unless grep { ($_->{in} // '') eq 'path' && ($_->{name} // '') eq 'id' }
             @{ $op->{parameters} || [] };
  }
  if (my $rb = $op->{requestBody}) {
    push @bad, "$key: requestBody without an application/json schema"
      unless ref $rb->{content}{'application/json'}{schema} eq 'HASH';
  }
  if ($method eq 'POST' && $key =~ m{^POST /api/v1/}) {
    push @bad, "$key: a POST without 413/415 responses"
      unless $op->{requestBody} ? ($resp->{413} && $resp->{415}) : 1;
  }
}
ok(!@bad, 'every operation has an id, summary, tags, security, a 2xx response, '
   . 'Error-schema error responses with contract codes, {id} path parameters')
  or diag(join "\n", @bad);

# every $ref anywhere in the document resolves
my @refs;
my $walk;
$walk = sub {
  my ($x) = @_;
  if (ref $x eq 'HASH') {
    push @refs, $x->{'$ref'} if defined $x->{'$ref'} && !ref $x->{'$ref'};
    $walk->($_) for values %$x;
  } elsif (ref $x eq 'ARRAY') {
    $walk->($_) for @$x;
  }
};
$walk->($doc);
my @dangling = grep { !(m{^#/components/schemas/(.+)$} && $doc->{components}{schemas}{$1}) } @refs;
ok(@refs > 0 && !@dangling, 'every $ref resolves (' . scalar(@refs) . ' refs)')
  or diag("dangling: @dangling");

# --- the public routes answer what they publish ------------------------------------
sub schema_of {
  my ($key, $status) = @_;
  my $op = $in_doc{$key} or return undef;
  return $op->{responses}{$status}{content}{'application/json'}{schema};
}

for my $case (
  ['GET /api/v1/catalog', sub { api_get('/api/v1/catalog') }],
  ['GET /api/v1/plans', sub { api_get('/api/v1/plans') }],
  ['GET /api/v1/health', sub { api_get('/api/v1/health') }],
  ['POST /api/v1/catalog/intent-check', sub {
     api_post('/api/v1/catalog/intent-check', json => { service_option => 'tone_rewrites_copy_polish' }) }],
) {
  my ($key, $do) = @$case;
  my $res = $do->();
  my $schema = schema_of($key, 200);
  ok($schema, "$key: a 200 schema is published") or next;
  is($res->status, 200, "$key answers 200") or diag($res->describe);
  my @p = schema_problems($schema, $res->json, $doc);
  ok(!@p, "$key: the answer satisfies the published schema") or diag(join "\n", @p);
  my $ex = $in_doc{$key}{responses}{200}{content}{'application/json'}{example};
  ok(defined $ex, "$key: an example is published");
  my @pe = schema_problems($schema, $ex, $doc);
  ok(!@pe, "$key: the example satisfies the published schema") or diag(join "\n", @pe);
}

# an error answer satisfies the Error schema
my $e = api_get('/api/v1/no-such-route');
my @pe = schema_problems($doc->{components}{schemas}{Error}, $e->json, $doc);
ok(!@pe && $e->status == 404, 'a 404 answer satisfies components/schemas/Error')
  or diag(join "\n", @pe);

# the intent-check request example validates against its request schema
{
  my $op = $in_doc{'POST /api/v1/catalog/intent-check'};
  my $c = $op->{requestBody}{content}{'application/json'};
  my @p = schema_problems($c->{schema}, $c->{example}, $doc);
  ok($c->{example} && !@p, 'the intent-check request example satisfies its request schema')
    or diag(join "\n", @p);
  my $res = api_post('/api/v1/catalog/intent-check', json => $c->{example});
  is($res->json && $res->json->{ok} ? 1 : 0, 1, 'and the server finds the example ok')
    or diag($res->describe);
}

# --- caching: ETag and 304 -----------------------------------------------------------
my $etag = $r->header('ETag');
like($etag // '', qr/^"[^"]+"$/, 'openapi.json has a strong ETag');
my $r2 = api_get('/api/v1/openapi.json', headers => { 'If-None-Match' => $etag });
is($r2->status, 304, 'If-None-Match with the ETag answers 304');
is($r2->content // '', '', '304 has no body');
is(api_get('/api/v1/openapi.json')->content, $r->content, 'the document is stable between requests');

done_testing;
