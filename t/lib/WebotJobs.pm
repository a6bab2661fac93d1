package WebotJobs;

# Helpers of the jobs API tests (t/30_jobs*.t):
#
#   my $acct = jobs_account(grant => {'--monthly-jobs' => 5});
#   my $r = create_job($acct->{key}, body => job_body(title => 'x'));
#   worker_move($job_id, 'accepted', 'running', 'ready_for_customer_review');
#   my $s = sse_open("/api/v1/jobs/$id/events", key => $key);
#   my $ev = sse_next($s, 5);   # {id, event, data} or {comment} or undef
#
# (in_parallel, for requests at once, is in WebotTest.)

use strict;
use warnings;

use Exporter 'import';
use Carp qw(croak);
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes qw(time sleep);

use WebotTest;

our @EXPORT = qw(
  job_body jobs_account create_job worker_move job_row
  sse_open sse_next sse_close sse_read_all
);

# A valid create body of the catalog's first family (conf/catalog.json).
sub job_body {
  my (%o) = @_;
  my $b = {
    service_option => 'tone_rewrites_copy_polish',
    title => 'Spring launch email',
    intake => {
      audience => 'Existing customers, spring sale',
      brand_constraints => 'No exclamation marks',
      tone => 'Warm, confident',
      delivery_format => 'Plain text email',
    },
    metadata => { crm_id => '123' },
  };
  for my $k (keys %o) {
    if (defined $o{$k}) { $b->{$k} = $o{$k} } else { delete $b->{$k} }
  }
  return $b;
}

# An account with the both_team plan (api + dashboard) and a key.
sub jobs_account {
  my (%o) = @_;
  return make_account(plan => $o{plan} // 'both_team', %o);
}

sub create_job {
  my ($key, %o) = @_;
  my %h = (%{ $o{headers} || {} });
  $h{'Idempotency-Key'} = $o{idem} // idem_key() unless exists $o{idem} && !defined $o{idem};
  return api_post('/api/v1/jobs', json => $o{body} // job_body(), key => $key,
                  headers => \%h);
}

# The job's row as a hash (psql), for checks of what was stored.
sub job_row {
  my ($id) = @_;
  my $row = psql_value("SELECT row_to_json(j)::text FROM jobs j WHERE id = '$id'");
  return defined $row && length $row ? json_decode($row) : undef;
}

# Moves a job through statuses as the worker would: each step a guarded
# UPDATE with its event (seq without gaps) and NOTIFY webot_job_events.
sub worker_move {
  my ($id, @to) = @_;
  my %from = (accepted => 'queued', running => 'accepted',
              needs_review => 'running', ready_for_customer_review => undef,
              rejected => undef);
  for my $st (@to) {
    my $guard = $st eq 'ready_for_customer_review' ? "status IN ('running','needs_review')"
              : $st eq 'rejected' ? "status IN ('queued','needs_review')"
              : "status = '$from{$st}'";
    my $deliv = $st eq 'ready_for_customer_review'
      ? q{, deliverable = '{"summary":"Done","text":"Hello","files":[]}'} : '';
    my $n = psql_value(<<SQL);
WITH m AS (UPDATE jobs SET status = '$st', event_seq = event_seq + 1,
             updated_at = clock_timestamp() $deliv
           WHERE id = '$id' AND $guard RETURNING id, account_id, event_seq),
     e AS (INSERT INTO job_events (id, job_id, account_id, seq, type, status, message)
           SELECT 'evt_' || md5(random()::text), id, account_id, event_seq,
                  'job.$st', '$st', 'Moved to $st.' FROM m)
SELECT count(*), (SELECT pg_notify('webot_job_events', id) FROM m) FROM m;
SQL
    croak "worker_move $id -> $st did not match" unless $n;
  }
}

# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Server-Sent Events over a raw socket (so the test sees each event as it
# is flushed, and can drop the connection at will).

sub sse_open {
  my ($path, %o) = @_;
  my ($host, $port) = base_url() =~ m{^http://([^:/]+):(\d+)} or croak 'base url';
  my $sock = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                   Proto => 'tcp', Timeout => 5)
    or croak "connect: $!";
  my %h = (Host => "$host:$port", Accept => 'text/event-stream',
           ($o{key} ? (Authorization => "Bearer $o{key}") : ()),
           %{ $o{headers} || {} });
  my $req = "GET $path HTTP/1.1\r\n"
          . join('', map { "$_: $h{$_}\r\n" } sort keys %h) . "\r\n";
  print {$sock} $req;
  my $s = { sock => $sock, buf => '', sel => IO::Select->new($sock) };
  # the head
  my $deadline = time + ($o{timeout} // 10);
  while ($s->{buf} !~ /\r\n\r\n/) {
    last unless _fill($s, $deadline);
  }
  my ($head, $rest) = split /\r\n\r\n/, $s->{buf}, 2;
  $s->{buf} = $rest // '';
  my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
  $s->{status} = $status // 0;
  $s->{head} = $head // '';
  my %hdr;
  for my $l (split /\r\n/, $head // '') {
    $hdr{lc $1} = $2 if $l =~ /^([^:]+):\s*(.*)$/;
  }
  $s->{headers} = \%hdr;
  $s->{chunked} = ($hdr{'transfer-encoding'} // '') =~ /chunked/i;
  $s->{raw} = '';
  return $s;
}

# Reads more bytes into buf; 0 at EOF or timeout.
sub _fill {
  my ($s, $deadline) = @_;
  my $left = $deadline - time;
  return 0 if $left <= 0;
  return 0 unless $s->{sel}->can_read($left);
  my $n = sysread($s->{sock}, my $chunk, 65536);
  if (!$n) { $s->{eof} = 1; return 0 }
  $s->{buf} .= $chunk;
  return 1;
}

# De-chunks what arrived into $s->{raw}; true while the body goes on.
sub _dechunk {
  my ($s) = @_;
  if (!$s->{chunked}) { $s->{raw} .= $s->{buf}; $s->{buf} = ''; return 1 }
  while ($s->{buf} =~ /^([0-9a-fA-F]+)[^\r\n]*\r\n/) {
    my $len = hex $1;
    my $hl = length($&);
    if ($len == 0) { $s->{done} = 1; $s->{buf} = ''; return 0 }
    last if length($s->{buf}) < $hl + $len + 2;
    $s->{raw} .= substr($s->{buf}, $hl, $len);
    substr($s->{buf}, 0, $hl + $len + 2) = '';
  }
  return 1;
}

# The next event ({id, event, data, json}) or comment ({comment}) within
# $timeout seconds; undef at the end of the stream or on timeout ($s->{done}
# tells which).
sub sse_next {
  my ($s, $timeout) = @_;
  my $deadline = time + ($timeout // 5);
  for (;;) {
    _dechunk($s);
    if ($s->{raw} =~ s/^(.*?)\n\n//s) {
      my $block = $1;
      my %ev;
      for my $l (split /\n/, $block) {
        if ($l =~ /^:\s?(.*)$/) { $ev{comment} = $1; next }
        my ($k, $v) = $l =~ /^([^:]+):\s?(.*)$/ or next;
        $ev{$k} = exists $ev{$k} && $k eq 'data' ? "$ev{$k}\n$v" : $v;
      }
      $ev{json} = eval { json_decode($ev{data}) } if defined $ev{data};
      return \%ev;
    }
    return undef if $s->{done} || $s->{eof};
    return undef unless _fill($s, $deadline);
  }
}

# Every event until the end of the stream or $timeout; comments skipped
# unless $keep_comments.
sub sse_read_all {
  my ($s, $timeout, $keep_comments) = @_;
  my $deadline = time + $timeout;
  my @ev;
  while (time < $deadline) {
    my $e = sse_next($s, $deadline - time) or last;
    next if exists $e->{comment} && !$keep_comments;
    push @ev, $e;
  }
  return @ev;
}

sub sse_close {
  my ($s) = @_;
  close $s->{sock} if $s->{sock};
  $s->{sock} = undef;
}

1;
