package WebotFiles;

# Helpers of the files tests (t/50_files*.t), beside WebotTest.pm:
#
#   my $c = presign($key, size_bytes => 5, content_type => 'text/plain');
#                                        # WebotTest::Response of the presign
#   my $r = put_upload($c->json, $bytes);  # PUT to the contract's URL with
#                                        # its headers (override: type => ...)
#   my $res = raw_request($url, method => 'PUT', headers => [...],
#                         body => $bytes, chunks => [...], close_after => 1);
#                                        # one request on a raw socket
#   local_url('GET', $id, $expires, $type, $size)
#                                        # a URL signed like the server does
#   store_dir(); store_entries();        # the local store of the test httpd
#   file_row($id)                        # the files row as a hash

use strict;
use warnings;

use Exporter 'import';
use Carp qw(croak);
use Digest::SHA qw(hmac_sha256 sha256_hex);
use IO::Socket::INET ();
use IO::Select ();
use MIME::Base64 ();
use JSON::PP ();
use Time::HiRes ();
use URI ();
use WebotTest qw(api_post api_request base_url psql);

our @EXPORT = qw(presign put_upload raw_request local_url store_dir
  store_entries file_row secret sign_local);

sub presign {
  my ($key, %b) = @_;
  my %body = (filename => 'notes.txt', content_type => 'text/plain',
              size_bytes => 5, purpose => 'job_input', %b);
  delete $body{$_} for grep { !defined $body{$_} } keys %body;
  return api_post('/api/v1/files/presign', json => \%body, key => $key);
}

# PUT the bytes to a contract's URL with the headers it names (type =>
# overrides Content-Type, headers => {...} adds).
sub put_upload {
  my ($contract, $bytes, %o) = @_;
  my %h = (%{ $contract->{upload}{headers} }, %{ $o{headers} || {} });
  my $type = exists $o{type} ? $o{type} : delete $h{'Content-Type'};
  delete $h{'Content-Type'};
  return api_request(PUT => $contract->{upload}{url}, body => $bytes,
                     (defined $type ? (content_type => $type) : ()),
                     headers => \%h);
}

sub secret {
  my $f = ($ENV{WEBOT_TEST_DIR} // croak 'WEBOT_TEST_DIR is not set') . '/secret';
  open my $fh, '<', $f or croak "$f: $!";
  local $/;
  my $s = <$fh>;
  $s =~ s/\s+\z//;
  return $s;
}

# The signature of the local store (include/webot_upload_sig.h), written
# independently of the C code.
sub sign_local {
  my ($method, $id, $expires, $type, $size) = @_;
  my $mac = hmac_sha256("webot-file-v1\n$method\n$id\n$expires\n$type\n$size", secret());
  my $b = MIME::Base64::encode_base64url($mac);
  $b =~ s/=+\z//;
  return $b;
}

sub local_url {
  my ($method, $id, $expires, $type, $size) = @_;
  my $what = $method eq 'PUT' ? 'upload' : 'download';
  return base_url() . "/api/v1/files/$what/$id?expires=$expires&sig="
    . sign_local($method, $id, $expires, $type, $size);
}

sub store_dir {
  return ($ENV{WEBOT_TEST_DIR} // croak 'WEBOT_TEST_DIR is not set') . '/files';
}

# Names in the store directory (sorted).
sub store_entries {
  opendir my $d, store_dir() or croak store_dir() . ": $!";
  my @e = sort grep { !/^\.\.?\z/ } readdir $d;
  closedir $d;
  return @e;
}

sub file_row {
  my ($id) = @_;
  my @cols = qw(id account_id filename content_type size_bytes purpose status sha256 store
                expires_epoch uploaded);
  my ($row) = psql("SELECT id, account_id, filename, content_type, size_bytes, purpose, status,"
    . " coalesce(encode(sha256, 'hex'), ''), store, extract(epoch FROM expires_at)::bigint,"
    . " uploaded_at IS NOT NULL FROM files WHERE id = '" . ($id =~ s/'//gr) . "'");
  return undef unless defined $row;
  my %h;
  @h{@cols} = split /\|/, $row, -1;
  return \%h;
}

# raw_request($url, method => M, headers => [name => value, ...],
#   body => BYTES | chunks => [BYTES, ...] (chunked), wait_continue => 1
#   (send headers, then the body only on "100 Continue"), close_after => N
#   (send only N bytes of the body, then close), timeout => S)
# -> {status, headers => {lc => v}, body, json, continued => bool, elapsed}
sub raw_request {
  my ($url, %o) = @_;
  my $u = URI->new($url);
  my $sock = IO::Socket::INET->new(PeerAddr => $u->host, PeerPort => $u->port,
                                   Proto => 'tcp', Timeout => 5)
    or croak "connect: $!";
  binmode $sock;
  my $t0 = Time::HiRes::time();
  my $method = $o{method} // 'PUT';
  my $head = "$method " . $u->path_query . " HTTP/1.1\r\nHost: " . $u->host_port . "\r\n";
  my @h = @{ $o{headers} || [] };
  while (my ($k, $v) = splice @h, 0, 2) { $head .= "$k: $v\r\n" }
  $head .= "Transfer-Encoding: chunked\r\n" if $o{chunks};
  $head .= "Connection: close\r\n\r\n";
  my $sel = IO::Select->new($sock);
  my $send = sub {
    my ($bytes) = @_;
    my $sent = 0;
    while ($sent < length $bytes) {
      my $n = syswrite($sock, $bytes, length($bytes) - $sent, $sent);
      return 0 unless defined $n && $n > 0;
      $sent += $n;
    }
    return 1;
  };
  $send->($head);
  my $buf = '';
  my $continued = 0;
  my $deadline = $t0 + ($o{timeout} // 20);
  if ($o{wait_continue}) {
    # a final answer, or 100 Continue, before any byte of the body
    while (Time::HiRes::time() < $deadline && index($buf, "\r\n\r\n") < 0) {
      next unless $sel->can_read(0.2);
      my $n = sysread($sock, my $chunk, 65536) or last;
      $buf .= $chunk;
    }
    if ($buf =~ m{^HTTP/1\.1 100 }) {
      $continued = 1;
      $buf = substr($buf, index($buf, "\r\n\r\n") + 4);
    }
  }
  if (!length $buf || $continued) {
    if ($o{chunks}) {
      for my $c (@{ $o{chunks} }) {
        last unless $send->(sprintf("%x\r\n", length $c) . $c . "\r\n");
      }
      $send->("0\r\n\r\n");
    } elsif (defined $o{body}) {
      my $b = defined $o{close_after} ? substr($o{body}, 0, $o{close_after}) : $o{body};
      $send->($b);
      if (defined $o{close_after}) {
        close $sock;
        return { status => 0, closed => 1, elapsed => Time::HiRes::time() - $t0 };
      }
    }
  }
  while (Time::HiRes::time() < $deadline) {
    next unless $sel->can_read(0.2);
    my $n = sysread($sock, my $chunk, 65536);
    last unless $n;
    $buf .= $chunk;
  }
  close $sock;
  my $res = { continued => $continued, elapsed => Time::HiRes::time() - $t0, raw => $buf };
  my $end = index($buf, "\r\n\r\n");
  return { %$res, status => 0 } if $end < 0;
  my ($line, @lines) = split /\r\n/, substr($buf, 0, $end);
  ($res->{status}) = $line =~ m{^HTTP/1\.[01] (\d{3})};
  for (@lines) {
    my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
    $res->{headers}{lc $k} = $v;
  }
  my $body = substr($buf, $end + 4);
  if (($res->{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
    my $out = '';
    while ($body =~ s/^([0-9a-fA-F]+)\r\n//) {
      my $n = hex $1;
      last unless $n;
      $out .= substr($body, 0, $n, '');
      $body =~ s/^\r\n//;
    }
    $body = $out;
  }
  $res->{body} = $body;
  $res->{json} = eval { JSON::PP->new->utf8->decode($body) } if $body =~ /^\s*\{/;
  return $res;
}

1;
