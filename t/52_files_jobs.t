# Files on jobs: file_ids must be uploaded files of the same account (422
# naming the first that is not), the job shows them, and the executor's
# brief carries a short-lived signed download URL for each that serves the
# bytes (a worker httpd of its own, t/lib/WebotWorker.pm, in front of an
# executor that records the briefs it gets).
use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use File::Temp ();
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes ();
use WebotTest;
use WebotFiles;
use WebotJobs qw(job_body);
use WebotWorker qw(start_worker_httpd wait_for);

our @CHILDREN;       # forked helpers: never left behind
END { for (@CHILDREN) { kill 'TERM', $_; waitpid $_, 0 } }

my $a = make_account(plan => 'agent_pro');
my $b = make_account(plan => 'agent_pro');

sub upload {
  my ($acct, $bytes, %o) = @_;
  my $c = presign($acct->{key}, content_type => $o{type} // 'text/plain', size_bytes => length $bytes,
                  filename => $o{filename} // 'in.txt')->json;
  my $r = put_upload($c, $bytes);
  die 'upload: ' . $r->describe unless $r->status == 200;
  return $c->{file_id};
}

sub post_job {
  my ($acct, @ids) = @_;
  return api_post('/api/v1/jobs', key => $acct->{key}, headers => { 'Idempotency-Key' => idem_key() },
                  json => job_body(file_ids => \@ids, title => 'with files'));
}

sub jobs_of { psql_value("SELECT count(*) FROM jobs WHERE account_id = '$_[0]{account_id}'") }

my $fa  = upload($a, "alpha file\n");
my $fa2 = upload($a, "second\n");
my $fb  = upload($b, "bravo file\n");
my $fp  = presign($a->{key}, size_bytes => 3)->json->{file_id};                  # pending
my $fx  = presign($a->{key}, size_bytes => 3)->json->{file_id};                  # expired
psql("UPDATE files SET status = 'expired' WHERE id = '$fx'");

subtest 'uploaded files of the account are accepted and shown' => sub {
  my $r = post_job($a, $fa, $fa2);
  is($r->status, 201, '201 Created') or diag($r->describe);
  is_deeply($r->json->{file_ids}, [$fa, $fa2], 'the job shows them, in order');
  my $g = api_get('/api/v1/jobs/' . $r->json->{id}, key => $a->{key});
  is_deeply($g->json->{file_ids}, [$fa, $fa2], 'GET shows them');
  is(post_job($a)->status, 201, 'no files is fine');
};

subtest 'anything else is 422 naming it, and no job is made' => sub {
  my $n = jobs_of($a);
  my @cases = (
    [[$fb], 0, "another account's file"],
    [[$fp], 0, 'a pending file (not uploaded yet)'],
    [[$fx], 0, 'an expired contract'],
    [['file_' . ('a' x 26)], 0, 'an unknown id'],
    [[$fa, $fb], 1, 'the second of two'],
    [[$fa, $fp, $fb], 1, 'the first bad one is named'],
  );
  for my $c (@cases) {
    my ($ids, $i, $name) = @$c;
    my $e = error_ok(post_job($a, @$ids), 422, 'VALIDATION_ERROR', $name);
    is($e && $e->{param}, "file_ids[$i]", "$name: param file_ids[$i]");
    like($e && $e->{message}, qr/\Q$ids->[$i]\E/, "$name: message names the id");
  }
  my $e = error_ok(post_job($a, 'file_../../etc'), 422, 'VALIDATION_ERROR', 'a malformed id');
  like($e->{param} // '', qr/^file_ids/, 'param names file_ids');
  is(jobs_of($a), $n, 'no job was created by any of them');
  # the owner can use its own file; the other account cannot use it
  is(post_job($b, $fb)->status, 201, "$fb works for its own account");
  my $e2 = error_ok(post_job($b, $fa), 422, 'VALIDATION_ERROR', 'and not for another');
  unlike(join(' ', map { $_->{message} } @{ $e2->{details} }), qr/$a->{account_id}/,
         'nothing about the owner is told');
};

# --- the executor's brief -------------------------------------------------------------
# A one-shot-per-connection HTTP server that stores each request body.
sub start_capture {
  my $dir = File::Temp::tempdir(CLEANUP => 1);
  my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 16,
                                  ReuseAddr => 1, Proto => 'tcp') or die "listen: $!";
  my $port = $srv->sockport;
  my $pid = fork // die;
  if (!$pid) {
    # never outlive the test, never hold prove's pipes
    open STDOUT, '>', '/dev/null';
    open STDERR, '>', '/dev/null';
    $SIG{TERM} = $SIG{ALRM} = sub { POSIX::_exit(0) };
    alarm 120;
    my $n = 0;
    while (my $c = $srv->accept) {
      binmode $c;
      my $buf = '';
      while (index($buf, "\r\n\r\n") < 0) { my $r = sysread($c, $buf, 65536, length $buf) or last }
      my ($head, $body) = split /\r\n\r\n/, $buf, 2;
      my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
      $body //= '';
      while (defined $len && length($body) < $len) { my $r = sysread($c, $body, $len - length $body, length $body) or last }
      open my $fh, '>', "$dir/brief." . ++$n or die; print {$fh} $body; close $fh;
      my $resp = '{"deliverable":{"summary":"read","text":"done","files":[]},"review_required":false}';
      print {$c} "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        . length($resp) . "\r\nConnection: close\r\n\r\n$resp";
      close $c;
    }
    POSIX::_exit(0);
  }
  close $srv;
  push @CHILDREN, $pid;
  return { pid => $pid, port => $port, dir => $dir };
}


subtest 'the executor gets a signed download URL per file' => sub {
  my $bytes = join '', map { chr(($_ * 13) % 256) } 0 .. 65_535;
  my $f1 = upload($a, $bytes, type => 'application/pdf', filename => "Brief \x{2014} final.pdf");
  my $f2 = upload($a, "two\n");
  my $cap = start_capture();
  my $T = $ENV{WEBOT_TEST_DIR};
  # the worker httpd's configuration names it
  mkdir "$T/core" and system('chown', 'www-data:www-data', "$T/core") unless -d "$T/core";
  my $h = start_worker_httpd(name => 'files', executor => "http://127.0.0.1:$cap->{port}/execute",
    extra => "WebotFileStore \"$T/files\"\nWebotFileBaseURL " . base_url() . "/api/v1");
  my $r = post_job($a, $f1, $f2);
  is($r->status, 201, 'job with two files') or diag($r->describe);
  my $job_id = $r->json && $r->json->{id};
  # other queued jobs of the database reach this executor too: find ours
  my $brief;
  my $find = sub {
    for my $f (glob "$cap->{dir}/brief.*") {
      my $j = eval { json_decode(do { local $/; open my $fh, '<', $f or return; <$fh> }) };
      return $brief = $j if ref $j eq 'HASH' && ($j->{id} // '') eq ($job_id // '-');
    }
    return;
  };
  ok(wait_for($find, 60), 'the executor got the brief of the job');
  $h->stop;
  ok(ref $brief eq 'HASH', 'brief is JSON') or return;
  my $files = $brief->{files};
  is(ref $files eq 'ARRAY' ? scalar @$files : -1, 2, 'two files in the brief') or diag(explain $brief);
  my ($b1, $b2) = @$files;
  is($b1->{file_id}, $f1, 'first file id');
  is($b1->{filename}, "Brief \x{2014} final.pdf", 'filename');
  is($b1->{content_type}, 'application/pdf', 'content_type');
  is($b1->{size_bytes}, length $bytes, 'size');
  is($b1->{sha256}, sha256_hex($bytes), 'sha256');
  like($b1->{url}, qr{^\Q@{[base_url()]}\E/api/v1/files/download/$f1\?expires=(\d+)&sig=[A-Za-z0-9_-]{43}$},
       'a signed download URL of the local store');
  my ($exp) = $b1->{url} =~ /expires=(\d+)/;
  ok($exp > time && $exp < time + 2 * 3600, 'short-lived');
  like($b1->{expires_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'expires_at');
  my $g = api_get($b1->{url});
  is($g->status, 200, 'the URL serves') or diag($g->describe);
  ok($g->content eq $bytes, 'the bytes of the upload');
  is(sha256_hex(api_get($b2->{url})->content), sha256_hex("two\n"), 'second file too');
  error_ok(api_get($b1->{url} =~ s/sig=(.)/'sig=' . ($1 eq 'A' ? 'B' : 'A')/er), 403, 'FORBIDDEN',
           'a tampered URL does not');
  error_ok(api_get($b1->{url} =~ s/$f1/$f2/r), 403, 'FORBIDDEN', "one file's URL does not open another");
  unlike(json_encode($brief), qr/\Q$ENV{WEBOT_TEST_DIR}\E/, 'no store paths in the brief');
};

done_testing;
