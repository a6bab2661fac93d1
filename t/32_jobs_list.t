# GET /api/v1/jobs: newest first, keyset pages, filters, bad query values,
# cursors that are forged, altered, foreign or for other filters (400), and
# paging while other requests create jobs (every job exactly once).
use strict;
use warnings;
use Test::More;
use WebotTest;
use WebotJobs;
use Time::HiRes qw(sleep);

my $acct = jobs_account(grant => { '--monthly-jobs' => 1000, '--max-active-jobs' => 1000 });
my $key = $acct->{key};

sub list { api_get('/api/v1/jobs' . (defined $_[0] ? "?$_[0]" : ''), key => $key) }

my $r = list();
is($r->status, 200, 'empty list');
is_deeply($r->json, { data => [], has_more => JSON::PP::false(), next_cursor => undef },
          'empty: {data: [], has_more: false, next_cursor: null}');

my @ids;
for my $i (1 .. 25) {
  my $opt = $i % 5 == 0 ? 'launch_announcement_copy' : 'tone_rewrites_copy_polish';
  push @ids, create_job($key, body => job_body(title => "job $i", service_option => $opt))->json->{id};
}
# move some along
worker_move($ids[0], 'accepted');
worker_move($ids[1], 'accepted', 'running');
my @newest_first = reverse @ids;

$r = list();
is($r->status, 200, 'GET /jobs');
is(scalar @{ $r->json->{data} }, 20, 'default limit 20');
ok($r->json->{has_more}, 'has_more');
ok(defined $r->json->{next_cursor}, 'next_cursor');
is_deeply([map { $_->{id} } @{ $r->json->{data} }], [@newest_first[0 .. 19]], 'newest first');
is_deeply($r->json->{data}[0], api_get("/api/v1/jobs/$newest_first[0]", key => $key)->json,
          'list items are job objects');

my $r2 = list('cursor=' . $r->json->{next_cursor});
is($r2->status, 200, 'second page');
is_deeply([map { $_->{id} } @{ $r2->json->{data} }], [@newest_first[20 .. 24]], 'the rest');
ok(!$r2->json->{has_more}, 'no more');
ok(!defined $r2->json->{next_cursor}, 'next_cursor null');

# walk with limit 7
my (@seen, $cursor, $pages);
do {
  my $p = list('limit=7' . ($cursor ? "&cursor=$cursor" : ''));
  is($p->status, 200, 'page ' . ++$pages) or last;
  push @seen, map { $_->{id} } @{ $p->json->{data} };
  $cursor = $p->json->{next_cursor};
} while ($cursor && $pages < 10);
is($pages, 4, '25 jobs in pages of 7: 4 pages');
is_deeply(\@seen, \@newest_first, 'every job once, in order');

# --- filters ---------------------------------------------------------------------
$r = list('status=accepted,running');
is_deeply([sort map { $_->{id} } @{ $r->json->{data} }], [sort @ids[0, 1]], 'status=accepted,running');
$r = list('status=running');
is_deeply([map { $_->{id} } @{ $r->json->{data} }], [$ids[1]], 'status=running');
$r = list('status=queued&limit=100');
is(scalar @{ $r->json->{data} }, 23, 'status=queued: 23');
$r = list('service_option=launch_announcement_copy');
is_deeply([map { $_->{id} } @{ $r->json->{data} }], [grep { defined } @newest_first[0, 5, 10, 15, 20]],
          'service_option filter');
$r = list('service_option=launch_announcement_copy&limit=2');
my $c = $r->json->{next_cursor};
$r = list("service_option=launch_announcement_copy&limit=2&cursor=$c");
is(scalar @{ $r->json->{data} }, 2, 'filtered second page');
is($r->json->{data}[0]{id}, $newest_first[10], 'continues the filtered list');

my $mid = psql_value("SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM jobs WHERE id = '$ids[9]'");
$r = list("created_after=$mid&limit=100");
is_deeply([map { $_->{id} } @{ $r->json->{data} }], [reverse @ids[10 .. 24]], 'created_after (strictly after)');
$r = list("created_before=$mid&limit=100");
is_deeply([map { $_->{id} } @{ $r->json->{data} }], [reverse @ids[0 .. 8]], 'created_before (strictly before)');
$r = list("created_before=$mid&limit=4");
$r = list("created_before=$mid&limit=4&cursor=" . $r->json->{next_cursor});
is_deeply([map { $_->{id} } @{ $r->json->{data} }], [reverse @ids[1 .. 4]], 'created_before with a cursor');
$r = list('created_after=2000-01-01T00:00:00%2B02:00&limit=1');
is($r->status, 200, 'created_after with an offset');

# --- bad values ----------------------------------------------------------------------
for my $q ('status=done', 'status=', 'status=queued,,nope', 'limit=0', 'limit=101', 'limit=abc',
           'limit=5x', 'created_after=yesterday', 'created_before=2026-13-01T00:00:00Z',
           'service_option=nope', 'cursor=abc', 'cursor=') {
  my $e = error_ok(list($q), 400, 'BAD_REQUEST', "$q: 400");
  my ($p) = $q =~ /^([a-z_]+)=/;
  is($e->{param}, $p, "param $p");
}

# --- cursor tampering --------------------------------------------------------------------
my $good = list('limit=3')->json->{next_cursor};
my ($payload, $mac) = split /\./, $good;
my $flip = sub { my ($s, $i) = @_; my $ch = substr($s, $i, 1); substr($s, $i, 1) = $ch eq 'A' ? 'B' : 'A'; $s };
error_ok(list('limit=3&cursor=' . $flip->($payload, 5) . ".$mac"), 400, 'BAD_REQUEST', 'altered payload: 400');
error_ok(list("limit=3&cursor=$payload." . $flip->($mac, 3)), 400, 'BAD_REQUEST', 'altered MAC: 400');
error_ok(list("limit=3&cursor=$payload"), 400, 'BAD_REQUEST', 'MAC missing: 400');
# a forged cursor of our own making: right format, wrong key
require MIME::Base64;
require Digest::SHA;
my $forged_payload = MIME::Base64::encode_base64url("c1|2099-01-01T00:00:00.000000Z|job_zzzz");
my $forged_mac = MIME::Base64::encode_base64url(substr(Digest::SHA::hmac_sha256("x", "guess"), 0, 16));
error_ok(list("cursor=$forged_payload.$forged_mac"), 400, 'BAD_REQUEST', 'forged cursor: 400');
error_ok(list("status=queued&limit=3&cursor=$good"), 400, 'BAD_REQUEST', 'cursor of other filters: 400');
my $other = jobs_account();
create_job($other->{key}) for 1 .. 3;
my $foreign = api_get('/api/v1/jobs?limit=1', key => $other->{key})->json->{next_cursor};
ok($foreign, 'the other account has a cursor too');
error_ok(list("limit=1&cursor=$foreign"), 400, 'BAD_REQUEST', "another account's cursor: 400");
is(list("limit=5&cursor=$good")->status, 200, 'a cursor works with another limit');

# --- the other account's jobs never show -----------------------------------------------
my $all = list('limit=100')->json->{data};
is(scalar @$all, 25, 'only our 25 jobs');

# --- paging while jobs are created ----------------------------------------------------------
{
  my %before = map { $_ => 1 } @ids;
  my $pid = fork // die "fork: $!";
  if (!$pid) {
    for (1 .. 30) { create_job($key); sleep 0.02 }
    POSIX::_exit(0);
  }
  my (@got, $cur, $n);
  sleep 0.1;
  do {
    my $p = list('limit=3' . ($cur ? "&cursor=$cur" : ''));
    last unless $p->status == 200;
    push @got, map { $_->{id} } @{ $p->json->{data} };
    $cur = $p->json->{next_cursor};
    sleep 0.03;
  } while ($cur && ++$n < 100);
  waitpid $pid, 0;
  my %count;
  $count{$_}++ for @got;
  is(scalar(grep { $count{$_} > 1 } keys %count), 0, 'no job twice while others are created');
  is(scalar(grep { !$count{$_} } keys %before), 0, 'every job that existed at the start was seen');
  my @times = map { $_ } @got;
  ok(scalar(@got) >= 25, 'at least the 25 older jobs');
}

done_testing;
