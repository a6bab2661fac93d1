# t/22_api_keys.t: GET/POST /api/v1/api-keys and DELETE /api/v1/api-keys/{id}.
# Owner/admin sessions only (API keys and members get 403), CSRF, the
# plaintext shown only in the 201 answer, scopes, validation, revocation
# (idempotent), keys of other accounts (404, untouched), and cursor pages
# (tampered or foreign cursors are 400).
use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use WebotTest;
use WebotAuth;

my %PLAN = map { $_->{id} => $_ } @{ api_get('/api/v1/plans')->json->{plans} };
my ($both) = grep { "@{$PLAN{$_}{access}}" eq 'api dashboard' } sort keys %PLAN;

my $a = make_account(plan => $both);
my $owner = session_for($a);

subtest 'create: 201 with the key, once' => sub {
  my $r = $owner->post('/api/v1/api-keys', json => { name => 'CRM agent', scopes => [qw(jobs:write account:read)] });
  is($r->status, 201, '201') or diag($r->describe);
  my $j = $r->json;
  is_deeply([sort keys %$j], [sort qw(id name prefix scopes created_at key)], 'fields');
  like($j->{id}, qr/^key_[a-z2-7]{26}$/, 'id');
  like($j->{key}, qr/^wbt_[A-Za-z0-9]{33}$/, 'key: wbt_ + 33 base62 (192 bits)');
  is($j->{prefix}, "wbt_\x{2026}" . substr($j->{key}, -4), 'prefix wbt_… + last four');
  is_deeply($j->{scopes}, [qw(account:read jobs:write)], 'scopes in canonical order');
  is($j->{name}, 'CRM agent', 'name');
  like($j->{created_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'created_at');
  is($r->header('Cache-Control'), 'no-store', 'no-store');
  # stored as SHA-256 only
  is(psql_value("SELECT encode(key_hash, 'hex') FROM api_keys WHERE id = " . q_($j->{id})), sha256_hex($j->{key}),
     'stored: sha256 of the key');
  is(psql_value("SELECT created_by FROM api_keys WHERE id = " . q_($j->{id})), $a->{user_id}, 'created_by the owner');
  # the key works, with its scopes
  my $me = api_get('/api/v1/me', key => $j->{key});
  is($me->status, 200, 'the new key works on /me');
  is_deeply($me->json->{scopes}, [qw(account:read jobs:write)], 'with its scopes');
  # never again: not in the list
  my $list = $owner->get('/api/v1/api-keys');
  unlike($list->content, qr/\Q$j->{key}\E/, 'the list never shows the key');
  my ($row) = grep { $_->{id} eq $j->{id} } @{ $list->json->{data} };
  ok(!exists $row->{key}, 'no key field in the list');
  # default scopes: all four
  $r = $owner->post('/api/v1/api-keys', json => { name => 'default' });
  is_deeply($r->json->{scopes}, [qw(account:read jobs:read jobs:write files:write)], 'default: all four scopes');
  # unicode name
  $r = $owner->post('/api/v1/api-keys', json => { name => "Agent \x{e9}t\x{e9} \x{2603}" . ('x' x 189) });
  is($r->status, 201, '200-character unicode name accepted') or diag($r->describe);
};

subtest 'create: validation' => sub {
  my @bad = (
    [ {}, 'name', 'no name' ],
    [ { name => '' }, 'name', 'empty name' ],
    [ { name => 'x' x 201 }, 'name', 'name over 200 characters' ],
    [ { name => 42 }, 'name', 'name not a string' ],
    [ { name => 'x', scopes => [] }, 'scopes', 'empty scopes' ],
    [ { name => 'x', scopes => ['admin'] }, 'scopes[0]', 'unknown scope' ],
    [ { name => 'x', scopes => ['jobs:read', 'jobs:read'] }, 'scopes', 'duplicate scope' ],
    [ { name => 'x', scopes => 'jobs:read' }, 'scopes', 'scopes not a list' ],
    [ { name => 'x', expires => 1 }, 'expires', 'unknown field' ],
  );
  my $n = psql_value('SELECT count(*) FROM api_keys WHERE account_id = ' . q_($a->{account_id}));
  for my $b (@bad) {
    my $e = error_ok($owner->post('/api/v1/api-keys', json => $b->[0]), 422, 'VALIDATION_ERROR', "$b->[2]: 422");
    like($e && $e->{param} // '', qr/^\Q$b->[1]\E/, "$b->[2]: param $b->[1]");
  }
  error_ok($owner->post('/api/v1/api-keys', body => '{"name":', content_type => 'application/json'), 400,
           'BAD_REQUEST', 'broken JSON: 400');
  error_ok($owner->post('/api/v1/api-keys', body => 'name=x', content_type => 'text/plain'), 415,
           'UNSUPPORTED_MEDIA_TYPE', 'not JSON: 415');
  is(psql_value('SELECT count(*) FROM api_keys WHERE account_id = ' . q_($a->{account_id})), $n, 'nothing created');
};

subtest 'who may manage keys' => sub {
  # API keys: 403 on all three routes, even with every scope
  my $e = error_ok(api_get('/api/v1/api-keys', key => $a->{key}), 403, 'FORBIDDEN', 'API key lists: 403');
  like($e->{message}, qr/session/, 'message says a session is needed');
  error_ok(api_post('/api/v1/api-keys', key => $a->{key}, json => { name => 'x' }), 403, 'FORBIDDEN', 'API key creates: 403');
  error_ok(api_delete("/api/v1/api-keys/$a->{key_id}", key => $a->{key}), 403, 'FORBIDDEN', 'API key revokes: 403');
  is(psql_value('SELECT revoked_at IS NULL FROM api_keys WHERE id = ' . q_($a->{key_id})), 't', 'not revoked');
  # members: 403; admins: allowed
  for my $role (qw(member admin)) {
    my $email = "$role-" . idem_key() . '@example.test';
    webotctl_json({ stdin => "pw-$role-123\n" }, 'user', 'create', '--account', $a->{account_id},
                  '--email', $email, '--role', $role, '--password-stdin');
    my $c = new_client();
    is(login($c, $email, "pw-$role-123")->status, 200, "$role signs in");
    is($c->get('/api/v1/me')->json->{role}, $role, "/me role $role");
    if ($role eq 'member') {
      my $e = error_ok($c->get('/api/v1/api-keys'), 403, 'FORBIDDEN', 'member lists: 403');
      like($e->{message}, qr/owner or admin/, 'message names the roles');
      error_ok($c->post('/api/v1/api-keys', json => { name => 'm' }), 403, 'FORBIDDEN', 'member creates: 403');
      error_ok($c->delete("/api/v1/api-keys/$a->{key_id}"), 403, 'FORBIDDEN', 'member revokes: 403');
    } else {
      is($c->get('/api/v1/api-keys')->status, 200, 'admin lists');
      is($c->post('/api/v1/api-keys', json => { name => 'by admin' })->status, 201, 'admin creates');
    }
  }
  error_ok(api_get('/api/v1/api-keys'), 401, 'UNAUTHORIZED', 'no credential: 401');
};

subtest 'revoke' => sub {
  my $k = $owner->post('/api/v1/api-keys', json => { name => 'to revoke' })->json;
  is(api_get('/api/v1/me', key => $k->{key})->status, 200, 'key works');
  my $r = $owner->delete("/api/v1/api-keys/$k->{id}");
  is($r->status, 200, 'DELETE: 200') or diag($r->describe);
  my $j = $r->json;
  is($j->{id}, $k->{id}, 'the revoked key');
  like($j->{revoked_at} // '', qr/Z$/, 'revoked_at set');
  ok(!exists $j->{key}, 'no key in the answer');
  error_ok(api_get('/api/v1/me', key => $k->{key}), 401, 'UNAUTHORIZED', 'the key is refused at once');
  my $again = $owner->delete("/api/v1/api-keys/$k->{id}");
  is($again->status, 200, 'DELETE again: 200 (safe retry)');
  is($again->json->{revoked_at}, $j->{revoked_at}, 'revoked_at unchanged');
  my ($row) = grep { $_->{id} eq $k->{id} } @{ $owner->get('/api/v1/api-keys?limit=100')->json->{data} };
  is($row->{revoked_at}, $j->{revoked_at}, 'the list shows revoked_at');
  error_ok($owner->delete('/api/v1/api-keys/key_doesnotexist234567abcdefgh'), 404, 'NOT_FOUND', 'unknown id: 404');
  error_ok($owner->delete('/api/v1/api-keys/' . ('k' x 65)), 404, 'NOT_FOUND', 'over-long id: 404');
  error_ok($owner->delete('/api/v1/api-keys/bad%20id'), 404, 'NOT_FOUND', 'malformed id: 404');
};

subtest 'keys of another account are 404 and untouched' => sub {
  my $b = make_account(plan => $both);
  my $e = error_ok($owner->delete("/api/v1/api-keys/$b->{key_id}"), 404, 'NOT_FOUND', 'revoking B\'s key as A: 404');
  unlike($e->{message}, qr/another account|belongs/i, 'no hint that it exists');
  is(psql_value('SELECT revoked_at IS NULL FROM api_keys WHERE id = ' . q_($b->{key_id})), 't', 'B\'s key not revoked');
  is(api_get('/api/v1/me', key => $b->{key})->status, 200, 'B\'s key still works');
  my @ids = map { $_->{id} } @{ $owner->get('/api/v1/api-keys?limit=100')->json->{data} };
  ok(!grep({ $_ eq $b->{key_id} } @ids), 'A\'s list does not show B\'s keys');
  my $bs = session_for($b);
  @ids = map { $_->{id} } @{ $bs->get('/api/v1/api-keys?limit=100')->json->{data} };
  is_deeply(\@ids, [ $b->{key_id} ], 'B sees only its own key');
};

subtest 'list: newest first, cursor pages' => sub {
  my $c = make_account(plan => $both);
  my $s = session_for($c);
  my @made = ($c->{key_id});
  for my $i (1 .. 4) {
    push @made, $s->post('/api/v1/api-keys', json => { name => "k$i" })->json->{id};
  }
  my $r = $s->get('/api/v1/api-keys');
  is($r->status, 200, 'list') or diag($r->describe);
  my $j = $r->json;
  is_deeply([sort keys %$j], [qw(data has_more next_cursor)], 'list shape');
  is_deeply([ map { $_->{id} } @{ $j->{data} } ], [ reverse @made ], 'newest first');
  is($j->{has_more}, JSON::PP::false, 'has_more false');
  is($j->{next_cursor}, undef, 'next_cursor null');
  is_deeply([sort keys %{ $j->{data}[0] }], [sort qw(id name prefix scopes created_at last_used_at revoked_at)],
            'item fields');
  my (@seen, $cursor, $pages);
  do {
    $r = $s->get('/api/v1/api-keys?limit=2' . ($cursor ? "&cursor=$cursor" : ''));
    is($r->status, 200, 'page ' . ++$pages);
    push @seen, map { $_->{id} } @{ $r->json->{data} };
    $cursor = $r->json->{next_cursor};
  } while ($r->json->{has_more} && $pages < 10);
  is_deeply(\@seen, [ reverse @made ], 'pages of 2 give every key once, in order');
  is($pages, 3, 'three pages');

  my $first = $s->get('/api/v1/api-keys?limit=1')->json->{next_cursor};
  ok($first, 'a cursor');
  (my $tampered = $first) =~ s/^(.)/$1 eq 'A' ? 'B' : 'A'/e;
  error_ok($s->get("/api/v1/api-keys?cursor=$tampered"), 400, 'BAD_REQUEST', 'tampered cursor: 400');
  error_ok($s->get('/api/v1/api-keys?cursor=garbage'), 400, 'BAD_REQUEST', 'garbage cursor: 400');
  my $e = error_ok($owner->get("/api/v1/api-keys?cursor=$first"), 400, 'BAD_REQUEST', 'another account\'s cursor: 400');
  is($e->{param}, 'cursor', 'param cursor');
  for my $l (qw(0 101 -1 abc 1.5), '') {
    my $e = error_ok($s->get("/api/v1/api-keys?limit=$l"), 400, 'BAD_REQUEST', "limit=$l: 400");
    is($e->{param}, 'limit', "limit=$l: param limit");
  }
  is($s->get('/api/v1/api-keys?limit=100&foo=bar')->status, 200, 'unknown query parameters are ignored');
};

done_testing;
