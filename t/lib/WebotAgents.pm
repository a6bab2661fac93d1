package WebotAgents;

# Helpers of the agent-surface tests (t/60_mcp*.t, t/61_docs.t,
# t/62_openapi.t, t/63_guides.t), beside WebotTest.pm:
#
#   my $r = mcp_post($key, {jsonrpc => '2.0', id => 1, method => 'ping'});
#   my $r = mcp_post($key, $raw_text, headers => {...});   # raw body
#   my $res = mcp_tool($key, 'get_catalog', {});   # tools/call -> result
#   my ($rc, $out, $err) = run_cmd({env => {...}, timeout => 120}, @cmd);
#   node_ready('t/node-mcp') or skip(...);   # npm ci (once per run)
#   my $doc = openapi();                     # GET /api/v1/openapi.json
#   my %tools = doc_tools($doc);             # x-mcp-tool => operation

use strict;
use warnings;

use Exporter 'import';
use Carp qw(croak);
use File::Temp ();
use POSIX ();
use Time::HiRes ();
use WebotTest;

our @EXPORT = qw(mcp_post mcp_tool run_cmd node_ready node_bin openapi
  doc_tools doc_operations);

my $id = 100;

# mcp_post($key, $message_or_raw, headers => {...}, content_type => ...)
sub mcp_post {
  my ($key, $msg, %o) = @_;
  my %h = ('Accept' => 'application/json, text/event-stream',
           %{ $o{headers} || {} });
  my @tls = $o{https} ? (https => 1) : ();
  if (ref $msg) {
    return api_post('/api/v1/mcp', json => $msg, key => $key, headers => \%h, @tls,
                    $o{content_type} ? (content_type => $o{content_type}) : ());
  }
  return api_post('/api/v1/mcp', body => $msg, key => $key, headers => \%h, @tls,
                  content_type => $o{content_type} // 'application/json');
}

# mcp_tool($key, $name, $args, headers => {...}) -> the tools/call result
# (hash) or undef (then the JSON-RPC answer is in $WebotAgents::last).
our $last;
sub mcp_tool {
  my ($key, $name, $args, %o) = @_;
  my $r = mcp_post($key, { jsonrpc => '2.0', id => ++$id, method => 'tools/call',
                           params => { name => $name, arguments => $args // {} } },
                   %o);
  $last = $r;
  return undef unless $r->status == 200 && ref $r->json eq 'HASH';
  return $r->json->{result};
}


sub openapi {
  my $r = api_get('/api/v1/openapi.json');
  croak 'no OpenAPI document: ' . $r->describe unless $r->status == 200 && $r->json;
  return $r->json;
}

# (METHOD PATH => operation) for every operation of the document.
sub doc_operations {
  my ($doc) = @_;
  my %ops;
  for my $path (keys %{ $doc->{paths} }) {
    for my $m (keys %{ $doc->{paths}{$path} }) {
      next unless $m =~ /^(get|put|post|delete|patch)$/;
      $ops{ uc($m) . " $path" } = $doc->{paths}{$path}{$m};
    }
  }
  return %ops;
}

# (tool name => {method, path, op}) from x-mcp-tool marks.
sub doc_tools {
  my ($doc) = @_;
  my %ops = doc_operations($doc);
  my %tools;
  for my $k (keys %ops) {
    my $t = $ops{$k}{'x-mcp-tool'} or next;
    my ($m, $p) = split / /, $k, 2;
    $tools{$t} = { method => $m, path => $p, op => $ops{$k} };
  }
  return %tools;
}

# run_cmd({env => {K => V}, timeout => S, stdin => TEXT, cwd => DIR}, @cmd)
#   -> ($exit_code, $stdout, $stderr); a timeout kills the process group
#   and returns 124.
sub run_cmd {
  my $opt = ref $_[0] eq 'HASH' ? shift : {};
  my @cmd = @_;
  my $in = File::Temp->new; my $out = File::Temp->new; my $err = File::Temp->new;
  print {$in} $opt->{stdin} // '';
  close $in;
  my $pid = fork // croak "fork: $!";
  if (!$pid) {
    POSIX::setpgid(0, 0);
    chdir $opt->{cwd} or die "chdir $opt->{cwd}: $!" if $opt->{cwd};
    $ENV{$_} = $opt->{env}{$_} for keys %{ $opt->{env} || {} };
    open STDIN, '<', $in->filename or die;
    open STDOUT, '>', $out->filename or die;
    open STDERR, '>', $err->filename or die;
    exec @cmd or do { print STDERR "exec $cmd[0]: $!"; POSIX::_exit(127) };
  }
  my $timeout = $opt->{timeout} // 300;
  my $rc;
  eval {
    local $SIG{ALRM} = sub { die "timeout\n" };
    alarm $timeout;
    waitpid $pid, 0;
    alarm 0;
    $rc = $? & 127 ? 128 + ($? & 127) : $? >> 8;
  };
  if (!defined $rc) {
    kill 'KILL', -$pid;
    waitpid $pid, 0;
    $rc = 124;
  }
  my $slurp = sub { local $/; open my $fh, '<', $_[0] or return ''; my $s = <$fh>; $s // '' };
  return ($rc, $slurp->($out->filename), $slurp->($err->filename));
}

# node and npm: installed from Debian when missing (as root), like the
# Debian packages of scripts/deps.sh. Returns the node binary or undef.
sub node_bin {
  for my $tool (qw(node npm)) {
    next if system("command -v $tool >/dev/null 2>&1") == 0;
    if ($> == 0) {
      my ($rc, $o, $e) = run_cmd({ env => { DEBIAN_FRONTEND => 'noninteractive' }, timeout => 900 },
        'sh', '-c', 'apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm');
      Test::More::diag("apt-get install nodejs npm failed: $e") if $rc;
    }
    return undef unless system("command -v $tool >/dev/null 2>&1") == 0;
  }
  chomp(my $node = `sh -c 'command -v node'`);
  return $node;
}

# node_ready($dir): node and npm present, and `npm ci` done in $dir (once
# per lockfile: a stamp in node_modules/ remembers it). 1 when ready.
sub node_ready {
  my ($dir) = @_;
  my $top = top_dir();
  my $abs = "$top/$dir";
  node_bin() or return 0;
  my $lock = "$abs/package-lock.json";
  my $stamp = "$abs/node_modules/.webot-npm-ci";
  my $sum = do { local $/; open my $fh, '<', $lock or croak "$lock: $!"; my $t = <$fh>;
                 require Digest::SHA; Digest::SHA::sha256_hex($t) };
  if (open my $fh, '<', $stamp) { my $s = <$fh>; return 1 if ($s // '') eq $sum }
  my ($rc, $o, $e) = run_cmd({ cwd => $abs, timeout => 900,
                               env => { npm_config_update_notifier => 'false',
                                        npm_config_fund => 'false',
                                        npm_config_audit => 'false' } },
                             'npm', 'ci', '--ignore-scripts', '--no-audit', '--no-fund');
  if ($rc) {
    Test::More::diag("npm ci in $dir failed ($rc): $e$o");
    return 0;
  }
  open my $fh, '>', $stamp or croak "$stamp: $!";
  print {$fh} $sum;
  close $fh;
  return 1;
}

1;
