#!/usr/bin/perl
# executor-example.cgi: a minimal mod_webot executor (docs/worker.md).
#
# mod_webot POSTs a JSON brief of a job signed with
#   X-Webot-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "t.body")>
# This CGI checks the signature and the clock, then answers a deliverable.
# Perl core modules only. The secret is read from the file named by the
# environment variable WEBOT_EXECUTOR_SECRET_FILE (the same file as
# mod_webot's WebotExecutorSecretFile).
#
# Answers: 200 {"deliverable":{...},"review_required":false}; 401 for a bad
# signature (a 4xx is final: the job goes to staff); 405/415/400 for
# requests that are not a brief. Anything 5xx would be retried by the worker.
use strict;
use warnings;
use Digest::SHA qw(hmac_sha256_hex);
use JSON::PP ();

my $TOLERANCE = 300;    # seconds between the signature's t and our clock

sub answer {
  my ($status, $data) = @_;
  my $body = JSON::PP->new->utf8->canonical->encode($data);
  print "Status: $status\r\nContent-Type: application/json\r\n",
        "Content-Length: ", length($body), "\r\n\r\n", $body;
  exit 0;
}

# constant-time comparison of two strings of hex
sub same {
  my ($a, $b) = @_;
  return 0 unless length $a == length $b;
  my $d = 0;
  $d |= ord(substr $a, $_, 1) ^ ord(substr $b, $_, 1) for 0 .. length($a) - 1;
  return $d == 0;
}

answer('405 Method Not Allowed', { error => 'POST only' })
  unless ($ENV{REQUEST_METHOD} // '') eq 'POST';
answer('415 Unsupported Media Type', { error => 'JSON only' })
  unless ($ENV{CONTENT_TYPE} // '') =~ m{^application/json\b}i;

my $file = $ENV{WEBOT_EXECUTOR_SECRET_FILE}
  or answer('500 Internal Server Error', { error => 'no secret configured' });
open my $fh, '<', $file or answer('500 Internal Server Error', { error => 'secret unreadable' });
my $secret = do { local $/; <$fh> };
close $fh;
$secret =~ s/\s+\z//;

my $len = $ENV{CONTENT_LENGTH} // 0;
answer('413 Payload Too Large', { error => 'brief too large' }) if $len > 1_048_576;
binmode STDIN;
my $body = '';
while (length $body < $len) {
  my $n = read STDIN, $body, $len - length $body, length $body;
  last unless $n;
}

# X-Webot-Signature: t=...,v1=...[,v1=...]
my $header = $ENV{HTTP_X_WEBOT_SIGNATURE} // '';
my ($t) = $header =~ /(?:^|,)\s*t=(\d+)(?:,|$)/;
my @v1 = $header =~ /(?:^|,)\s*v1=([0-9a-fA-F]{64})/g;
my $ok = 0;
if (defined $t && abs(time - $t) <= $TOLERANCE) {
  my $want = hmac_sha256_hex("$t.$body", $secret);
  for (@v1) { $ok = 1 if same(lc $_, $want) }
}
answer('401 Unauthorized', { error => 'bad or missing X-Webot-Signature' }) unless $ok;

my $brief = eval { JSON::PP->new->utf8->decode($body) };
answer('400 Bad Request', { error => 'the brief is not JSON' }) unless ref $brief eq 'HASH';

# The work itself. A real executor would do something useful with the
# intake (and download $brief->{files}[*]{url} within their expiry).
my $intake = $brief->{intake} || {};
my $rev = $brief->{revision} || {};
my $text = join "\n",
  "Job $brief->{id} ($brief->{service_option}), attempt $brief->{attempt}.",
  ($rev->{number} ? "Revision $rev->{number}: $rev->{notes}" : ()),
  map({ "$_: $intake->{$_}" } sort keys %$intake);

answer('200 OK', {
  deliverable => {
    summary => 'Draft for ' . ($brief->{title} // $brief->{id}),
    text    => $text,
    files   => [],
  },
  review_required => JSON::PP::false,
});
