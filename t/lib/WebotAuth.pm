package WebotAuth;

# Helpers of the identity and access tests (t/2x_*.t):
#
#   my $acct = make_account(plan => 'both_team');       # from WebotTest
#   my $c = session_for($acct);                         # logged-in client
#   $c->post('/api/v1/api-keys', json => {...});        # X-CSRF-Token set
#   my ($m, $path, %o) = entitled_route();              # a Required route
#                                                       # outside the account
#                                                       # context
#   my $c2 = client_from('127.0.0.23');                 # another source address
#   at_minute_start();                                  # >= 15 s left in window

use strict;
use warnings;

use Exporter 'import';
use Carp qw(croak);
use Time::HiRes ();
use WebotTest;

our @EXPORT = qw(
  login session_for client_from entitled_route at_minute_start
  q_ cookie_attrs fresh_ip
);

# SQL literal for our own ids and emails.
sub q_ { my ($v) = @_; $v =~ s/'/''/g; return "'$v'" }

# login($client, $email, $password) -> response; on 200 the client sends
# the csrf_token as X-CSRF-Token from then on.
sub login {
  my ($c, $email, $password, %o) = @_;
  my $r = $c->post('/api/v1/auth/login', json => { email => $email, password => $password }, %o);
  $c->set_header('X-CSRF-Token' => $r->json->{csrf_token})
    if $r->status == 200 && ref $r->json eq 'HASH';
  return $r;
}

# A client with its own cookie jar, signed in as the account's user.
sub session_for {
  my ($acct, %o) = @_;
  my $c = new_client();
  my $r = login($c, $acct->{email}, $acct->{password}, %o);
  croak 'login failed: ' . $r->describe unless $r->status == 200;
  return $c;
}

# A cookie-less client whose connections come from another loopback
# address (so that its sign-in failures do not count for 127.0.0.1).
sub client_from {
  my ($addr, %o) = @_;
  my $c = WebotTest::Client->new(cookies => $o{cookies} // 0);
  $c->ua->local_address($addr);
  return $c;
}

# A loopback address of its own for this test run (127.0.0.2 .. 127.0.0.254).
sub fresh_ip { sprintf '127.0.%d.%d', 1 + int(rand 250), 2 + int(rand 250) }

# A Required route that is not account context (so it needs the
# entitlement), taken from the module's own OpenAPI document: a GET without
# path parameters if there is one, else a POST with its request example.
# Returns (METHOD, PATH, request options) or () when none is mounted.
my %CONTEXT = map { $_ => 1 } qw(/api/v1/me /api/v1/entitlements /api/v1/usage
                                 /api/v1/jobs/preflight /api/v1/mcp);
sub entitled_route {
  my $doc = api_get('/api/v1/openapi.json')->json or return ();
  my @post;
  for my $path (sort keys %{ $doc->{paths} }) {
    next if $CONTEXT{$path} || $path =~ /\{/;
    for my $m (sort keys %{ $doc->{paths}{$path} }) {
      my $op = $doc->{paths}{$path}{$m};
      next unless grep { exists $_->{bearerKey} } @{ $op->{security} || [] };
      return (uc $m, $path) if $m eq 'get';
      my $ex = $op->{requestBody}{content}{'application/json'}{example};
      push @post, [uc $m, $path, json => $ex // {}] if $m eq 'post';
    }
  }
  return @post ? @{ $post[0] } : ();
}

# Waits, if needed, so that at least $need seconds remain in the current
# one-minute rate-limit window.
sub at_minute_start {
  my ($need) = @_;
  $need //= 15;
  my $left = 60 - (time % 60);
  if ($left < $need) {
    Time::HiRes::sleep($left + 0.2);
  }
}

# Attributes of the Set-Cookie header for NAME: {value => ..., lc(attr) => value|1}
sub cookie_attrs {
  my ($res, $name) = @_;
  for my $h ($res->headers->header('Set-Cookie')) {
    my ($pair, @attrs) = split /;\s*/, $h;
    my ($n, $v) = split /=/, $pair, 2;
    next unless $n eq $name;
    my %a = (value => $v);
    for (@attrs) { my ($k, $x) = split /=/, $_, 2; $a{lc $k} = $x // 1 }
    return \%a;
  }
  return undef;
}

1;
