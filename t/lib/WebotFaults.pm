package WebotFaults;

# Load from a second process for the fault-injection suite (t/faults/*.ft,
# make test-faults, docs/reliability.md).
#
#   my $load = start_load(base => $url, key => $key, workers => 4,
#                         mix => ['create', 'list', 'me', 'health'],
#                         max_requests => 3000, max_seconds => 60, timeout => 15);
#   ... inject the fault ...
#   my @rec = $load->stop;      # every request: {t, op, status, ms, retry_after,
#                               #   code, job_id, idem, answered}
#   my $s = summarize(\@rec);   # {sent, by_status => {...}, max_ms, ...}
#
# Each worker is a forked child doing one request after the other on new
# connections (LWP, no keep-alive) until it is told to stop, or its count
# or time bound is reached; it writes one line per request to its own file.
# "answered" is false when the client saw no HTTP answer (connection reset,
# timeout: LWP's internal response).

use strict;
use warnings;

use Exporter 'import';
use Carp qw(croak);
use File::Temp ();
use HTTP::Request ();
use LWP::UserAgent ();
use POSIX ();
use Time::HiRes qw(time sleep);
use WebotTest;

our @EXPORT = qw(start_load summarize fmt_summary job_body_ok);

sub job_body_ok {
  my ($title) = @_;
  return { service_option => 'tone_rewrites_copy_polish', title => $title // 'mode=ok',
           intake => { audience => 'fault test', brand_constraints => 'none',
                       tone => 'plain', delivery_format => 'text' } };
}

sub start_load {
  my (%o) = @_;
  my $workers = $o{workers} // 4;
  my $stopfile = File::Temp->new;
  my $self = bless { pids => [], files => [], stop => $stopfile->filename,
                     stopfh => $stopfile }, 'WebotFaults::Load';
  unlink $self->{stop};
  for my $w (0 .. $workers - 1) {
    my $f = File::Temp->new;
    push @{ $self->{files} }, $f;
    my $pid = fork // croak "fork: $!";
    if (!$pid) {
      _worker($w, $f->filename, $self->{stop}, \%o);
      POSIX::_exit(0);
    }
    push @{ $self->{pids} }, $pid;
  }
  return $self;
}

sub _worker {
  my ($w, $out, $stop, $o) = @_;
  srand($$ ^ time);
  open my $fh, '>', $out or POSIX::_exit(1);
  select((select($fh), $| = 1)[0]);
  my $ua = LWP::UserAgent->new(agent => 'webot-faults/1', timeout => $o->{timeout} // 15,
                               max_redirect => 0, keep_alive => 0);
  my $base = $o->{base} // base_url();
  my @mix = @{ $o->{mix} || ['create', 'list', 'me', 'health'] };
  my $max_n = $o->{max_requests} // 2000;
  my $end = time + ($o->{max_seconds} // 60);
  my $n = 0;
  my $pause = $o->{pause} // 0.01;
  while (!-e $stop && $n < $max_n && time < $end) {
    my $op = $mix[($n + $w) % @mix];
    $n++;
    my ($req, $idem);
    if ($op eq 'create') {
      $idem = idem_key();
      $req = HTTP::Request->new(POST => "$base/api/v1/jobs");
      $req->header('Idempotency-Key' => $idem);
      $req->header('Content-Type' => 'application/json');
      $req->content(json_encode(job_body_ok($o->{title})));
    } elsif ($op eq 'list') {
      $req = HTTP::Request->new(GET => "$base/api/v1/jobs?limit=5");
    } elsif ($op eq 'me') {
      $req = HTTP::Request->new(GET => "$base/api/v1/me");
    } elsif ($op eq 'usage') {
      $req = HTTP::Request->new(GET => "$base/api/v1/usage");
    } elsif ($op eq 'catalog') {
      $req = HTTP::Request->new(GET => "$base/api/v1/catalog");
    } else {
      $req = HTTP::Request->new(GET => "$base/api/v1/health");
    }
    $req->header(Authorization => "Bearer $o->{key}") if $o->{key} && $op ne 'health';
    $req->header('Content-Length' => length($req->content // '')) if $req->method eq 'POST';
    my $t0 = time;
    my $res = $ua->request($req);
    my $ms = (time - $t0) * 1000;
    my $answered = ($res->header('Client-Warning') // '') eq 'Internal response' ? 0 : 1;
    my ($code, $job) = ('-', '-');
    if ($answered && ($res->content // '') =~ /^\s*\{/) {
      my $j = eval { json_decode($res->content) };
      if (ref $j eq 'HASH') {
        $code = $j->{error}{code} if ref $j->{error} eq 'HASH' && defined $j->{error}{code};
        $job = $j->{id} if $op eq 'create' && defined $j->{id};
      }
    }
    my $ra = $res->header('Retry-After') // '-';
    printf {$fh} "%.3f %s %s %.1f %s %s %s %s %d\n", $t0, $op, $answered ? $res->code : 0,
      $ms, $ra, $code, $job, $idem // '-', $answered;
    sleep $pause if $pause;
  }
  close $fh;
}

sub summarize {
  my ($rec, %o) = @_;
  my %s = (sent => scalar @$rec, by_status => {}, by_code => {}, max_ms => 0,
           unanswered => 0, created => 0);
  my @ms;
  for my $r (@$rec) {
    $s{by_status}{ $r->{status} }++;
    $s{by_code}{ $r->{code} }++ if $r->{code} ne '-';
    $s{max_ms} = $r->{ms} if $r->{ms} > $s{max_ms};
    $s{unanswered}++ unless $r->{answered};
    $s{created}++ if $r->{op} eq 'create' && $r->{status} == 201;
    push @ms, $r->{ms};
  }
  @ms = sort { $a <=> $b } @ms;
  $s{p50_ms} = @ms ? $ms[int(@ms * 0.5)] : 0;
  $s{p99_ms} = @ms ? $ms[int(@ms * 0.99)] : 0;
  return \%s;
}

sub fmt_summary {
  my ($s) = @_;
  return sprintf "sent %d; by status %s; unanswered %d; 201s %d; p50 %.0f ms, p99 %.0f ms, max %.0f ms",
    $s->{sent}, join(', ', map { "$_: $s->{by_status}{$_}" } sort keys %{ $s->{by_status} }),
    $s->{unanswered}, $s->{created}, $s->{p50_ms}, $s->{p99_ms}, $s->{max_ms};
}

# _parallel_health($base, $n): $n GET /health at once (forked); statuses.
sub _parallel_health {
  my ($base, $n) = @_;
  my @pids;
  pipe(my $r, my $w) or croak "pipe: $!";
  for (1 .. $n) {
    my $pid = fork // croak "fork: $!";
    if (!$pid) {
      close $r;
      my $ua = LWP::UserAgent->new(timeout => 10);
      my $res = $ua->get("$base/api/v1/health");
      syswrite $w, $res->code . "\n";
      POSIX::_exit(0);
    }
    push @pids, $pid;
  }
  close $w;
  my @st = map { chomp; $_ } <$r>;
  waitpid $_, 0 for @pids;
  return @st;
}

package WebotFaults::Load;
use Time::HiRes qw(time sleep);

# stop(): tells the workers to end, waits for them (at most 30 s) and
# returns every request's record in time order.
sub stop {
  my ($s) = @_;
  open my $t, '>', $s->{stop}; close $t;
  my $end = time + 30;
  for my $pid (@{ $s->{pids} }) {
    while (waitpid($pid, POSIX::WNOHANG()) == 0) {
      if (time > $end) { kill 'KILL', $pid; waitpid $pid, 0; last }
      sleep 0.05;
    }
  }
  $s->{pids} = [];
  unlink $s->{stop};
  return $s->records;
}

sub records {
  my ($s) = @_;
  my @rec;
  for my $f (@{ $s->{files} }) {
    open my $fh, '<', $f->filename or next;
    while (<$fh>) {
      chomp;
      my @f = split / /;
      next unless @f == 9;
      push @rec, { t => $f[0], op => $f[1], status => $f[2], ms => $f[3],
                   retry_after => $f[4], code => $f[5], job_id => $f[6], idem => $f[7],
                   answered => $f[8] };
    }
  }
  return sort { $a->{t} <=> $b->{t} } @rec;
}

sub DESTROY { my $s = shift; if (@{ $s->{pids} || [] }) { kill 'KILL', @{ $s->{pids} }; waitpid $_, 0 for @{ $s->{pids} } } }

1;
