#!/usr/bin/perl
# executor_standin.pl: an executor for the worker's tests and benchmark.
# A small HTTP/1.1 server on 127.0.0.1 (keep-alive, one process per
# connection) that checks X-Webot-Signature and answers each brief as its
# job's title (or intake.mode) asks:
#
#   mode=ok (default)   200 {"deliverable":{...},"review_required":false}
#   mode=review         200 with review_required true
#   mode=fail4xx        422
#   mode=fail5xx        503 every time
#   mode=flaky:N        503 for attempts 1..N, then 200
#   mode=slow:S         sleeps S seconds (fractions allowed), then 200
#   mode=hang           sleeps until the caller goes away (or 600 s)
#   mode=badjson        200 with a body that is not JSON
#   mode=big            200 with a 3 MB body
#
# A bad or missing signature is answered 401. Every call is appended to the
# log file (O_APPEND, one line each, so counts are exact across processes):
#   start <time> <job_id> <attempt> <mode> sig=<ok|bad> rev=<n> notes=<b64>
#         files=<n> url=<first file's download URL or ->
#   done  <time> <job_id> <attempt> <status>
#   abort <time> <job_id> <attempt>         (the caller closed first)
#
# Usage: executor_standin.pl --secret-file F --log F [--port N] [--pidfile F]
#        [--quiet]
# Prints "PORT <n>" on stdout once listening (port 0 = any free port).
use strict;
use warnings;

use Digest::SHA qw(hmac_sha256_hex);
use Getopt::Long;
use IO::Select;
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64);
use POSIX ();
use Time::HiRes qw(time sleep);

my ($port, $secret_file, $log, $pidfile, $quiet) = (0);
GetOptions('port=i' => \$port, 'secret-file=s' => \$secret_file,
           'log=s' => \$log, 'pidfile=s' => \$pidfile, 'quiet' => \$quiet)
  or die "usage: $0 --secret-file F --log F [--port N]\n";
die "--secret-file and --log are required\n" unless $secret_file && $log;

open my $sf, '<', $secret_file or die "$secret_file: $!\n";
my $secret = do { local $/; <$sf> };
$secret =~ s/\s+\z//;
close $sf;

my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
  Listen => 128, ReuseAddr => 1, Proto => 'tcp') or die "listen: $!\n";
$port = $srv->sockport;
if ($pidfile) { open my $p, '>', $pidfile or die; print {$p} "$$\n"; close $p }
$| = 1;
print "PORT $port\n";
$SIG{CHLD} = 'IGNORE';
$SIG{PIPE} = 'IGNORE';
$SIG{TERM} = sub { exit 0 };

open my $logfh, '>>', $log or die "$log: $!\n";
sub logline {
  my ($line) = @_;
  # one write per line: atomic with O_APPEND
  syswrite $logfh, sprintf("%s\n", $line);
}

while (1) {
  my $c = $srv->accept or next;
  my $pid = fork;
  if (!defined $pid) { close $c; next }
  if ($pid) { close $c; next }
  close $srv;
  serve($c);
  POSIX::_exit(0);
}

sub serve {
  my ($c) = @_;
  my $buf = '';
  while (1) {
    # headers
    while ($buf !~ /\r\n\r\n/) {
      my $n = sysread $c, $buf, 65536, length $buf;
      return unless $n;
    }
    my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
    my ($reqline, @h) = split /\r\n/, $head;
    my %h;
    for (@h) { my ($k, $v) = split /:\s*/, $_, 2; $h{lc $k} = $v // '' }
    my $len = $h{'content-length'} // 0;
    while (length $rest < $len) {
      my $n = sysread $c, $rest, 65536, length $rest;
      return unless $n;
    }
    my $body = substr $rest, 0, $len;
    $buf = substr $rest, $len;
    handle($c, \%h, $body) or return;
  }
}

sub json_str {
  my ($body, $key) = @_;
  return undef unless $body =~ /"\Q$key\E":"((?:[^"\\]|\\.)*)"/;
  my $s = $1;
  my %esc = (n => "\n", t => "\t", r => "\r", b => "\b", f => "\f");
  $s =~ s{\\(?:u([0-9a-fA-F]{4})|(.))}{defined $1 ? chr(hex $1) : ($esc{$2} // $2)}ge;
  utf8::encode($s);
  return $s;
}

sub reply {
  my ($c, $status, $text, $body) = @_;
  my $resp = "HTTP/1.1 $status $text\r\nContent-Type: application/json\r\n"
    . "Content-Length: " . length($body) . "\r\nConnection: keep-alive\r\n\r\n$body";
  my $off = 0;
  while ($off < length $resp) {
    my $n = syswrite $c, $resp, length($resp) - $off, $off;
    return 0 unless $n;
    $off += $n;
  }
  return 1;
}

# Sleeps up to $secs; returns 0 early when the caller closed the connection.
sub wait_or_gone {
  my ($c, $secs) = @_;
  my $sel = IO::Select->new($c);
  my $end = time + $secs;
  while ((my $left = $end - time) > 0) {
    if ($sel->can_read($left > 0.2 ? 0.2 : $left)) {
      my $n = sysread $c, my $x, 1, 0;
      return 0 unless $n;       # EOF: gone
    }
  }
  return 1;
}

sub handle {
  my ($c, $h, $body) = @_;
  my $sig = $h->{'x-webot-signature'} // '';
  my ($t) = $sig =~ /(?:^|,)t=(\d+)/;
  my @v1 = $sig =~ /(?:^|,)v1=([0-9a-f]+)/g;
  my $want = defined $t ? hmac_sha256_hex("$t.$body", $secret) : '';
  my $sig_ok = defined $t && abs(time - $t) <= 300 && grep { $_ eq $want } @v1;
  my $id = json_str($body, 'id') // '-';
  my $title = json_str($body, 'title') // '';
  my ($attempt) = $body =~ /"attempt":(\d+)/;
  $attempt //= 0;
  my $mode = 'ok';
  if ($title =~ /\bmode=([a-z0-9]+(?::[0-9.]+)?)/) { $mode = $1 }
  elsif ($body =~ /"mode":"([a-z0-9]+(?::[0-9.]+)?)"/) { $mode = $1 }
  my ($rev) = $body =~ /"revision":\{"number":(\d+)/;
  my $notes = json_str($body, 'notes') // '';
  my ($files) = $body =~ /"files":\[(.*?)\]/;
  my $nfiles = () = ($files // '') =~ /"file_id"/g;
  my $url = $files ? json_str($files, 'url') // '-' : '-';
  logline(sprintf 'start %.3f %s %d %s sig=%s rev=%d notes=%s files=%d url=%s', time, $id,
    $attempt, $mode, $sig_ok ? 'ok' : 'bad', $rev // 0, encode_base64($notes, ''), $nfiles, $url);
  my ($status, $text, $out) = (200, 'OK', '');
  my ($name, $arg) = split /:/, $mode, 2;
  if (!$sig_ok) {
    ($status, $text, $out) = (401, 'Unauthorized', '{"error":"bad signature"}');
  } elsif ($name eq 'fail4xx') {
    ($status, $text, $out) = (422, 'Unprocessable Entity', '{"error":"cannot do this job"}');
  } elsif ($name eq 'fail5xx' || ($name eq 'flaky' && $attempt <= ($arg // 1))) {
    ($status, $text, $out) = (503, 'Service Unavailable', '{"error":"busy"}');
  } elsif ($name eq 'badjson') {
    $out = 'this is not json';
  } elsif ($name eq 'big') {
    $out = '{"deliverable":{"summary":"big","text":"' . ('x' x (3 * 1024 * 1024)) . '"}}';
  } else {
    if ($name eq 'slow' || $name eq 'hang') {
      if (!wait_or_gone($c, $name eq 'hang' ? 600 : ($arg // 1))) {
        logline(sprintf 'abort %.3f %s %d', time, $id, $attempt);
        return 0;
      }
    }
    my $rr = $name eq 'review' ? 'true' : 'false';
    $out = '{"deliverable":{"summary":"Done: ' . $id . '","text":"Deliverable of ' . $id
      . ' (revision ' . ($rev // 0) . ')","files":[{"name":"result.txt","url":'
      . '"https://files.example.test/' . $id . '/result.txt","content_type":"text/plain"}]},'
      . '"review_required":' . $rr . '}';
  }
  my $ok = reply($c, $status, $text, $out);
  logline(sprintf 'done %.3f %s %d %d', time, $id, $attempt, $status) if $ok;
  return $ok;
}
