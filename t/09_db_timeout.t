# WebotDBStatementTimeout: a statement stuck behind a lock (here: another
# session holds an ACCESS EXCLUSIVE lock on api_keys, as a careless
# migration would) is canceled after the timeout (5 s in the test
# configuration) and the request answers 503 SERVICE_UNAVAILABLE with
# Retry-After, instead of holding its thread for as long as the lock lasts;
# routes without the database keep answering; once the lock is gone the
# same key works again.
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

release_table_lock('api_keys');
waitpid $pid, 0;
ok(!table_lock_held('api_keys'), 'the lock is gone');
my @after = map { api_get('/api/v1/me', key => $acct->{key})->status } 1 .. 10;
is_deeply(\@after, [ (200) x 10 ], 'then GET /me answers 200 again, on every pooled connection');

done_testing;
