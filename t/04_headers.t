# The response layer's headers: ETag and If-None-Match (304) on public GETs
# (strong, weak and list forms, "*"), X-Request-Id (kept when valid, replaced
# when not, echoed in header, error body and error log), nosniff on every
# answer, Cache-Control: no-store on errors.
use strict;
use warnings;
use Test::More;
use WebotTest;
use WebotFoundation;

my @ETAG_ROUTES = ('/api/v1/catalog', '/api/v1/plans', '/api/v1/openapi.json');

# --- ETag / 304 -----------------------------------------------------------------------
for my $path (@ETAG_ROUTES) {
  subtest "ETag on $path" => sub {
    my $r = api_get($path);
    is($r->status, 200, 'status 200');
    my $etag = $r->header('ETag');
    like($etag // '', qr/^"[\x21\x23-\x7e]+"$/, 'a strong ETag (quoted, no W/)');
    is(api_get($path)->header('ETag'), $etag, 'the same ETag on the next request');

    my %cases = (
      'exact'                  => [$etag, 304],
      'weak form W/'           => ["W/$etag", 304],
      'in a list'              => [qq{"nope", $etag, "other"}, 304],
      'in a list without spaces' => [qq{"nope",$etag}, 304],
      'weak in a list'         => [qq{"a", W/$etag}, 304],
      'star'                   => ['*', 304],
      'another tag'            => ['"0000"', 200],
      'a prefix of the tag'    => [substr($etag, 0, -2) . '"', 200],
      'the tag with a suffix'  => [substr($etag, 0, -1) . 'x"', 200],
      'unquoted'               => [substr($etag, 1, -1), 200],
      'empty'                  => ['', 200],
    );
    for my $name (sort keys %cases) {
      my ($inm, $want) = @{ $cases{$name} };
      my $res = api_get($path, headers => { 'If-None-Match' => $inm });
      is($res->status, $want, "If-None-Match $name: $want");
      if ($want == 304) {
        is($res->content // '', '', "$name: 304 has no body");
        is($res->header('ETag'), $etag, "$name: 304 repeats the ETag");
        ok(length($res->header('X-Request-Id') // ''), "$name: 304 has an X-Request-Id");
        is($res->header('X-Content-Type-Options'), 'nosniff', "$name: 304 has nosniff");
      } else {
        is($res->content, $r->content, "$name: the full body");
      }
    }
    # a 304 over HEAD and on a keep-alive connection: no body bytes at all
    my @two = raw_http("GET $path HTTP/1.1\r\nHost: x\r\nIf-None-Match: $etag\r\n\r\n"
                     . "GET $path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", count => 2);
    is(scalar @two, 2, 'two answers on one connection');
    is($two[0] && $two[0]{status}, 304, 'first 304');
    is($two[1] && $two[1]{status}, 200, 'then 200 (no stray body bytes in between)');
    is($two[1] && $two[1]{body}, $r->content, 'with the full body');
  };
}
{
  my $r = api_get('/api/v1/health', headers => { 'If-None-Match' => '*' });
  is($r->status, 200, 'health (no ETag) ignores If-None-Match: *');
  my $e = api_get('/api/v1/nope', headers => { 'If-None-Match' => '*' });
  is($e->status, 404, 'an error is never turned into a 304');
}

# --- Cache-Control ----------------------------------------------------------------------
for my $path (@ETAG_ROUTES) {
  unlike(api_get($path)->header('Cache-Control') // '', qr/no-store|private/,
         "$path may be cached (no no-store/private)");
}
for my $case (['GET', '/api/v1/nope'], ['DELETE', '/api/v1/catalog'],
              ['POST', '/api/v1/catalog/intent-check', body => '{', content_type => 'application/json']) {
  my ($m, $path, %o) = @$case;
  my $r = api_request($m, $path, %o);
  like($r->header('Cache-Control') // '', qr/\bno-store\b/, "$m $path error ($r->{status}): Cache-Control no-store");
}

# --- X-Request-Id -----------------------------------------------------------------------
sub rid_of { my ($r) = @_; return ($r->header('X-Request-Id'), $r->json ? $r->json->{error}{request_id} : undef) }

{
  my $r = api_get('/api/v1/catalog');
  like($r->header('X-Request-Id') // '', qr/^req_[a-z2-7]{26}$/, 'a generated id: req_ + 26 base32 characters');
  isnt(api_get('/api/v1/catalog')->header('X-Request-Id'), $r->header('X-Request-Id'), 'generated ids differ');
}

my $long128 = join '', map { ('a' .. 'z', 'A' .. 'Z', 0 .. 9, '.', '_', ':', '-')[$_ % 66] } 1 .. 128;
for my $good ('a', 'client-123', 'A.b_c:d-e', '0', $long128) {
  my $r = api_get('/api/v1/nope', headers => { 'X-Request-Id' => $good });
  my ($h, $b) = rid_of($r);
  is($h, $good, 'valid id kept in the header (' . length($good) . ' chars)');
  is($b, $good, 'and in the error body');
  is(api_get('/api/v1/catalog', headers => { 'X-Request-Id' => $good })->header('X-Request-Id'), $good,
     'and on a 200');
}
for my $bad (['too long (129)', $long128 . 'x'], ['space inside', 'a b'], ['slash', 'a/b'],
             ['quote', 'a"b'], ['angle brackets', '<script>'], ['semicolon', 'a;b'],
             ['non-ASCII', "caf\xc3\xa9"], ['tab inside', "a\tb"], ['percent', 'a%0d%0ab']) {
  my ($name, $id) = @$bad;
  # raw request, so that the client library does not touch the value
  my ($res) = raw_http("GET /api/v1/nope HTTP/1.1\r\nHost: x\r\nX-Request-Id: $id\r\nConnection: close\r\n\r\n", count => 1);
  ok($res, "$name: answered") or next;
  my $h = $res->{headers}{'x-request-id'} // '';
  like($h, qr/^req_[a-z2-7]{26}$/, "$name: replaced by a generated id");
  is($res->{json} && $res->{json}{error}{request_id}, $h, "$name: the error body carries the same id");
}
# control characters: httpd itself refuses the header (400) or the module
# replaces the id; either way the value never comes back
for my $ctl ("\x01", "\x7f", "\x1b[31m") {
  my ($res) = raw_http("GET /api/v1/nope HTTP/1.1\r\nHost: x\r\nX-Request-Id: a${ctl}b\r\nConnection: close\r\n\r\n", count => 1);
  my $hex = unpack 'H*', $ctl;
  ok($res && $res->{status} =~ /^(400|404)$/, "control character 0x$hex: refused or routed ($res->{status})");
  ok($res && index($res->{raw}, "a${ctl}b") < 0, "control character 0x$hex: never echoed");
  ok(!defined $res->{headers}{'x-request-id'} || $res->{headers}{'x-request-id'} =~ /^req_[a-z2-7]{26}$/,
     "control character 0x$hex: no client id in the answer");
}
{
  # a header line with CR LF injection cannot add headers: the second line
  # is a header of its own, and the id is still validated
  my ($res) = raw_http("GET /api/v1/nope HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\r\nX-Request-Id: def\r\nConnection: close\r\n\r\n", count => 1);
  ok($res, 'two X-Request-Id headers: answered');
  like($res->{headers}{'x-request-id'} // '', qr/^(req_[a-z2-7]{26}|abc|def)$/,
       'two X-Request-Id headers: one valid id (httpd joins them with ", ", which is not valid)');
}
# --- nosniff on every answer ------------------------------------------------------------
my @answers = (
  ['GET /catalog', api_get('/api/v1/catalog')],
  ['GET /plans', api_get('/api/v1/plans')],
  ['GET /health', api_get('/api/v1/health')],
  ['GET /openapi.json', api_get('/api/v1/openapi.json')],
  ['POST /intent-check', api_post('/api/v1/catalog/intent-check', json => {})],
  ['404', api_get('/api/v1/nope')],
  ['405', api_request('PUT', '/api/v1/catalog')],
  ['400', api_post('/api/v1/catalog/intent-check', body => '{', content_type => 'application/json')],
  ['415', api_post('/api/v1/catalog/intent-check', body => '{}', content_type => 'text/plain')],
  ['413', api_post('/api/v1/catalog/intent-check', body => '{"a":"' . ('x' x 70000) . '"}', content_type => 'application/json')],
  ['304', api_get('/api/v1/catalog', headers => { 'If-None-Match' => '*' })],
  ['404 webhook mount', api_get('/api/stripe/webhook/nope')],
  ['404 checkout mount', api_get('/api/checkout/tier/nope')],
);
for my $a (@answers) {
  my ($name, $r) = @$a;
  is($r->header('X-Content-Type-Options'), 'nosniff', "nosniff on $name ($r->{status})");
  ok(length($r->header('X-Request-Id') // ''), "X-Request-Id on $name");
}
{
  my ($head) = raw_http("HEAD /api/v1/catalog HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", head => 1, count => 1);
  is($head && $head->{headers}{'x-content-type-options'}, 'nosniff', 'nosniff on HEAD');
}

done_testing;
