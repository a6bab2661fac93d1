# t/21_sessions.t: dashboard sessions. Sign-in (cookie attributes over HTTP
# and TLS, the stored hashes), the session on /me, CSRF on every
# cookie-authenticated mutation, sign-out, idle and absolute expiry, the
# same answer for an unknown email and a wrong password, and sign-in
# throttling per email (the 6th failure in 15 minutes, even with the right
# password) and per client address (50). Failing sign-ins come from other
# loopback addresses (127.0.x.y) so that they never count for 127.0.0.1.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use List::Util qw(min);
use Digest::SHA qw(sha256_hex);
use WebotTest;
use WebotAuth;

my %PLAN = map { $_->{id} => $_ } @{ api_get('/api/v1/plans')->json->{plans} };
my ($both) = grep { "@{$PLAN{$_}{access}}" eq 'api dashboard' } sort keys %PLAN;
my ($human) = grep { "@{$PLAN{$_}{access}}" eq 'dashboard' } sort keys %PLAN;
my ($agent) = grep { "@{$PLAN{$_}{access}}" eq 'api' } sort keys %PLAN;
my @ENT = entitled_route();
my @IPS;    # addresses used here, cleaned up at the end
sub ip { my $ip = fresh_ip(); push @IPS, $ip; return $ip }

my $a = make_account(plan => $both, email => lc("Owner-" . idem_key() . '@Example.test'));

# ------------------------------------------------------------------ sign-in
subtest 'sign-in sets a hardened cookie and returns a CSRF token' => sub {
  my $c = new_client();
  my $r = login($c, uc $a->{email}, $a->{password});
  is($r->status, 200, 'login: 200 (email is case-insensitive)') or diag($r->describe);
  my $j = $r->json;
  is_deeply([sort keys %$j], [sort qw(csrf_token expires_at idle_expires_at user account_id)], 'fields');
  like($j->{csrf_token}, qr/^wbc_[A-Za-z0-9]{30,}$/, 'csrf_token');
  is($j->{user}{id}, $a->{user_id}, 'user id');
  is($j->{user}{role}, 'owner', 'role');
  is($j->{account_id}, $a->{account_id}, 'account id');
  like($j->{expires_at}, qr/Z$/, 'expires_at');
  is($r->header('Cache-Control'), 'no-store', 'no-store');
  my $ck = cookie_attrs($r, 'webot_session');
  ok($ck, 'Set-Cookie webot_session') or return;
  like($ck->{value}, qr/^wbs_[A-Za-z0-9]{40,}$/, 'cookie value: 256-bit token');
  ok($ck->{httponly}, 'HttpOnly');
  is(lc($ck->{samesite} // ''), 'strict', 'SameSite=Strict');
  is($ck->{path}, '/', 'Path=/');
  ok(!$ck->{secure}, 'no Secure over plain HTTP');
  ok($ck->{'max-age'} > 3600, 'Max-Age is the absolute lifetime');
  # stored hashed: neither the cookie nor the CSRF token is in the table
  my $row = psql_value_row('SELECT encode(token_hash, \'hex\') || \'|\' || encode(csrf_hash, \'hex\') FROM sessions WHERE user_id = '
                           . q_($a->{user_id}) . ' ORDER BY created_at DESC LIMIT 1');
  is($row, sha256_hex($ck->{value}) . '|' . sha256_hex($j->{csrf_token}), 'sessions hold SHA-256 of cookie and CSRF token');
  is(psql_value("SELECT count(*) FROM sessions WHERE token_hash = convert_to(" . q_($ck->{value}) . ", 'UTF8')"), 0,
     'the plaintext cookie is not stored');

  # the session on /me
  $r = $c->get('/api/v1/me');
  is($r->status, 200, 'GET /me with the session') or diag($r->describe);
  is($r->json->{auth}{method}, 'session', 'auth.method session');
  is($r->json->{auth}{user_id}, $a->{user_id}, 'auth.user_id');
  is($r->json->{auth}{email}, $a->{email}, 'auth.email');
  is($r->json->{auth}{key_id}, undef, 'auth.key_id null');
  is($r->json->{role}, 'owner', 'role owner');
  is_deeply($r->json->{scopes}, [qw(account:read jobs:read jobs:write files:write)], 'sessions have every scope');
  like($r->header('RateLimit') // '', qr/^"minute";r=\d+;t=\d+$/, 'RateLimit on a session answer');
};

subtest 'over TLS the cookie is Secure' => sub {
  my $c = new_client();
  my $r = login($c, $a->{email}, $a->{password}, https => 1);
  is($r->status, 200, 'login over TLS') or diag($r->describe);
  my $ck = cookie_attrs($r, 'webot_session');
  ok($ck && $ck->{secure}, 'Secure');
  ok($ck && $ck->{httponly}, 'HttpOnly');
  $r = $c->get('/api/v1/me', https => 1);
  is($r->status, 200, '/me over TLS with the session');
};

# ------------------------------------------------------------------ CSRF
subtest 'CSRF: cookie-authenticated POST/PUT/DELETE need X-CSRF-Token' => sub {
  my $c = session_for($a);
  my $token = $c->{headers}{'X-CSRF-Token'};
  $c->set_header('X-CSRF-Token' => undef);
  my $before = psql_value('SELECT count(*) FROM api_keys WHERE account_id = ' . q_($a->{account_id}));
  my $e = error_ok($c->post('/api/v1/api-keys', json => { name => 'csrf' }), 403, 'CSRF_FAILED', 'POST without token');
  is($e && $e->{suggested_action}, 'reauthenticate', 'suggested_action');
  error_ok($c->post('/api/v1/api-keys', json => { name => 'csrf' }, headers => { 'X-CSRF-Token' => 'wbc_wrong' }),
           403, 'CSRF_FAILED', 'POST with a wrong token');
  error_ok($c->post('/api/v1/api-keys', json => { name => 'csrf' }, headers => { 'X-CSRF-Token' => '' }),
           403, 'CSRF_FAILED', 'POST with an empty token');
  my $other = session_for($a);
  error_ok($c->post('/api/v1/api-keys', json => { name => 'csrf' },
                    headers => { 'X-CSRF-Token' => $other->{headers}{'X-CSRF-Token'} }),
           403, 'CSRF_FAILED', 'POST with the token of another session');
  error_ok($c->delete("/api/v1/api-keys/$a->{key_id}"), 403, 'CSRF_FAILED', 'DELETE without token');
  error_ok($c->post('/api/v1/auth/logout'), 403, 'CSRF_FAILED', 'logout without token');
  is(psql_value('SELECT count(*) FROM api_keys WHERE account_id = ' . q_($a->{account_id})), $before,
     'no key was created');
  is(psql_value('SELECT revoked_at IS NULL FROM api_keys WHERE id = ' . q_($a->{key_id})), 't',
     'no key was revoked');
  SKIP: {
    skip 'no POST route outside the account context is mounted', 1
      unless @ENT && $ENT[0] eq 'POST';
    my ($m, $path, @o) = @ENT;
    error_ok($c->request($m => $path, @o), 403, 'CSRF_FAILED', "$m $path without token");
  }
  # GET needs no token
  is($c->get('/api/v1/me')->status, 200, 'GET needs no token');
  # with the token the POST works
  my $r = $c->post('/api/v1/api-keys', json => { name => 'csrf ok' }, headers => { 'X-CSRF-Token' => $token });
  is($r->status, 201, 'POST with the token: 201') or diag($r->describe);
  # an API key needs no CSRF token (no cookie involved)
  $r = api_get('/api/v1/me', key => $a->{key});
  is($r->status, 200, 'API key GET');
};

# ------------------------------------------------------------------ logout
subtest 'sign-out ends the session' => sub {
  my $c = session_for($a);
  my $r = $c->post('/api/v1/auth/logout');
  is($r->status, 204, 'logout: 204') or diag($r->describe);
  is($r->content, '', 'no body');
  my $ck = cookie_attrs($r, 'webot_session');
  ok($ck && $ck->{'max-age'} eq '0' && $ck->{value} eq '', 'cookie cleared (Max-Age=0)');
  $r = $c->get('/api/v1/me');
  error_ok($r, 401, 'UNAUTHORIZED', 'the cookie jar no longer has a session');
  ok(psql_value('SELECT count(*) FROM sessions WHERE user_id = ' . q_($a->{user_id}) . ' AND ended_at IS NOT NULL') >= 1,
     'ended_at set');
  # an API key cannot sign out
  error_ok(api_post('/api/v1/auth/logout', key => $a->{key}), 403, 'FORBIDDEN', 'logout with an API key: 403');
  error_ok(api_post('/api/v1/auth/logout'), 401, 'UNAUTHORIZED', 'logout without credential: 401');
  # logout with {} body
  my $c3 = session_for($a);
  is($c3->post('/api/v1/auth/logout', json => {})->status, 204, 'logout with {}');
  error_ok(session_for($a)->post('/api/v1/auth/logout', json => { all => 1 }), 422, 'VALIDATION_ERROR',
           'logout with an unknown field: 422');
};

subtest 'a replayed cookie of an ended session is refused' => sub {
  my $c = new_client();
  my $r = login($c, $a->{email}, $a->{password});
  my $cookie = cookie_attrs($r, 'webot_session')->{value};
  my $csrf = $r->json->{csrf_token};
  is($c->post('/api/v1/auth/logout')->status, 204, 'logout');
  $r = api_get('/api/v1/me', headers => { Cookie => "webot_session=$cookie" });
  error_ok($r, 401, 'UNAUTHORIZED', 'old cookie after logout: 401');
  my $ck = cookie_attrs($r, 'webot_session');
  ok($ck && $ck->{'max-age'} eq '0', 'the 401 clears the cookie');
};

# ------------------------------------------------------------------ expiry
subtest 'idle and absolute expiry' => sub {
  my $c = session_for($a);
  my $sid = psql_value('SELECT id FROM sessions WHERE user_id = ' . q_($a->{user_id}) . ' ORDER BY created_at DESC LIMIT 1');
  is($c->get('/api/v1/me')->status, 200, 'fresh session works');
  psql("UPDATE sessions SET idle_expires_at = now() - interval '1 second' WHERE id = " . q_($sid));
  error_ok($c->get('/api/v1/me'), 401, 'UNAUTHORIZED', 'idle expiry passed: 401');

  $c = session_for($a);
  $sid = psql_value('SELECT id FROM sessions WHERE user_id = ' . q_($a->{user_id}) . ' ORDER BY created_at DESC LIMIT 1');
  psql("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = " . q_($sid));
  error_ok($c->get('/api/v1/me'), 401, 'UNAUTHORIZED', 'absolute expiry passed: 401');

  # use slides the idle expiry (at most once a minute), never past the absolute end
  $c = session_for($a);
  $sid = psql_value('SELECT id FROM sessions WHERE user_id = ' . q_($a->{user_id}) . ' ORDER BY created_at DESC LIMIT 1');
  psql("UPDATE sessions SET last_seen_at = now() - interval '2 minutes', idle_expires_at = now() + interval '10 seconds', "
       . "expires_at = now() + interval '1 hour' WHERE id = " . q_($sid));
  is($c->get('/api/v1/me')->status, 200, 'used before the idle end');
  ok(psql_value("SELECT (idle_expires_at > now() + interval '10 minutes' AND idle_expires_at <= expires_at)::int FROM sessions WHERE id = "
                . q_($sid)), 'idle expiry moved forward, capped by the absolute end');
  psql("UPDATE sessions SET last_seen_at = now() - interval '2 minutes', idle_expires_at = now() + interval '10 seconds', "
       . "expires_at = now() + interval '20 seconds' WHERE id = " . q_($sid));
  $c->get('/api/v1/me');
  ok(psql_value("SELECT (idle_expires_at = expires_at)::int FROM sessions WHERE id = " . q_($sid)),
     'near the absolute end the idle expiry stops there');
};

# ------------------------------------------------------------------ wrong credentials
subtest 'unknown email and wrong password answer alike, in similar time' => sub {
  my $c = client_from(ip());
  my (@t_unknown, @t_wrong, @bodies);
  for my $i (1 .. 2) {
    for my $case ([ \@t_unknown, 'nobody-' . idem_key() . '@example.test', 'whatever' ],
                  [ \@t_wrong, $a->{email}, 'not-the-password' ]) {
      my $t0 = time;
      my $r = $c->post('/api/v1/auth/login', json => { email => $case->[1], password => $case->[2] });
      push @{ $case->[0] }, time - $t0;
      my $e = error_ok($r, 401, 'UNAUTHORIZED', "login $case->[1]: 401");
      push @bodies, $e && join '|', map { $_ // '' } @$e{qw(code message suggested_action param)};
      ok(!cookie_attrs($r, 'webot_session'), 'no cookie');
    }
  }
  is(scalar(keys %{{ map { $_ => 1 } @bodies }}), 1, 'same code, message, action and param for both cases');
  my $u = min(@t_unknown);
  my $w = min(@t_wrong);
  ok($u > 0.2 * $w && $u < 5 * $w, sprintf('similar time: unknown %.3fs, wrong %.3fs (a bcrypt both ways)', $u, $w));
  # clean up: these failures belong to this test only
  psql("DELETE FROM login_failures WHERE email = " . q_(lc $a->{email}));
  # validation
  error_ok($c->post('/api/v1/auth/login', json => { email => $a->{email} }), 422, 'VALIDATION_ERROR', 'missing password: 422');
  error_ok($c->post('/api/v1/auth/login', json => { email => $a->{email}, password => 'x', remember => 1 }),
           422, 'VALIDATION_ERROR', 'unknown field: 422');
  error_ok($c->post('/api/v1/auth/login', body => 'email=x&password=y', content_type => 'application/x-www-form-urlencoded'),
           415, 'UNSUPPORTED_MEDIA_TYPE', 'form body: 415');
};

# ------------------------------------------------------------------ throttling
subtest 'per email: the 6th attempt within 15 minutes is 429, even with the right password' => sub {
  my $b = make_account(plan => $both);
  my $c = client_from(ip());
  for my $i (1 .. 5) {
    my $r = $c->post('/api/v1/auth/login', json => { email => $b->{email}, password => "wrong $i" });
    is($r->status, 401, "failure $i: 401");
  }
  my $r = $c->post('/api/v1/auth/login', json => { email => $b->{email}, password => $b->{password} });
  my $e = error_ok($r, 429, 'RATE_LIMITED', '6th attempt with the right password: 429');
  my $ra = $r->header('Retry-After') // 0;
  ok($ra > 800 && $ra <= 900, "Retry-After about 15 minutes ($ra)");
  is($e && $e->{suggested_action}, 'wait', 'suggested_action wait');
  ok(!cookie_attrs($r, 'webot_session'), 'no cookie');
  # from another address too: the email is locked, not the address
  $r = client_from(ip())->post('/api/v1/auth/login', json => { email => uc $b->{email}, password => $b->{password} });
  error_ok($r, 429, 'RATE_LIMITED', 'same email (other case) from another address: 429');
  # refused attempts are not recorded (the lock ends 15 minutes after the 5th failure)
  is(psql_value('SELECT count(*) FROM login_failures WHERE email = ' . q_(lc $b->{email})), 5, 'still 5 failures recorded');
  # the window passes
  psql("UPDATE login_failures SET created_at = created_at - interval '16 minutes' WHERE email = " . q_(lc $b->{email}));
  $r = login(new_client(), $b->{email}, $b->{password});
  is($r->status, 200, 'after the window: sign-in works') or diag($r->describe);
  is(psql_value('SELECT count(*) FROM login_failures WHERE email = ' . q_(lc $b->{email})), 0,
     'a successful sign-in clears the email\'s failures');
  # an unknown email is throttled the same way
  my $nobody = 'nobody-' . idem_key() . '@example.test';
  $c->post('/api/v1/auth/login', json => { email => $nobody, password => 'x' }) for 1 .. 5;
  error_ok($c->post('/api/v1/auth/login', json => { email => $nobody, password => 'x' }), 429, 'RATE_LIMITED',
           'unknown email: 429 after 5 failures as well');
};

subtest 'failures are slowed before they are refused' => sub {
  my $b = make_account(plan => $both);
  my $c = client_from(ip());
  my @t;
  for my $i (1 .. 5) {
    my $t0 = time;
    $c->post('/api/v1/auth/login', json => { email => $b->{email}, password => "wrong $i" });
    push @t, time - $t0;
  }
  my $fast = min(@t[0, 1]);    # no delay before the 3rd failure
  ok($t[4] > $fast + 0.35, sprintf('5th failure (%.2fs) slower than the first ones (%.2fs)', $t[4], $fast));
  ok($t[4] < 3, 'but answers within a few seconds');
};

subtest 'per client address: 50 failures, then 429 for any email' => sub {
  my $addr = ip();
  my $c = client_from($addr);
  my %st;
  for my $i (1 .. 50) {
    my $r = $c->post('/api/v1/auth/login', json => { email => "nobody$i-" . idem_key() . '@example.test', password => 'x' });
    $st{ $r->status }++;
  }
  is_deeply(\%st, { 401 => 50 }, '50 failures with 50 different emails: 401 each');
  my $b = make_account(plan => $both);
  my $r = $c->post('/api/v1/auth/login', json => { email => $b->{email}, password => $b->{password} });
  error_ok($r, 429, 'RATE_LIMITED', '51st attempt from that address, right password: 429');
  ok(($r->header('Retry-After') // 0) > 0, 'Retry-After');
  $r = login(client_from(ip()), $b->{email}, $b->{password});
  is($r->status, 200, 'the same user from another address: 200');
};

# ------------------------------------------------------------------ roles and plans
subtest 'sessions need the dashboard; account context and keys do not' => sub {
  my $agt = make_account(plan => $agent);
  my $c = session_for($agt);
  my $r = $c->get('/api/v1/me');
  is($r->status, 200, 'Agent plan: session /me 200');
  is_deeply($r->json->{entitlement}{access}, ['api'], 'access shows api only');
  like($r->json->{entitlement}{message} // '', qr/dashboard/, 'message explains the missing dashboard');
  is($c->get('/api/v1/api-keys')->status, 200, 'Agent plan owner can list keys (account context)');
  $r = $c->post('/api/v1/api-keys', json => { name => 'agent key' });
  is($r->status, 201, 'and create one') or diag($r->describe);
  SKIP: {
    skip 'no Required route outside the account context is mounted', 3 unless @ENT;
    my ($m, $path, @o) = @ENT;
    my $e = error_ok($c->request($m => $path, @o), 403, 'ENTITLEMENT_REQUIRED', "Agent plan session on $m $path: 403");
    is($e && $e->{suggested_action}, 'upgrade_plan', 'a session is told to upgrade');
    is($e && $e->{suggested_endpoint}, 'GET /api/v1/entitlements', 'suggested_endpoint');
  }
  my $hum = make_account(plan => $human);
  $c = session_for($hum);
  SKIP: {
    skip 'no Required route outside the account context is mounted', 2 unless @ENT;
    my ($m, $path, @o) = @ENT;
    $r = $c->request($m => $path, @o);
    ok($r->status != 403 && $r->status != 401, "Human plan session on $m $path passes the gate (" . $r->status . ')')
      or diag($r->describe);
    error_ok(api_request($m => $path, key => $hum->{key}, @o), 403, 'ENTITLEMENT_REQUIRED',
             'Human plan API key: 403');
  }
};

# drop the failures this file made (other files sign in from 127.0.0.1 only)
psql('DELETE FROM login_failures WHERE client_ip IN (' . join(',', map { q_($_) } @IPS) . ')') if @IPS;

done_testing;

sub psql_value_row { my @r = psql(@_); return $r[0] }
