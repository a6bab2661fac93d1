# Every error the foundation produces, with the contract's body and status:
# 404 (unknown path, wrong mount), 405 (with Allow), 400 (malformed JSON, bad
# UTF-8, duplicate keys, NUL), 413 (by Content-Length and chunked), 415 (wrong
# or missing Content-Type with a body) and 422 (the dispatcher's schema
# check: unknown field, wrong type, missing field, array root). 503 is in
# t/08_db_restart.t.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use JSON::PP ();
use WebotTest;
use WebotFoundation;

my $IC = '/api/v1/catalog/intent-check';
my $OK_BODY = '{"service_option":"tone_rewrites_copy_polish"}';

# error_ok for a raw_http answer (same checks, on the parsed response)
sub raw_error_ok {
  my ($res, $status, $code, $name) = @_;
  local $Test::Builder::Level = $Test::Builder::Level + 1;
  subtest $name => sub {
    ok($res, 'answered') or return;
    is($res->{status}, $status, "status $status") or diag(substr($res->{raw} // '', 0, 600));
    like($res->{headers}{'content-type'} // '', qr{^application/json\b}, 'JSON');
    my $e = $res->{json} && $res->{json}{error};
    is($e && $e->{code}, $code, "code $code");
    is_deeply([sort keys %{ $e || {} }],
      [sort qw(code message request_id suggested_action suggested_endpoint param details)], 'contract fields');
    is($e && $e->{request_id}, $res->{headers}{'x-request-id'}, 'request_id = X-Request-Id');
    is($res->{headers}{'x-content-type-options'}, 'nosniff', 'nosniff');
  };
}

# --- 404 -----------------------------------------------------------------------------
for my $path ('/api/v1/nope', '/api/v1', '/api/v1/', '/api/v1/catalog/', '/api/v1/CATALOG',
              '/api/v1/catalogue', '/api/v1/health.json', '/api/v1/catalog/intent-check/x',
              '/api/v1/catalog/x', '/api/v1/jobs/job_x/nope',
              # a path of another mount under the API mount, and sub-paths of the
              # single-route mounts
              '/api/v1/stripe/webhook', '/api/v1/checkout/tier',
              '/api/stripe/webhook/extra', '/api/checkout/tier/extra',
              '/api/v1/' . ('a' x 3000)) {
  my $r = api_get($path);
  my $e = error_ok($r, 404, 'NOT_FOUND', 'GET ' . substr($path, 0, 60) . ': 404 NOT_FOUND');
  is($e && $e->{suggested_action}, 'revise_request', '404 suggests revise_request') if $path eq '/api/v1/nope';
}
{
  my $r = api_post('/api/v1/nope', body => '{', content_type => 'application/json');
  error_ok($r, 404, 'NOT_FOUND', 'POST to an unknown path is 404 before the body is looked at');
  my $e = error_ok(api_get('/api/v1/nope?x=<script>'), 404, 'NOT_FOUND', '404 with a query string');
  unlike($e && $e->{message} // '', qr/<script>/, 'the message does not echo the query string');
}

# --- 405 ------------------------------------------------------------------------------
my %allow_of;
push @{ $allow_of{ $_->[1] } }, $_->[0] for route_table();
for my $path (sort grep { m{^/api/v1/(catalog|plans|health|openapi\.json|catalog/intent-check)$} } keys %allow_of) {
  my %has = map { ($_ => 1) } @{ $allow_of{$path} };
  $has{HEAD} = 1 if $has{GET};
  my $want = join ', ', sort keys %has;
  for my $m (grep { !$has{$_} } qw(GET POST PUT DELETE PATCH OPTIONS)) {
    my $r = api_request($m, $path, ($m =~ /^(POST|PUT|PATCH)$/ ? (body => '{}', content_type => 'application/json') : ()));
    error_ok($r, 405, 'METHOD_NOT_ALLOWED', "$m $path: 405");
    is(join(', ', sort split /,\s*/, $r->header('Allow') // ''), $want, "$m $path: Allow: $want");
  }
}
{
  my ($res) = raw_http("FOO /api/v1/catalog HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", count => 1);
  raw_error_ok($res, 405, 'METHOD_NOT_ALLOWED', 'an unknown method is 405');
  ($res) = raw_http("HEAD $IC HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", count => 1, head => 1);
  is($res && $res->{status}, 405, 'HEAD on a POST-only route is 405');
  is($res && $res->{headers}{allow}, 'POST', 'with Allow: POST');
  # the webhook mount: POST only
  if (grep { $_->[1] eq '/api/stripe/webhook' && $_->[0] eq 'POST' } route_table()) {
    my $r = api_get('/api/stripe/webhook');
    error_ok($r, 405, 'METHOD_NOT_ALLOWED', 'GET on the webhook mount: 405');
    is($r->header('Allow'), 'POST', 'Allow: POST');
  }
}

# --- 400: the body is not acceptable JSON -------------------------------------------------------
my %bad = (
  'malformed JSON'           => '{"service_option":',
  'a trailing comma'         => '{"service_option":"x",}',
  'single quotes'            => "{'service_option':'x'}",
  'trailing garbage'         => '{"service_option":"x"} {}',
  'two documents'            => '{}{}',
  'invalid UTF-8 (0xff)'     => qq({"service_option":"\xff"}),
  'overlong UTF-8'           => qq({"service_option":"\xc0\xaf"}),
  'UTF-8 surrogate bytes'    => qq({"title":"\xed\xa0\x80"}),
  'truncated UTF-8'          => qq({"title":"\xe2\x82"}),
  'a lone surrogate escape'  => '{"title":"\ud800"}',
  'duplicate keys'           => '{"service_option":"a","service_option":"b"}',
  'nested duplicate keys'    => '{"service_option":"a","intake":{"tone":"x","tone":"y"}}',
  'escaped NUL'              => '{"service_option":"a\u0000b"}',
  'raw NUL in a string'      => qq({"service_option":"a\0b"}),
  'raw NUL after the object' => qq({"service_option":"a"}\0),
  'a raw control character'  => qq({"title":"a\x01b"}),
  'a bare word'              => 'hello',
  'a BOM'                    => qq(\xef\xbb\xbf{"service_option":"x"}),
  'NaN'                      => '{"n":NaN}',
  'a huge integer'           => '{"n":' . ('9' x 400) . '}',
  'deep nesting'             => ('[' x 5000) . (']' x 5000),
);
for my $name (sort keys %bad) {
  my $r = api_post($IC, body => $bad{$name}, content_type => 'application/json');
  my $e = error_ok($r, 400, 'BAD_REQUEST', "400 for $name");
  if ($e) {
    is($e->{suggested_action}, 'revise_request', "$name: revise_request");
    ok($e->{message} =~ /JSON/ && $e->{message} !~ /\n/, "$name: one-line message about JSON");
    # the message may quote a token of the body, never a whole long body
    cmp_ok(length $e->{message}, '<', 400, "$name: a short message");
  }
}
for my $scalar ('"x"', '5', 'null', 'true') {
  my $r = api_post($IC, body => $scalar, content_type => 'application/json');
  my $e = error_ok($r, 422, 'VALIDATION_ERROR', "a scalar root ($scalar): 422");
  like($e && $e->{details}[0]{message} // '', qr/object/, "scalar root ($scalar): \"must be a JSON object\"");
}

# --- 413 -----------------------------------------------------------------------------------------
my $MAX = 65536;    # WebotMaxBodyBytes default; t/conf/extra.conf.in does not set it
{
  # exactly at the limit: a valid body padded with spaces
  my $body = $OK_BODY . (' ' x ($MAX - length $OK_BODY));
  is(length $body, $MAX, "a body of exactly $MAX bytes");
  my $r = api_post($IC, body => $body, content_type => 'application/json');
  is($r->status, 200, "$MAX bytes are accepted") or diag($r->describe);
  $r = api_post($IC, body => $body . ' ', content_type => 'application/json');
  my $e = error_ok($r, 413, 'PAYLOAD_TOO_LARGE', ($MAX + 1) . ' bytes: 413');
  like($e && $e->{message} // '', qr/$MAX/, 'the message names the limit');
}
{
  # a declared Content-Length over the limit is refused before the body is read
  my $t0 = time;
  my ($res) = raw_http("POST $IC HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     . "Content-Length: 10000000000\r\n\r\n{", count => 1, timeout => 10);
  raw_error_ok($res, 413, 'PAYLOAD_TOO_LARGE', 'Content-Length 10 GB with one byte sent: 413');
  cmp_ok(time - $t0, '<', 3, 'answered at once, without waiting for the body');
  is($res && lc($res->{headers}{connection} // ''), 'close', 'and the connection is closed');
}
{
  # chunked: no Content-Length, the limit applies to the bytes read
  my $chunk = 'x' x 4096;
  my $req = "POST $IC HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  $req .= sprintf("%x\r\n%s\r\n", length $chunk, $chunk) for 1 .. 20;     # 80 KiB
  $req .= "0\r\n\r\n";
  my ($res) = raw_http($req, count => 1);
  raw_error_ok($res, 413, 'PAYLOAD_TOO_LARGE', 'a chunked body of 80 KiB: 413');

  # a chunked body that is small enough is read normally
  my $ok = "POST $IC HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
  my @parts = ('{"service_option":', '"tone_rewrites_copy_polish"', '}');
  $ok .= sprintf("%x\r\n%s\r\n", length $_, $_) for @parts;
  $ok .= "0\r\n\r\n";
  ($res) = raw_http($ok, count => 1);
  is($res && $res->{status}, 200, 'a small chunked body is accepted');
  is($res && $res->{json} && $res->{json}{service_option}, 'tone_rewrites_copy_polish', 'and parsed');

  # an endless chunked stream is cut off at the limit, not read to the end
  my $big = "POST $IC HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  $big .= sprintf("%x\r\n%s\r\n", 65536, 'y' x 65536) for 1 .. 64;       # 4 MiB, never terminated
  my $t0 = time;
  ($res) = raw_http($big, count => 1, timeout => 15);
  raw_error_ok($res, 413, 'PAYLOAD_TOO_LARGE', 'an unterminated 4 MiB chunked stream: 413');
  cmp_ok(time - $t0, '<', 10, 'without waiting for the end of the stream');
}

# --- 415 ------------------------------------------------------------------------------------------
for my $ct ('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x',
            'application/jsonx', 'application/json-patch+json', 'application/problem+json',
            'text/json', 'json', 'application/xml') {
  my $r = api_post($IC, body => $OK_BODY, content_type => $ct);
  my $e = error_ok($r, 415, 'UNSUPPORTED_MEDIA_TYPE', "Content-Type $ct: 415");
  is($e && $e->{suggested_action}, 'revise_request', "$ct: revise_request");
}
{
  my ($res) = raw_http("POST $IC HTTP/1.1\r\nHost: x\r\nContent-Length: " . length($OK_BODY)
                     . "\r\nConnection: close\r\n\r\n$OK_BODY", count => 1);
  raw_error_ok($res, 415, 'UNSUPPORTED_MEDIA_TYPE', 'a body without Content-Type: 415');
  ($res) = raw_http("POST $IC HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", count => 1);
  is($res && $res->{status}, 200, 'no body and no Content-Type: accepted (empty body = {})');
  ($res) = raw_http("POST $IC HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", count => 1);
  is($res && $res->{status}, 415, 'a wrong Content-Type is refused even without a body');
}
for my $ct ('application/json', 'application/json; charset=utf-8', 'Application/JSON',
            'application/json;charset=UTF-8', 'application/json ; charset=utf-8') {
  my $r = api_post($IC, body => $OK_BODY, content_type => $ct);
  is($r->status, 200, "Content-Type $ct is accepted") or diag($r->describe);
}

# --- 422: the dispatcher's schema check --------------------------------------------------------------
# intent-check reports schema problems in its 200 answer (t/03_intent_check.t);
# the dispatcher answers 422 for every other route with a request schema. Any
# public POST route with one will do; the foundation's own routes have none
# besides intent-check, so take one from the OpenAPI document.
my $doc = api_get('/api/v1/openapi.json')->json;
my ($target, $schema, $example);
for my $path (sort keys %{ $doc->{paths} }) {
  my $op = $doc->{paths}{$path}{post} or next;
  next if $path eq $IC || @{ $op->{security} || [] } || !$op->{responses}{422};
  my $c = $op->{requestBody}{content}{'application/json'} or next;
  my $ap = $c->{schema}{additionalProperties};
  next unless ref $c->{example} eq 'HASH' && defined $ap && JSON::PP::is_bool($ap) && !$ap;
  ($target, $schema, $example) = ($path, $c->{schema}, $c->{example});
  last;
}
SKIP: {
  skip 'no public POST route with a request schema besides intent-check', 1 unless $target;
  note("422 checks on POST $target");
  my $req = $schema->{required} || [];
  my ($str) = grep { ($schema->{properties}{$_}{type} // '') eq 'string' } @$req;

  my $r = api_post($target, json => { %$example, zz_unknown => 1 });
  my $e = error_ok($r, 422, 'VALIDATION_ERROR', "POST $target unknown field: 422");
  is($e && $e->{param}, 'zz_unknown', 'param names the unknown field');
  is_deeply($e && $e->{details}, [{ param => 'zz_unknown', message => 'is not a known field' }],
            'details: {param, message}');
  is($e && $e->{suggested_action}, 'revise_request', 'revise_request');

  if ($str) {
    $r = api_post($target, json => { %$example, $str => 12345 });
    $e = error_ok($r, 422, 'VALIDATION_ERROR', "POST $target $str of the wrong type: 422");
    is($e && $e->{param}, $str, "param is $str");
    like($e && $e->{details}[0]{message} // '', qr/must be a string/, 'the message says the type');
  }

  $r = api_post($target, json => {});
  $e = error_ok($r, 422, 'VALIDATION_ERROR', "POST $target {}: 422");
  is_deeply([sort map { $_->{param} } @{ $e ? $e->{details} : [] }], [sort @$req],
            'every missing required field is listed');

  $r = api_post($target, json => { %$example, zz_a => 1, zz_b => 2 });
  $e = error_ok($r, 422, 'VALIDATION_ERROR', "POST $target two unknown fields: 422");
  is(scalar @{ $e ? $e->{details} : [] }, 2, 'both are listed in details');

  for my $root ('[]', '[' . json_encode($example) . ']') {
    $r = api_post($target, body => $root, content_type => 'application/json');
    $e = error_ok($r, 422, 'VALIDATION_ERROR', "POST $target array root $root: 422") ;
    is($e && $e->{param}, undef, 'array root: param null');
    like($e && $e->{details}[0]{message} // '', qr/object/, 'array root: "must be a JSON object"');
  }
}

# intent-check: an array root is not a job draft either
{
  my $r = api_post($IC, body => '[1,2]', content_type => 'application/json');
  ok(($r->status == 422 && ($r->json->{error}{code} // '') eq 'VALIDATION_ERROR')
     || ($r->status == 200 && !$r->json->{ok} && @{ $r->json->{problems} }),
     'intent-check with an array root: 422, or 200 with ok false and a problem') or diag($r->describe);
}

done_testing;
