# The guides are runnable: every ```sh block of docs/quickstart.md,
# docs/agents.md and docs/operations.md runs (in order, one bash per guide,
# set -euo pipefail) in a scratch directory that looks like a checkout after
# `make run` (var/webot.env with a fresh demo account, build/webotctl),
# against an httpd with the job worker on and every family on manual review
# (like `make run`) when t/lib/WebotWorker.pm can start one, else against
# the shared test server. ```apache blocks marked configtest are checked
# with apache2 -t. Markers before a block (an HTML comment):
#   <!-- test: skip (why) -->                 shown, never run
#   <!-- test: requires METHOD PATH, ... -->  run once those routes exist
#   <!-- test: needs-worker -->               run when the worker runs
#   <!-- test: configtest -->                 (apache blocks) apache2 -t
# The MCP tool table of docs/agents.md is compared with the server's tools.
use strict;
use warnings;
use Test::More;
use File::Temp ();
use WebotTest;
use WebotAgents;
use WebotFoundation qw(configtest);

my $top = top_dir();
my $doc = openapi();
my %ops = doc_operations($doc);
my %tools = doc_tools($doc);

# --- the server the guides talk to ------------------------------------------------
my ($worker, $base) = (undef, base_url());
if (eval { require WebotWorker; WebotWorker->can('start_worker_httpd') }) {
  my $T = $ENV{WEBOT_TEST_DIR};
  # the worker instances' config names a core dump directory
  mkdir "$T/core" unless -d "$T/core";
  system('chown', 'www-data:www-data', "$T/core") if $> == 0;
  $worker = eval {
    WebotWorker::start_worker_httpd(name => 'guides', executor => 'manual',
      extra => qq{<IfDirective WebotFileStore>\nWebotFileStore "$T/files"\n</IfDirective>});
  };
  diag("no worker httpd for the guides: $@") if $@;
  $base = $worker->url if $worker;
}
diag($worker ? "guides run against a worker httpd at $base" : "guides run against $base (no worker)");

my $acct = make_account(plan => 'both_team');
my $work = File::Temp->newdir;
mkdir "$work/var"; mkdir "$work/build";
symlink build_dir() . '/webotctl', "$work/build/webotctl" or die "symlink: $!";
open my $env, '>', "$work/var/webot.env" or die $!;
print {$env} join '', map { "$_->[0]='$_->[1]'\n" } (
  [WEBOT_BASE_URL => $base], [WEBOT_HTTPS_URL => $ENV{WEBOT_TEST_HTTPS_URL} // ''],
  [WEBOT_DB => $ENV{WEBOT_TEST_DB}], [WEBOT_DEMO_API_KEY => $acct->{key}],
  [WEBOT_OWNER_EMAIL => $acct->{email}], [WEBOT_OWNER_PASSWORD => $acct->{password}],
  [WEBOT_STRIPE_WEBHOOK_SECRET => $ENV{WEBOT_TEST_STRIPE_WEBHOOK_SECRET} // '']);
close $env;

# --- parsing ----------------------------------------------------------------------------
# -> list of {lang, code, line, marks => {skip, requires => [...], needs_worker, configtest}}
sub blocks_of {
  my ($file) = @_;
  open my $fh, '<', $file or die "$file: $!";
  my @lines = <$fh>;
  my (@blocks, $cur, $pending);
  for my $i (0 .. $#lines) {
    my $l = $lines[$i];
    if ($cur) {
      if ($l =~ /^```\s*$/) { push @blocks, $cur; $cur = undef; next }
      $cur->{code} .= $l;
      next;
    }
    if ($l =~ /^<!--\s*test:\s*(.*?)\s*-->\s*$/) { $pending = $1; next }
    if ($l =~ /^```(\w+)\s*$/) {
      my $lang = $1;
      my %m;
      my @marks = ($pending // '') =~ /^skip\b/ ? ($pending) : split /\s*;\s*/, $pending // '';
      for my $d (@marks) {
        if ($d =~ /^skip\b/) { $m{skip} = $d }
        elsif ($d =~ /^requires\s+(.*)$/) { $m{requires} = [split /\s*,\s*/, $1] }
        elsif ($d eq 'needs-worker') { $m{needs_worker} = 1 }
        elsif ($d eq 'configtest') { $m{configtest} = 1 }
        else { die "$file line " . ($i + 1) . ": unknown test marker '$d'" }
      }
      $cur = { lang => $lang, code => '', line => $i + 2, marks => \%m };
      $pending = undef;
      next;
    }
    $pending = undef if $l =~ /\S/;
  }
  return @blocks;
}

# --- configtest of apache blocks ------------------------------------------------------------
my $T = $ENV{WEBOT_TEST_DIR};
my $modules = do {
  open my $fh, '<', "$T/modules.conf" or die "$T/modules.conf: $!";
  join '', grep { !/mpm_event_module|dbd_module/ } <$fh>;
};
sub check_apache {
  my ($name, $code) = @_;
  my $c = $code;
  $c =~ s{/etc/webot/catalog\.json}{$T/catalog.json}g;
  $c =~ s{/etc/webot/secret}{$T/secret}g;
  $c =~ s{/etc/ssl/certs/[^\s"]+\.pem}{$T/tls/cert.pem}g;
  $c =~ s{/etc/ssl/private/[^\s"]+\.key}{$T/tls/key.pem}g;
  $c =~ s{/var/run/apache2/}{$T/}g;
  $c =~ s{^\s*LoadModule\s+(webot|dbd)_module.*$}{}mg;
  my $has_cat = $c =~ /WebotCatalogFile/;
  my ($rc, $out) = configtest(
    ($has_cat ? () : (catalog => "$T/catalog.json", secret => "$T/secret")),
    extra => "Define APACHE_LOG_DIR $T\n$modules\n$c");
  is($rc, 0, "$name: apache2 -t accepts it") or diag("$out\n--- block:\n$c");
}

# --- running the sh blocks -----------------------------------------------------------------------
sub missing_routes {
  my ($req) = @_;
  return grep { !$ops{$_} } @{ $req || [] };
}

for my $guide (qw(quickstart.md agents.md operations.md)) {
  my $file = "$top/docs/$guide";
  ok(-f $file, "docs/$guide exists") or next;
  my @blocks = blocks_of($file);
  my (@run, $n);
  my $script = "set -euo pipefail\ncd '$work'\nexec 2>&1\n";
  for my $b (@blocks) {
    $n++;
    my $label = "$guide block $n (line $b->{line})";
    my $m = $b->{marks};
    if ($b->{lang} eq 'apache') {
      check_apache($label, $b->{code}) if $m->{configtest};
      next;
    }
    next unless $b->{lang} eq 'sh';
    if ($m->{skip}) { SKIP: { skip "$label: $m->{skip}", 1 } next }
    if (my @miss = missing_routes($m->{requires})) {
      SKIP: { skip "$label: deferred until these routes exist: @miss", 1 }
      next;
    }
    if ($m->{needs_worker} && !$worker) {
      SKIP: { skip "$label: needs the job worker", 1 }
      next;
    }
    push @run, [$n, $label];
    $script .= "echo '\@\@\@start $n'\n$b->{code}\necho '\@\@\@ok $n'\n";
  }
  next unless @run;
  my ($rc, $out) = run_cmd({ timeout => 300, cwd => "$work",
                             env => { PATH => "$ENV{PATH}", HOME => "$work" } },
                           'bash', '-c', $script);
  my %done = map { ($_ => 1) } $out =~ /^\@\@\@ok (\d+)$/mg;
  for my $r (@run) {
    my ($i, $label) = @$r;
    my ($section) = $out =~ /^\@\@\@start $i\n(.*?)(?:^\@\@\@(?:ok|start) |\z)/ms;
    ok($done{$i}, $label) or diag("exit $rc; output of the block:\n" . ($section // '(not reached)'));
  }
  is($rc, 0, "$guide: the blocks ran to the end") or diag(substr($out, -3000));
}

# --- the tool table of agents.md ----------------------------------------------------------------
{
  open my $fh, '<', "$top/docs/agents.md" or die $!;
  my %table;
  while (<$fh>) { $table{$1} = "$2 $3" if /^\| `([a-z_]+)` \| (GET|POST|PUT|DELETE) (\S+) \|$/ }
  ok(%table, 'agents.md has a tool table');
  my %server = map { ($_ => "$tools{$_}{method} $tools{$_}{path}") } keys %tools;
  for my $t (sort keys %server) {
    is($table{$t}, $server{$t}, "agents.md lists the tool $t as $server{$t}");
  }
  for my $t (sort grep { !$server{$_} } keys %table) {
    my ($m, $p) = split / /, $table{$t};
    if ($ops{"$m $p"}) { fail("agents.md lists $t for $m $p, which is not a tool") }
    else { SKIP: { skip "agents.md lists $t: its route $m $p has not landed yet", 1 } }
  }
}

$worker->stop if $worker;
done_testing;
