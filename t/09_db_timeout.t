# WebotDBStatementTimeout: a statement stuck behind a lock (here: another
# session holds an ACCESS EXCLUSIVE lock on api_keys, as a careless
# migration would) is canceled after the timeout (5 s in the test
# configuration) and the request answers 503 SERVICE_UNAVAILABLE with
# Retry-After, instead of holding its thread for as long as the lock lasts;
# routes without the database keep answering, parallel requests too within
# twice the timeout; once the lock is gone the same key works again.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use WebotTest;

my $acct = make_account(plan => 'agent_pro');
is(api_get('/api/v1/me', key => $acct->{key})->status, 200, 'the key works');

my $pid = hold_table_lock('api_keys', 60);
ok(table_lock_held('api_keys'), 'another session holds an ACCESS EXCLUSIVE lock on api_keys');

my $t0 = time;
my $r = api_get('/api/v1/me', key => $acct->{key});
my $took = time - $t0;
error_ok($r, 503, 'SERVICE_UNAVAILABLE', 'GET /me behind the lock: 503');
ok(($r->header('Retry-After') // '') =~ /^\d+$/, 'with Retry-After');
cmp_ok($took, '>=', 4.5, sprintf('answered at the statement timeout (%.1f s), not before', $took));
cmp_ok($took, '<', 15, 'and long before the lock goes (60 s)');
is(api_get('/api/v1/catalog')->status, 200, 'the catalog (no database) answers meanwhile');

# Several at once: key lookups queued behind a running one (batched, see
# docs/authentication.md) wait for it and then for their own statement, so
# each answers 503 within twice the timeout, never later.
my @par = in_parallel(8, sub {
  my $t = time;
  my $x = api_get('/api/v1/me', key => $acct->{key});
  return sprintf '%d %s %.1f', $x->status, ($x->json && $x->json->{error} ? $x->json->{error}{code} : '-'), time - $t;
});
is(scalar(grep { /^503 SERVICE_UNAVAILABLE / } @par), 8, '8 parallel GET /me behind the lock: all 503')
  or diag("@par");
my @secs = map { (split ' ')[2] } @par;
cmp_ok((sort { $a <=> $b } @secs)[0], '>=', 4.5, 'none before the statement timeout');
cmp_ok((sort { $b <=> $a } @secs)[0], '<', 13, 'none later than twice the timeout (and a margin): ' . join(' ', sort { $a <=> $b } @secs));

release_table_lock('api_keys');
waitpid $pid, 0;
ok(!table_lock_held('api_keys'), 'the lock is gone');
my @after = map { api_get('/api/v1/me', key => $acct->{key})->status } 1 .. 10;
is_deeply(\@after, [ (200) x 10 ], 'then GET /me answers 200 again, on every pooled connection');

done_testing;
