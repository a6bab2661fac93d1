# Security sweep after the OWASP API Security Top 10 (2023), against the
# shared test server:
#   API1 BOLA: another account's job, file and key ids are 404 on every route
#        that takes an id (key, session, MCP), nothing changes;
#   API2 broken authentication: keys in the query string are ignored (401),
#        revoked keys and expired sessions are 401;
#   API3 property-level authorization: a job body naming status, account_id,
#        revision_count, deliverable, ... is 422 and nothing is stored;
#   API4 resource consumption: limit caps, body caps, the event stream cap,
#        the presign size cap, the per-minute rate limit;
#   API5 function-level authorization: API keys (and member sessions) on
#        owner/admin routes are 403;
#   API8 TLS: TLS 1.2+ only, HSTS on the TLS vhost, Secure session cookie;
#   a catalogue of more than 100 malformed requests across routes, each
#   answered with the contract's 4xx and error body, the server healthy after;
#   no secrets, SQL, file paths or stack traces in any response of this
#   file, and no test secret in the error_log of the whole run so far.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use WebotTest;
use WebotJobs;
use WebotAuth;
use WebotFiles;
use WebotAgents;

my $BIG = { '--monthly-jobs' => 100000, '--max-active-jobs' => 100000,
            '--rate-limit-per-minute' => 100000 };
my $alice   = make_account(plan => 'both_team', grant => $BIG);
my $mallory = make_account(plan => 'both_team', grant => $BIG);
my @SECRETS = grep { defined && length } ($alice->{key}, $mallory->{key},
  $alice->{password}, $mallory->{password});

# every response of this file, for the leak scan at the end
my @SEEN;
sub seen { push @SEEN, $_[0]; $_[0] }

# ===========================================================================
subtest 'API1 BOLA: other accounts\' ids are 404 everywhere' => sub {
  my $job = seen(create_job($alice->{key}));
  is($job->status, 201, 'alice created a job') or return;
  my $id = $job->json->{id};
  my $before = psql_value("SELECT row_to_json(j)::text FROM jobs j WHERE id = '$id'");
  my $pre = seen(presign($alice->{key}));
  is($pre->status, 201, 'alice presigned a file') or diag $pre->describe;
  my $fid = $pre->json->{file_id};

  for my $rt ([GET => "/api/v1/jobs/$id"], [GET => "/api/v1/jobs/$id/events"],
              [GET => "/api/v1/jobs/$id/events?after=0"],
              [POST => "/api/v1/jobs/$id/approve", {}], [POST => "/api/v1/jobs/$id/cancel", {}],
              [POST => "/api/v1/jobs/$id/revision", { notes => 'mine' }]) {
    my ($m, $p, $j) = @$rt;
    my $r = seen(api_request($m, $p, key => $mallory->{key}, (defined $j ? (json => $j) : ()),
                             headers => { 'Idempotency-Key' => idem_key() }));
    error_ok($r, 404, 'NOT_FOUND', "$m $p (another account's job): 404");
  }
  # the job's file_ids may not name another account's file
  my $r = seen(create_job($mallory->{key}, body => job_body(file_ids => [$fid])));
  is($r->status, 422, "POST /jobs with another account's file id: 422") or diag $r->describe;
  # upload/download with a valid signature of mallory's own file, on alice's id
  my $mpre = seen(presign($mallory->{key}));
  my $url = $mpre->json->{upload}{url};
  (my $swapped = $url) =~ s{/files/upload/[^/?]+}{/files/upload/$fid};
  $r = seen(api_request(PUT => $swapped, body => 'hello', content_type => 'text/plain'));
  ok($r->status == 403 || $r->status == 404, "PUT to alice's file id with mallory's signature: "
     . $r->status);
  (my $dl = $swapped) =~ s{/files/upload/}{/files/download/};
  $r = seen(api_get($dl));
  ok($r->status == 403 || $r->status == 404, "download of alice's file with mallory's signature: "
     . $r->status);
  # an API key id of another account
  my $ms = session_for($mallory);
  $r = seen($ms->delete("/api/v1/api-keys/$alice->{key_id}"));
  error_ok($r, 404, 'NOT_FOUND', "DELETE /api-keys/{alice's key} from mallory's owner session: 404");
  is(seen(api_get('/api/v1/me', key => $alice->{key}))->status, 200, "alice's key still works");
  # a session of mallory on the job
  $r = seen($ms->get("/api/v1/jobs/$id"));
  error_ok($r, 404, 'NOT_FOUND', "GET /jobs/{id} from mallory's session: 404");
  # MCP tool
  my $res = mcp_tool($mallory->{key}, 'get_job', { id => $id });
  seen($WebotAgents::last);
  unlike($WebotAgents::last->content, qr/Spring launch/, 'MCP get_job of another account: no data');
  ok(!$res || $res->{isError}, 'MCP get_job of another account is an error');
  # lists
  my $list = seen(api_get('/api/v1/jobs?limit=100', key => $mallory->{key}));
  ok(!grep({ $_->{id} eq $id } @{ $list->json->{data} || [] }), "mallory's list does not show it");
  is(psql_value("SELECT row_to_json(j)::text FROM jobs j WHERE id = '$id'"), $before,
     'the job is untouched');
};

# ===========================================================================
subtest 'API2 broken authentication' => sub {
  for my $q ("api_key=$alice->{key}", "access_token=$alice->{key}", "key=$alice->{key}",
             "token=$alice->{key}", "authorization=Bearer%20$alice->{key}") {
    my $r = seen(api_get("/api/v1/me?$q"));
    error_ok($r, 401, 'UNAUTHORIZED', 'key in the query string is ignored: 401');
    like($r->header('WWW-Authenticate') // '', qr/^Bearer/i, 'WWW-Authenticate: Bearer');
  }
  my $victim = make_account(plan => 'both_team');
  is(seen(api_get('/api/v1/me', key => $victim->{key}))->status, 200, 'a fresh key works');
  my $s = session_for($victim);
  my $r = seen($s->delete("/api/v1/api-keys/$victim->{key_id}"));
  ok($r->status == 200 || $r->status == 204, 'the owner revoked it: ' . $r->status);
  error_ok(seen(api_get('/api/v1/me', key => $victim->{key})), 401, 'UNAUTHORIZED', 'revoked key: 401');
  error_ok(seen(api_get('/api/v1/jobs', key => $victim->{key})), 401, 'UNAUTHORIZED', 'revoked key on /jobs: 401');
  # an expired session
  is(seen($s->get('/api/v1/me'))->status, 200, 'the session works');
  psql("UPDATE sessions SET expires_at = now() - interval '1 minute'"
     . " WHERE user_id = '$victim->{user_id}'");
  error_ok(seen($s->get('/api/v1/me')), 401, 'UNAUTHORIZED', 'expired session: 401');
  my $s2 = session_for($victim);
  psql("UPDATE sessions SET idle_expires_at = now() - interval '1 minute'"
     . " WHERE user_id = '$victim->{user_id}' AND expires_at > now()");
  error_ok(seen($s2->get('/api/v1/me')), 401, 'UNAUTHORIZED', 'idle-expired session: 401');
  # a key with a changed character, a key of the right shape that never existed
  (my $bent = $alice->{key}) =~ s/(.)$/$1 eq 'a' ? 'b' : 'a'/e;
  error_ok(seen(api_get('/api/v1/me', key => $bent)), 401, 'UNAUTHORIZED', 'one character changed: 401');
  error_ok(seen(api_get('/api/v1/me', headers => { Authorization => "Basic "
    . 'dXNlcjpwYXNz' })), 401, 'UNAUTHORIZED', 'Basic credentials: 401');
};

# ===========================================================================
subtest 'API3 property-level authorization: server-owned fields are 422, never applied' => sub {
  my $n0 = psql_value("SELECT count(*) FROM jobs WHERE account_id = '$alice->{account_id}'");
  for my $f ([status => 'completed'], [account_id => $mallory->{account_id}],
             [revision_count => 0], [max_revisions => 99], [deliverable => { text => 'x' }],
             [id => 'job_mine'], [staff_note => 'x'], [quota_refunded => JSON::PP::true],
             [created_at => '2020-01-01T00:00:00Z'], [lease_owner => 'x'], [attempts => 0],
             [event_seq => 0], [service_family => 'create_polish']) {
    my $r = seen(create_job($alice->{key}, body => job_body($f->[0] => $f->[1])));
    my $e = error_ok($r, 422, 'VALIDATION_ERROR', "POST /jobs with $f->[0]: 422");
    is($e && $e->{param}, $f->[0], "param names $f->[0]") if $f->[0] ne 'service_family';
  }
  is(psql_value("SELECT count(*) FROM jobs WHERE account_id = '$alice->{account_id}'"), $n0,
     'no job was created');
  # on the job actions too
  my $id = seen(create_job($alice->{key}))->json->{id};
  for my $rt (["/api/v1/jobs/$id/cancel", { status => 'completed' }],
              ["/api/v1/jobs/$id/approve", { deliverable => { text => 'x' } }],
              ["/api/v1/jobs/$id/revision", { notes => 'x', revision_count => 0 }]) {
    my $r = seen(api_post($rt->[0], key => $alice->{key}, json => $rt->[1]));
    error_ok($r, 422, 'VALIDATION_ERROR', "POST $rt->[0] with a server-owned field: 422");
  }
  is(psql_value("SELECT status || '/' || revision_count || '/' || (deliverable IS NULL)"
    . " FROM jobs WHERE id = '$id'"), 'queued/0/true', 'the job is unchanged');
};

# ===========================================================================
subtest 'API4 unrestricted resource consumption: caps' => sub {
  for my $l (101, 1000, 0, -1, 99999999999999999999) {
    error_ok(seen(api_get("/api/v1/jobs?limit=$l", key => $alice->{key})), 400, 'BAD_REQUEST',
             "GET /jobs?limit=$l: 400");
  }
  is(seen(api_get('/api/v1/jobs?limit=100', key => $alice->{key}))->status, 200, 'limit=100: 200');
  my $big = '{"title":"' . ('x' x 70000) . '"}';
  error_ok(seen(api_post('/api/v1/jobs', key => $alice->{key}, body => $big,
    content_type => 'application/json', headers => { 'Idempotency-Key' => idem_key() })),
    413, 'PAYLOAD_TOO_LARGE', 'POST /jobs with a 70 kB body: 413');
  error_ok(seen(api_post('/api/v1/catalog/intent-check', body => $big,
    content_type => 'application/json')), 413, 'PAYLOAD_TOO_LARGE', 'public intent-check, 70 kB: 413');
  # presign size cap: the plan's max_upload_bytes
  my $plans = seen(api_get('/api/v1/plans'))->json;
  my ($plan) = grep { $_->{id} eq 'both_team' } @{ $plans->{data} || $plans->{plans} || [] };
  my $max = $plan ? $plan->{limits}{max_upload_bytes} // $plan->{max_upload_bytes} : undef;
  ok($max, "the plan's max_upload_bytes: " . ($max // 'unknown'));
  if ($max) {
    is(seen(presign($alice->{key}, size_bytes => $max))->status, 201, 'presign at the cap: 201');
    error_ok(seen(presign($alice->{key}, size_bytes => $max + 1)), 422, 'VALIDATION_ERROR',
             'presign one byte over the cap: 422');
  }
  error_ok(seen(presign($alice->{key}, size_bytes => 2**53)), 422, 'VALIDATION_ERROR', 'presign 2^53 bytes: 422');
  # event stream cap (WebotEventStreamsPerAccount, default 5)
  my $acct = make_account(plan => 'both_team', grant => $BIG);
  my $jid = seen(create_job($acct->{key}))->json->{id};
  my @s;
  for (1 .. 5) { push @s, sse_open("/api/v1/jobs/$jid/events", key => $acct->{key}) }
  is(scalar(grep { $_->{status} == 200 } @s), 5, 'five streams open');
  my $sixth = sse_open("/api/v1/jobs/$jid/events", key => $acct->{key});
  is($sixth->{status}, 429, 'the sixth stream of the account: 429');
  sse_close($_) for @s, $sixth;
  # per-minute rate limit
  my $rl = make_account(plan => 'both_team', grant => { '--rate-limit-per-minute' => 5 });
  my @st = map { seen(api_get('/api/v1/me', key => $rl->{key}))->status } 1 .. 7;
  is_deeply([@st[0 .. 4]], [(200) x 5], 'five requests within the limit');
  my $r = seen(api_get('/api/v1/me', key => $rl->{key}));
  error_ok($r, 429, 'RATE_LIMITED', 'over the per-minute limit: 429');
  like($r->header('Retry-After') // '', qr/^[1-9]\d*$/, 'with Retry-After');
  # The access gate runs before the body is read: an anonymous caller gets
  # 401, a key over its rate limit 429, whatever its body.
  {
    my $anon = seen(api_post('/api/v1/jobs', body => '{"title":', content_type => 'application/json',
                             headers => { 'Idempotency-Key' => idem_key() }));
    is($anon->status, 401, 'anonymous POST /jobs with broken JSON: 401 before parsing');
    $anon = seen(api_post('/api/v1/jobs/job_x/revision', body => '{"zzz_unknown":1}',
                          content_type => 'application/json'));
    is($anon->status, 401, 'anonymous POST /jobs/{id}/revision with an unknown field: 401 before validation');
    my $over = seen(api_post('/api/v1/jobs', key => $rl->{key}, body => '{"title":',
      content_type => 'application/json', headers => { 'Idempotency-Key' => idem_key() }));
    is($over->status, 429, 'a key over its rate limit: 429 before its body is parsed');
    $over = seen(api_post('/api/v1/jobs/job_x/revision', key => $rl->{key}, body => '{"zzz_unknown":1}',
      content_type => 'application/json'));
    is($over->status, 429, 'a key over its rate limit: 429 before its body is validated');
  }
};

# ===========================================================================
subtest 'API5 function-level authorization: keys and members on owner/admin routes' => sub {
  my @owner = ([GET => '/api/v1/api-keys'], [POST => '/api/v1/api-keys', { name => 'x' }],
               [DELETE => "/api/v1/api-keys/$alice->{key_id}"],
               [POST => '/api/checkout/tier', { tier => 'both_team' }]);
  for my $rt (@owner) {
    my ($m, $p, $j) = @$rt;
    my $r = seen(api_request($m, $p, key => $alice->{key}, (defined $j ? (json => $j) : ())));
    error_ok($r, 403, 'FORBIDDEN', "$m $p with an API key: 403");
  }
  is(seen(api_get('/api/v1/me', key => $alice->{key}))->status, 200, 'the key was not revoked');
  my $member = make_account(plan => 'both_team', role => 'member');
  my $c = session_for($member);
  for my $rt (@owner[0 .. 1]) {
    my ($m, $p, $j) = @$rt;
    my $r = seen($c->request($m, $p, (defined $j ? (json => $j) : ())));
    error_ok($r, 403, 'FORBIDDEN', "$m $p from a member's session: 403");
  }
  # a key with read scopes only cannot write
  my $ro = webotctl_json('key', 'create', '--account', $alice->{account_id}, '--name', 'ro',
                         '--scopes', 'jobs:read');
  push @SECRETS, $ro->{key};
  error_ok(seen(create_job($ro->{key})), 403, 'FORBIDDEN', 'POST /jobs with a jobs:read key: 403');
  error_ok(seen(api_get('/api/v1/me', key => $ro->{key})), 403, 'FORBIDDEN', 'GET /me without account:read: 403');
};

# ===========================================================================
subtest 'TLS: 1.2+ only, HSTS, Secure cookie' => sub {
  my $port = $ENV{WEBOT_TEST_TLS_PORT} or return fail('WEBOT_TEST_TLS_PORT is not set');
  my $try = sub {
    my ($v) = @_;
    my $out = `echo | openssl s_client -connect 127.0.0.1:$port $v 2>&1`;
    return ($out =~ /^\s*Protocol\s*:\s*(TLSv[\d.]+)/m || $out =~ /New, (TLSv[\d.]+),/) ? $1 : '';
  };
  for my $old (qw(-tls1 -tls1_1)) {
    my $out = `echo | openssl s_client -connect 127.0.0.1:$port $old -cipher DEFAULT\@SECLEVEL=0 2>&1`;
    ok($out =~ /New, \(NONE\), Cipher is \(NONE\)/ && $out =~ /alert protocol version|no protocols available|handshake failure|wrong version/i,
       "a $old handshake fails") or diag substr($out, 0, 800);
  }
  is($try->('-tls1_2'), 'TLSv1.2', 'TLS 1.2 handshake succeeds');
  is($try->('-tls1_3'), 'TLSv1.3', 'TLS 1.3 handshake succeeds');
  my $r = seen(api_get('/api/v1/health', https => 1));
  is($r->status, 200, 'GET /health over TLS');
  like($r->header('Strict-Transport-Security') // '', qr/max-age=\d{7,}/, 'HSTS on the TLS vhost');
  my $c = new_client();
  $r = seen($c->post('/api/v1/auth/login', https => 1,
                     json => { email => $alice->{email}, password => $alice->{password} }));
  is($r->status, 200, 'login over TLS');
  my $ck = cookie_attrs($r, 'webot_session');
  ok($ck && $ck->{secure}, 'the session cookie is Secure over TLS') or diag explain $ck;
  ok($ck && $ck->{httponly}, 'and HttpOnly');
};

# ===========================================================================
# The bad-input catalogue: [method, path, options, status, code]
my $cat = make_account(plan => 'both_team', grant => $BIG);
my $K = $cat->{key};
my $JID = create_job($K)->json->{id};
my $FID = presign($K)->json->{file_id};
my $ct = 'application/json';
my @bodies = (     # [name, raw body, content type, status, code]
  ['not JSON', 'hello', $ct, 400, 'BAD_REQUEST'],
  ['truncated JSON', '{"title":', $ct, 400, 'BAD_REQUEST'],
  ['trailing garbage', '{}x', $ct, 400, 'BAD_REQUEST'],
  ['duplicate keys', '{"title":"a","title":"b"}', $ct, 400, 'BAD_REQUEST'],
  ['bad UTF-8', qq({"title":"\xff\xfe"}), $ct, 400, 'BAD_REQUEST'],
  ['text/plain', '{}', 'text/plain', 415, 'UNSUPPORTED_MEDIA_TYPE'],
  ['form-encoded', 'a=b', 'application/x-www-form-urlencoded', 415, 'UNSUPPORTED_MEDIA_TYPE'],
  ['over 64 KiB', '{"x":"' . ('y' x 66000) . '"}', $ct, 413, 'PAYLOAD_TOO_LARGE'],
  ['unknown field', '{"zzz_unknown":1}', $ct, 422, 'VALIDATION_ERROR'],
  ['deep nesting', ('[' x 5000) . (']' x 5000), $ct, 400, 'BAD_REQUEST'],
);
my @json_routes = (
  [POST => '/api/v1/jobs', $K],
  [POST => '/api/v1/jobs/preflight', $K],
  [POST => '/api/v1/files/presign', $K],
  [POST => '/api/v1/auth/login', undef],
  [POST => '/api/v1/catalog/intent-check', undef],
  [POST => "/api/v1/jobs/$JID/revision", $K],
  [POST => "/api/v1/jobs/$JID/cancel", $K],
  [POST => "/api/v1/jobs/$JID/approve", $K],
);
my @CAT;
for my $rt (@json_routes) {
  for my $b (@bodies) {
    my $status = $b->[3];
    my $code = $b->[4];
    # preflight and intent-check answer 200 with their findings for a
    # well-formed body (contract: readiness checks / problems), the rest 422
    next if $b->[0] eq 'unknown field' && $rt->[1] =~ m{/(preflight|intent-check)$};
    push @CAT, [$rt->[0], $rt->[1], { body => $b->[1], content_type => $b->[2], key => $rt->[2] },
                $status, $code, $b->[0]];
  }
}
my %Q = (key => $K);
push @CAT,
  map { [GET => "/api/v1/jobs?$_->[0]", \%Q, 400, 'BAD_REQUEST', $_->[0]] }
  (['limit=0'], ['limit=101'], ['limit=-5'], ['limit=abc'], ['limit=1e2'], ['limit=10.5'],
   ['limit='], ['limit=%00'], ['cursor=garbage'], ['cursor=' . ('A' x 60)], ['cursor=%ff%fe'],
   ['limit=1;DROP TABLE jobs']);
push @CAT,
  [GET => "/api/v1/jobs/$JID/events?after=abc", \%Q, 400, 'BAD_REQUEST', 'after=abc'],
  [GET => "/api/v1/jobs/$JID/events?after=-1", \%Q, 400, 'BAD_REQUEST', 'after=-1'],
  [GET => "/api/v1/jobs/$JID/events?after=99999999999999999999", \%Q, 400, 'BAD_REQUEST', 'after huge'],
  [GET => '/api/v1/jobs/job_doesnotexist', \%Q, 404, 'NOT_FOUND', 'unknown job'],
  [GET => "/api/v1/jobs/'%20OR%201=1--", \%Q, 404, 'NOT_FOUND', 'SQL in the id'],
  [GET => '/api/v1/jobs/' . ('j' x 3000), \%Q, 404, 'NOT_FOUND', 'long id'],
  [GET => '/api/v1/jobs/job_%2e%2e', \%Q, 404, 'NOT_FOUND', 'encoded dots'],
  [GET => '/api/v1/jobs/..%2f..%2fetc', \%Q, 404, undef, 'encoded slash (refused by httpd itself, docs/api-conventions.md)'],
  [GET => '/api/v1/jobs/%ff%fe', \%Q, 404, 'NOT_FOUND', 'bad UTF-8 id'],
  [GET => '/api/v1/nope', {}, 404, 'NOT_FOUND', 'unknown route'],
  [GET => '/api/v1/jobs/x/y/z', \%Q, 404, 'NOT_FOUND', 'too deep'],
  [GET => "/api/v1/files/download/$FID", {}, 403, 'FORBIDDEN', 'download without signature'],
  [PUT => "/api/v1/files/upload/$FID", { body => 'x', content_type => 'text/plain' }, 403, 'FORBIDDEN', 'upload without signature'],
  [PUT => "/api/v1/files/upload/$FID?expires=1&signature=abc", { body => 'x', content_type => 'text/plain' }, 403, 'FORBIDDEN', 'upload with a bad signature'],
  [GET => '/api/v1/files/download/file_nope', {}, 404, 'NOT_FOUND', 'download of an unknown file'],
  [PUT => '/api/v1/files/upload/file_nope', { body => 'x', content_type => 'text/plain' }, 404, 'NOT_FOUND', 'upload to an unknown file'],
  [PUT => '/api/v1/jobs', { %Q, body => '{}', content_type => $ct }, 405, 'METHOD_NOT_ALLOWED', 'PUT /jobs'],
  [DELETE => '/api/v1/jobs', \%Q, 405, 'METHOD_NOT_ALLOWED', 'DELETE /jobs'],
  [PATCH => "/api/v1/jobs/$JID", { %Q, body => '{}', content_type => $ct }, 405, 'METHOD_NOT_ALLOWED', 'PATCH /jobs/{id}'],
  [DELETE => "/api/v1/jobs/$JID", \%Q, 405, 'METHOD_NOT_ALLOWED', 'DELETE /jobs/{id}'],
  [POST => '/api/v1/me', { %Q, body => '{}', content_type => $ct }, 405, 'METHOD_NOT_ALLOWED', 'POST /me'],
  [DELETE => '/api/v1/health', {}, 405, 'METHOD_NOT_ALLOWED', 'DELETE /health'],
  [PUT => '/api/v1/catalog', { body => '{}', content_type => $ct }, 405, 'METHOD_NOT_ALLOWED', 'PUT /catalog'],
  [GET => '/api/v1/auth/login', {}, 405, 'METHOD_NOT_ALLOWED', 'GET /auth/login'],
  [GET => '/api/v1/me', {}, 401, 'UNAUTHORIZED', 'no credential'],
  [GET => '/api/v1/me', { headers => { Authorization => 'Bearer' } }, 401, 'UNAUTHORIZED', 'empty bearer'],
  [GET => '/api/v1/me', { headers => { Authorization => 'Bearer x y z' } }, 401, 'UNAUTHORIZED', 'bearer with spaces'],
  [GET => '/api/v1/me', { headers => { Authorization => "Bearer $K$K" } }, 401, 'UNAUTHORIZED', 'key twice'],
  [GET => '/api/v1/me', { headers => { Authorization => 'Bearer ' . ('k' x 5000) } }, 401, 'UNAUTHORIZED', 'huge bearer'],
  [GET => '/api/v1/me', { headers => { Authorization => 'Token abc' } }, 401, 'UNAUTHORIZED', 'other scheme'],
  [GET => '/api/v1/jobs', { headers => { Cookie => 'webot_session=forged' } }, 401, 'UNAUTHORIZED', 'forged session cookie'],
  [POST => '/api/v1/jobs', { %Q, json => job_body(), headers => {} }, 400, 'IDEMPOTENCY_KEY_REQUIRED', 'no Idempotency-Key'],
  [POST => '/api/v1/jobs', { %Q, json => job_body(), headers => { 'Idempotency-Key' => 'short' } }, 400, 'IDEMPOTENCY_KEY_REQUIRED', 'short key'],
  [POST => '/api/v1/jobs', { %Q, json => job_body(), headers => { 'Idempotency-Key' => 'bad key with spaces 12345' } }, 400, 'IDEMPOTENCY_KEY_REQUIRED', 'key with spaces'],
  [POST => '/api/v1/jobs', { %Q, json => job_body(), headers => { 'Idempotency-Key' => 'k' x 129 } }, 400, 'IDEMPOTENCY_KEY_REQUIRED', 'key of 129 chars'],
  [POST => "/api/v1/jobs/$JID/cancel", { %Q, json => {}, headers => { 'Idempotency-Key' => 'bad/key/0123456789' } }, 400, 'IDEMPOTENCY_KEY_REQUIRED', 'malformed optional key'],
  [POST => "/api/v1/jobs/$JID/approve", { %Q, json => {} }, 409, 'INVALID_STATE', 'approve a queued job'],
  [POST => "/api/v1/jobs/$JID/revision", { %Q, json => { notes => 'x' } }, 409, 'INVALID_STATE', 'revision of a queued job'],
  [POST => "/api/v1/jobs/$JID/revision", { %Q, json => {} }, 422, 'VALIDATION_ERROR', 'revision without notes'],
  [POST => "/api/v1/jobs/$JID/revision", { %Q, json => { notes => 5 } }, 422, 'VALIDATION_ERROR', 'revision notes a number'],
  [POST => '/api/stripe/webhook', { body => '{}', content_type => $ct }, 400, 'WEBHOOK_SIGNATURE_INVALID', 'webhook unsigned'],
  [POST => '/api/stripe/webhook', { body => '{}', content_type => $ct, headers => { 'Stripe-Signature' => 't=1,v1=00' } }, 400, 'WEBHOOK_SIGNATURE_INVALID', 'webhook bad signature'],
  [POST => '/api/stripe/webhook', { body => '{}', content_type => $ct, headers => { 'Stripe-Signature' => stripe_signature('{}', undef, time - 3600) } }, 400, 'WEBHOOK_SIGNATURE_INVALID', 'webhook signature an hour old'],
  [POST => '/api/stripe/webhook', { body => '{}', content_type => $ct, headers => { 'Stripe-Signature' => 'garbage' } }, 400, 'WEBHOOK_SIGNATURE_INVALID', 'webhook garbage signature'],
  (map { my $b = $_; [POST => '/api/v1/jobs', { %Q, json => job_body(%{ $b->[0] }) }, 422, $b->[2] // 'VALIDATION_ERROR', $b->[1]] }
    ([{ title => 5 }, 'title a number'], [{ title => 'x' x 10000 }, 'title 10000 chars'],
     [{ service_option => 'no_such_option' }, 'unknown option'], [{ service_option => undef }, 'no option'],
     [{ intake => 'text' }, 'intake a string'], [{ intake => [] }, 'intake a list'],
     [{ metadata => 'x' }, 'metadata a string'], [{ file_ids => 'file_x' }, 'file_ids a string'],
     [{ file_ids => ['file_nope'] }, 'unknown file id'], [{ intake => {} }, 'empty intake', 'INTAKE_INCOMPLETE'])),
  (map { [POST => '/api/v1/files/presign', { %Q, json => $_->[0] }, 422, 'VALIDATION_ERROR', $_->[1]] }
    ([{ filename => 'a.txt', content_type => 'text/plain', size_bytes => 0, purpose => 'job_input' }, 'size 0'],
     [{ filename => 'a.txt', content_type => 'text/plain', size_bytes => -1, purpose => 'job_input' }, 'size -1'],
     [{ filename => 'a.txt', content_type => 'text/plain', size_bytes => '5', purpose => 'job_input' }, 'size a string'],
     [{ filename => 'a.txt', content_type => 'text/plain', size_bytes => 1.5, purpose => 'job_input' }, 'size 1.5'],
     [{ content_type => 'text/plain', size_bytes => 5, purpose => 'job_input' }, 'no filename'],
     [{ filename => 'a.txt', content_type => 'text/plain', size_bytes => 5, purpose => 'other' }, 'bad purpose'],
     [{ filename => 'a.txt', content_type => 'not a type', size_bytes => 5, purpose => 'job_input' }, 'bad content type'],
     [{ filename => '', content_type => 'text/plain', size_bytes => 5, purpose => 'job_input' }, 'empty filename'])),
  [POST => '/api/v1/auth/login', { json => { email => 5, password => 'x' } }, 422, 'VALIDATION_ERROR', 'email a number'],
  [POST => '/api/v1/auth/login', { json => { email => 'a@b.c' } }, 422, 'VALIDATION_ERROR', 'no password'],
  [GET => '/api/v1/me', { key => $K, headers => { 'X-Request-Id' => 'x' x 200 } }, 200, undef, 'long X-Request-Id is replaced, not an error'];

cmp_ok(scalar @CAT, '>=', 100, scalar(@CAT) . ' malformed requests in the catalogue');
my (@wrong, $n5xx);
for my $c (@CAT) {
  my ($m, $p, $o, $st, $code, $name) = @$c;
  my %o = %$o;
  if ($m eq 'POST' && !exists $o{headers}) { $o{headers} = { 'Idempotency-Key' => idem_key() } }
  my $r = seen(api_request($m, $p, %o));
  $n5xx++ if $r->status >= 500;
  my $got = $r->status . ' ' . (ref $r->json eq 'HASH' && ref $r->json->{error} eq 'HASH'
                                ? $r->json->{error}{code} : '-');
  my $want = $st . ' ' . ($code // '-');
  if ($got ne $want) { push @wrong, "$m $p ($name): got $got, want $want"; next }
  next unless $code;
  my $e = $r->json->{error};
  my @k = sort keys %$e;
  push @wrong, "$m $p ($name): error fields @k"
    unless "@k" eq 'code details message param request_id suggested_action suggested_endpoint'
        && ($r->header('X-Request-Id') // '') eq ($e->{request_id} // '')
        && ($r->header('Content-Type') // '') =~ m{^application/(problem\+)?json};
}
is($n5xx // 0, 0, 'no 5xx in the catalogue');
is_deeply(\@wrong, [], 'every malformed request got the contract\'s status, code and error body')
  or diag scalar(@wrong) . ' of ' . scalar(@CAT) . " differ:\n" . join("\n", @wrong);
is(seen(api_get('/api/v1/health'))->status, 200, 'healthy after the catalogue');
is(seen(api_get('/api/v1/me', key => $K))->status, 200, 'and answering authenticated requests');
is(psql_value("SELECT count(*) FROM jobs WHERE account_id = '$cat->{account_id}'"), 1,
   'the catalogue created no job');

# ===========================================================================
subtest 'no secrets, SQL, paths or stack traces in responses or the error_log' => sub {
  my $slurp = sub { open my $fh, '<', $_[0] or return undef; local $/; my $s = <$fh>; $s =~ s/\s+\z//; $s };
  my $T = $ENV{WEBOT_TEST_DIR} // '';
  my @server = grep { defined && length >= 8 } map { $slurp->("$T/$_") }
    qw(secret stripe_webhook_secret executor_secret);
  is(scalar @server, 3, 'the three server secrets read');
  my @all = (@server, @SECRETS, $ENV{WEBOT_TEST_STRIPE_WEBHOOK_SECRET} // (), $ENV{WEBOT_TEST_EXECUTOR_SECRET} // ());
  my (@leak, @internal);
  my $i = 0;
  for my $r (@SEEN) {
    my $txt = join "\n", $r->headers->as_string, $r->content // '';
    for my $s (@all) { push @leak, $r->describe if index($txt, $s) >= 0 && !_own_key($r, $s) }
    push @internal, substr($r->describe, 0, 300)
      if $txt =~ /\b(SELECT\s+\S+.*\bFROM|INSERT INTO|UPDATE \w+ SET|syntax error at|libpq|PGRES_|pq_|\.c:\d+|at \S+\.pm line|Traceback|segfault|\/tmp\/webot-test|\/work\/|\/usr\/lib\/)/is;
  }
  is(scalar @SEEN > 200, 1, scalar(@SEEN) . ' responses scanned');
  is_deeply(\@leak, [], 'no secret in any response');
  is_deeply(\@internal, [], 'no SQL, source location, path or stack trace in any response');
  my $log = $slurp->($ENV{WEBOT_TEST_ERROR_LOG} // top_dir() . '/t/logs/error_log') // '';
  ok(length $log, 'error_log read (' . length($log) . ' bytes)');
  my @in_log = grep { index($log, $_) >= 0 } @all;
  is(scalar @in_log, 0, 'no test secret, key or password in the error_log');
};

# A response that legitimately carries a secret the client sent or owns: none
# of the routes here return a key's plaintext except POST /api-keys (not used).
sub _own_key { 0 }

done_testing;
