package WebotFoundation;

# Helpers of the foundation tests (t/01_*.t .. t/09_*.t), beside WebotTest.pm:
#
#   my @r = raw_http("GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n" x 2);
#                                  # raw bytes in, parsed responses out
#   my @rows = route_table();      # ["GET", "/api/v1/catalog"], ... from
#                                  # mod_webot/routes_*.inc (the real table)
#   my @problems = schema_problems($schema, $value, $openapi_doc);
#                                  # a small JSON Schema check with $ref
#   my ($rc, $out) = configtest(catalog => $file, secret => $file, extra => '');
#                                  # apache2 -t on a generated small config

use strict;
use warnings;

use Exporter 'import';
use Carp qw(croak);
use File::Temp ();
use IO::Socket::INET ();
use IO::Select ();
use JSON::PP ();
use Scalar::Util qw(looks_like_number);
use WebotTest qw(base_url top_dir build_dir);

our @EXPORT = qw(raw_http route_table schema_problems configtest
  test_port contract_codes ka_open ka_request ka_close);

sub test_port {
  my ($port) = base_url() =~ m{:(\d+)$} or croak 'no port in ' . base_url();
  return $port;
}

# raw_http($bytes, [count => N, timeout => S, head => 1]): sends the bytes on
# one new connection to the test httpd and reads responses until N have
# arrived, the server closes, or `timeout` (10 s) passes. Returns a list of
#   {status, reason, headers => {lc name => value} (last wins),
#    header_list => [[name, value], ...], body, raw}
# one per response (HTTP/1.1, Content-Length or chunked bodies; a response
# to HEAD has no body: pass head => 1 for a single HEAD request).
sub raw_http {
  my ($bytes, %o) = @_;
  my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => test_port(),
                                   Proto => 'tcp', Timeout => 5)
    or croak "connect: $!";
  binmode $sock;
  my $sent = 0;
  while ($sent < length $bytes) {
    my $n = syswrite($sock, $bytes, length($bytes) - $sent, $sent);
    last unless defined $n && $n > 0;       # the server may close early (413)
    $sent += $n;
  }
  my $buf = '';
  my $sel = IO::Select->new($sock);
  my $deadline = time + ($o{timeout} // 10);
  my @out;
  while (time < $deadline) {
    last if $o{count} && @out >= $o{count};
    next unless $sel->can_read(0.2);
    my $n = sysread($sock, my $chunk, 65536);
    last unless $n;                                 # closed (or reset)
    $buf .= $chunk;
    while (my $res = _parse_one(\$buf, $o{head})) {
      push @out, $res;
    }
  }
  close $sock;
  return @out;
}

# A kept-alive connection for several requests in turn:
#   my $c = ka_open(); my $res = ka_request($c, "GET /api/v1/health");
#   ka_close($c);
# ka_request sends "METHOD PATH HTTP/1.1" with Host (and any extra header
# lines) and returns one parsed response (as raw_http) or undef when the
# server closed the connection / did not answer within `timeout`.
sub ka_open {
  my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => test_port(),
                                   Proto => 'tcp', Timeout => 5)
    or croak "connect: $!";
  binmode $sock;
  return { sock => $sock, buf => '' };
}

sub ka_request {
  my ($c, $line, %o) = @_;
  my $req = "$line HTTP/1.1\r\nHost: 127.0.0.1\r\n" . join('', map { "$_\r\n" } @{ $o{headers} || [] }) . "\r\n";
  my $n = syswrite($c->{sock}, $req);
  return undef unless $n && $n == length $req;
  my $sel = IO::Select->new($c->{sock});
  my $deadline = time + ($o{timeout} // 15);
  while (time < $deadline) {
    if (my $res = _parse_one(\$c->{buf}, $line =~ /^HEAD /)) {
      return $res;
    }
    next unless $sel->can_read(0.2);
    my $got = sysread($c->{sock}, my $chunk, 65536);
    return undef unless $got;
    $c->{buf} .= $chunk;
  }
  return undef;
}

sub ka_close { close $_[0]{sock} if $_[0] && $_[0]{sock} }

sub _parse_one {
  my ($bufr, $head) = @_;
  my $end = index($$bufr, "\r\n\r\n");
  return undef if $end < 0;
  my $hdr = substr($$bufr, 0, $end);
  my ($line, @lines) = split /\r\n/, $hdr;
  my ($status, $reason) = $line =~ m{^HTTP/1\.[01] (\d{3}) ?(.*)$} or return undef;
  my (%h, @hl);
  for (@lines) {
    my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
    $h{lc $k} = $v;
    push @hl, [$k, $v];
  }
  my $pos = $end + 4;
  my $body = '';
  if ($head || $status == 304 || $status == 204) {
    # no body
  } elsif (($h{'transfer-encoding'} // '') =~ /chunked/i) {
    while (1) {
      my $le = index($$bufr, "\r\n", $pos);
      return undef if $le < 0;
      my $size = hex substr($$bufr, $pos, $le - $pos);
      return undef if length($$bufr) < $le + 2 + $size + 2;
      $body .= substr($$bufr, $le + 2, $size);
      $pos = $le + 2 + $size + 2;
      last if $size == 0;
    }
  } elsif (defined $h{'content-length'}) {
    return undef if length($$bufr) < $pos + $h{'content-length'};
    $body = substr($$bufr, $pos, $h{'content-length'});
    $pos += $h{'content-length'};
  } else {
    return undef;       # body until close: wait for more / the close
  }
  my $raw = substr($$bufr, 0, $pos);
  substr($$bufr, 0, $pos) = '';
  my $json;
  $json = eval { JSON::PP->new->utf8->decode($body) } if length $body && $body =~ /^\s*[{\[]/;
  return { status => $status, reason => $reason, headers => \%h, header_list => \@hl,
           body => $body, json => $json, raw => $raw };
}

# The route table as the module is built from it: the rows of
# mod_webot/routes_*.inc, as [METHOD, full path] pairs.
my %MOUNT = (API => '/api/v1', WEBHOOK => '/api/stripe/webhook',
             CHECKOUT => '/api/checkout/tier');

sub route_table {
  my @rows;
  for my $f (sort glob(top_dir() . '/mod_webot/routes_*.inc')) {
    open my $fh, '<', $f or croak "$f: $!";
    local $/;
    my $text = <$fh>;
    $text =~ s{/\*.*?\*/}{}gs;                       # comments
    while ($text =~ /\{\s*"([A-Z]+)"\s*,\s*WEBOT_MOUNT_([A-Z]+)\s*,\s*"([^"]*)"/g) {
      my ($m, $mount, $path) = ($1, $2, $3);
      croak "unknown mount $mount in $f" unless $MOUNT{$mount};
      push @rows, [$m, $path eq '/' ? $MOUNT{$mount} : $MOUNT{$mount} . $path];
    }
  }
  return @rows;
}

# Every error code of the contract with its status (CONTRACT.md section 1).
sub contract_codes {
  return (
    BAD_REQUEST => 400, IDEMPOTENCY_KEY_REQUIRED => 400, WEBHOOK_SIGNATURE_INVALID => 400,
    UNAUTHORIZED => 401, QUOTA_EXCEEDED => 402, ENTITLEMENT_REQUIRED => 403,
    FORBIDDEN => 403, CSRF_FAILED => 403, NOT_FOUND => 404, METHOD_NOT_ALLOWED => 405,
    IDEMPOTENCY_IN_PROGRESS => 409, INVALID_STATE => 409, PAYLOAD_TOO_LARGE => 413,
    UNSUPPORTED_MEDIA_TYPE => 415, VALIDATION_ERROR => 422, IDEMPOTENCY_CONFLICT => 422,
    INTAKE_INCOMPLETE => 422, RATE_LIMITED => 429, ACTIVE_JOB_LIMIT => 429,
    CHECKOUT_UNAVAILABLE => 503, SERVICE_UNAVAILABLE => 503, INTERNAL_ERROR => 500,
  );
}

# schema_problems($schema, $value, $doc): the JSON Schema keywords the module
# publishes (type, properties, required, additionalProperties, items, enum,
# const, min/maxLength, min/maxItems, minimum/maximum, $ref into $doc).
# Returns a list of "path: problem" strings (empty when the value conforms).
sub schema_problems {
  my ($s, $v, $doc, $path) = @_;
  $path //= '$';
  return () if !ref $s || ref $s ne 'HASH';
  if (my $ref = $s->{'$ref'}) {
    my ($name) = $ref =~ m{^#/components/schemas/(.+)$}
      or return ("$path: unsupported \$ref $ref");
    my $t = $doc->{components}{schemas}{$name}
      or return ("$path: \$ref $ref does not resolve");
    return schema_problems($t, $v, $doc, $path);
  }
  my @p;
  if (my $t = $s->{type}) {
    my @types = ref $t ? @$t : ($t);
    unless (grep { _is_type($_, $v) } @types) {
      return ("$path: is not " . join(' or ', @types));
    }
  }
  if ($s->{enum} && !grep { _same($_, $v) } @{ $s->{enum} }) {
    push @p, "$path: not one of the enum values";
  }
  if (exists $s->{const} && !_same($s->{const}, $v)) {
    push @p, "$path: not the const value";
  }
  if (ref $v eq 'HASH') {
    for my $k (@{ $s->{required} || [] }) {
      push @p, "$path.$k: is required" unless exists $v->{$k};
    }
    for my $k (sort keys %$v) {
      if (my $ps = ($s->{properties} || {})->{$k}) {
        push @p, schema_problems($ps, $v->{$k}, $doc, "$path.$k");
      } elsif (exists $s->{additionalProperties}) {
        my $a = $s->{additionalProperties};
        if (!ref $a || (JSON::PP::is_bool($a) && !$a)) {
          push @p, "$path.$k: is not allowed" if !$a;
        } else {
          push @p, schema_problems($a, $v->{$k}, $doc, "$path.$k");
        }
      }
    }
  } elsif (ref $v eq 'ARRAY') {
    push @p, "$path: too few items" if defined $s->{minItems} && @$v < $s->{minItems};
    push @p, "$path: too many items" if defined $s->{maxItems} && @$v > $s->{maxItems};
    if ($s->{items}) {
      push @p, schema_problems($s->{items}, $v->[$_], $doc, "$path\[$_\]") for 0 .. $#$v;
    }
  } elsif (defined $v && !ref $v && !JSON::PP::is_bool($v)) {
    if (_is_type('string', $v)) {
      push @p, "$path: too short" if defined $s->{minLength} && length($v) < $s->{minLength};
      push @p, "$path: too long" if defined $s->{maxLength} && length($v) > $s->{maxLength};
    } else {
      push @p, "$path: below minimum" if defined $s->{minimum} && $v < $s->{minimum};
      push @p, "$path: above maximum" if defined $s->{maximum} && $v > $s->{maximum};
    }
  }
  return @p;
}

# JSON::PP decodes numbers and strings into Perl scalars; the B flags tell
# them apart.
sub _is_num {
  my ($v) = @_;
  require B;
  my $f = B::svref_2object(\$v)->FLAGS;
  return ($f & (B::SVp_IOK() | B::SVp_NOK())) && !($f & B::SVp_POK());
}

sub _is_type {
  my ($t, $v) = @_;
  return !defined $v                           if $t eq 'null';
  return 0                                     unless defined $v;
  return JSON::PP::is_bool($v)                 if $t eq 'boolean';
  return ref $v eq 'HASH'                      if $t eq 'object';
  return ref $v eq 'ARRAY'                     if $t eq 'array';
  return 0 if ref $v && !JSON::PP::is_bool($v);
  return 0 if JSON::PP::is_bool($v);
  return !_is_num($v)                          if $t eq 'string';
  return _is_num($v) && $v == int($v)          if $t eq 'integer';
  return _is_num($v)                           if $t eq 'number';
  return 0;
}

sub _same {
  my ($a, $b) = @_;
  return JSON::PP->new->canonical->allow_nonref->encode($a)
      eq JSON::PP->new->canonical->allow_nonref->encode($b);
}

# configtest(catalog => FILE, secret => FILE, extra => TEXT, no_secret => 1,
#            no_catalog => 1): writes a small httpd config that loads the
# event MPM, mod_dbd and the built module with these files and runs
# `apache2 -t -f CONF`. Returns ($exit_code, $output (stdout + stderr),
# $conf_path).
my $CT_DIR;
my $ct_n = 0;

sub configtest {
  my (%o) = @_;
  $CT_DIR //= File::Temp->newdir('webot-ct.XXXXXX', TMPDIR => 1);
  my $dir = "$CT_DIR";
  my $moddir = `apxs -q LIBEXECDIR`; chomp $moddir;
  my $httpd = WebotTest::httpd_bin();    # with the sanitizer runtimes under SANITIZE
  # a private copy of the module, taken once: other engineers rebuild
  # build/mod_webot.so while tests run
  my $so = "$dir/mod_webot.so";
  unless (-f $so) {
    my $built = build_dir() . '/mod_webot.so';
    croak "$built does not exist" unless -f $built;
    require File::Copy;
    File::Copy::copy($built, "$so.tmp") or croak "copy $built: $!";
    rename "$so.tmp", $so or croak "rename: $!";
  }
  my $conf = "$dir/httpd-" . ++$ct_n . '.conf';
  open my $fh, '>', $conf or croak "$conf: $!";
  print {$fh} <<"CONF";
ServerRoot "$dir"
ServerName localhost
Listen 127.0.0.1:1
PidFile "$dir/httpd.pid"
ErrorLog "$dir/error_log"
DefaultRuntimeDir "$dir"
LoadModule mpm_event_module "$moddir/mod_mpm_event.so"
LoadModule dbd_module "$moddir/mod_dbd.so"
LoadModule webot_module "$so"
DBDriver pgsql
DBDParams "host=127.0.0.1 port=1 dbname=webot user=webot"
CONF
  print {$fh} qq{WebotCatalogFile "$o{catalog}"\n} if defined $o{catalog};
  print {$fh} qq{WebotSecretFile "$o{secret}"\n} if defined $o{secret};
  print {$fh} $o{extra}, "\n" if defined $o{extra};
  close $fh;
  my $out = `'$httpd' -t -f '$conf' 2>&1`;
  my $rc = $? >> 8;
  return ($rc, $out, $conf);
}

sub ct_dir { $CT_DIR //= File::Temp->newdir('webot-ct.XXXXXX', TMPDIR => 1); "$CT_DIR" }

1;
