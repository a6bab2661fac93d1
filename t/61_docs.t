# GET /api/v1/docs: the schema browser rendered from openapi.json. Checked
# as bytes (headers, escaping, no scripts or external assets, one article
# per documented operation) and in headless Chromium (Debian's chromium,
# driven by playwright-core from t/node-openapi): no console errors, no
# failed or foreign requests, every route of openapi.json on the page with
# and without JavaScript, and a screenshot (t/logs/docs-screenshot.png,
# plus the 1280x4000 window capture t/logs/docs-window.png).
use strict;
use warnings;
use Test::More;
use WebotTest;
use WebotAgents;

my $doc = openapi();
my %ops = doc_operations($doc);
my $url = base_url() . '/api/v1/docs';

my $r = api_get('/api/v1/docs');
is($r->status, 200, 'GET /api/v1/docs: 200') or diag($r->describe);
like($r->header('Content-Type') // '', qr{^text/html;\s*charset=utf-8$}i, 'text/html; charset=utf-8');
is($r->header('X-Content-Type-Options'), 'nosniff', 'nosniff');
like($r->header('Content-Security-Policy') // '', qr/default-src 'none'/, 'CSP: default-src none');
like($r->header('Content-Security-Policy') // '', qr/style-src 'sha256-[A-Za-z0-9+\/=]+'/, 'CSP: only the inline style, by hash');
my $etag = $r->header('ETag');
like($etag // '', qr/^"[0-9a-f]+"$/, 'an ETag');
my $r304 = api_get('/api/v1/docs', headers => { 'If-None-Match' => $etag });
is($r304->status, 304, 'If-None-Match: 304');
my $html = $r->content;
utf8::decode($html);

unlike($html, qr/<script/i, 'no script element');
unlike($html, qr/\son[a-z]+\s*=/i, 'no inline event handlers');
unlike($html, qr/\b(?:src|href)\s*=\s*"(?:https?:)?\/\//i, 'no external asset or link');
unlike($html, qr/<link\b/i, 'no linked stylesheet');
like($html, qr/^<!DOCTYPE html>/, 'a doctype');

my %on_page;
while ($html =~ /<article class="op" id="op-[^"]*" data-method="([A-Z]+)" data-path="([^"]+)">/g) {
  $on_page{"$1 $2"}++;
}
is_deeply([sort keys %on_page], [sort keys %ops], 'one article per operation of openapi.json');
ok(!grep({ $_ > 1 } values %on_page), 'none twice');

# grouped by tag, in the document's tag order
my @tags = map { $_->{name} } @{ $doc->{tags} };
my @sections = $html =~ /<section class="tag" id="tag-([^"]+)">/g;
my %used = map { ($_->{tags}[0] => 1) } values %ops;
is_deeply(\@sections, [grep { $used{$_} } @tags], 'sections follow the tag order (' . join(', ', @sections) . ')');
is_deeply([(grep { $_ ne 'agents' } @tags)[0 .. 5]], [qw(public account jobs files keys billing)],
  'tags: public, account, jobs, files, keys, billing');

# every operation shows its parts
for my $k (sort keys %ops) {
  my ($m, $p) = split / /, $k, 2;
  my $op = $ops{$k};
  my ($art) = $html =~ m{(<article class="op" id="op-\Q$op->{operationId}\E".*?</article>)}s;
  ok($art, "$k: an article") or next;
  my @miss;
  push @miss, 'summary' unless index($art, esc($op->{summary})) >= 0;
  push @miss, 'auth' unless $art =~ m{<dt>Auth</dt><dd>[^<]+</dd>};
  push @miss, 'curl' unless $art =~ m{<h4>curl</h4>\n<pre>curl -sS}s;
  push @miss, 'error codes' unless !grep(/^[45]/, keys %{ $op->{responses} }) || $art =~ m{<h4>Errors</h4>};
  push @miss, 'request body' if $op->{requestBody} && $art !~ m{<h4>Request body</h4>};
  push @miss, 'response' unless $art =~ m{<h4>Response 2\d\d</h4>};
  push @miss, 'parameters' if @{ $op->{parameters} || [] } && $art !~ m{<h4>Parameters</h4>};
  ok(!@miss, "$k: summary, auth, parameters, schemas, errors, curl") or diag("missing: @miss");
}
sub esc { my $s = shift // ''; $s =~ s/&/&amp;/g; $s =~ s/</&lt;/g; $s =~ s/>/&gt;/g; $s =~ s/"/&quot;/g; $s =~ s/'/&#39;/g; $s }

# --- headless Chromium ----------------------------------------------------------------
sub chromium_bin {
  for my $c (qw(/usr/bin/chromium /usr/bin/chromium-browser)) { return $c if -x $c }
  return undef unless $> == 0;
  my ($rc, $o, $e) = run_cmd({ env => { DEBIAN_FRONTEND => 'noninteractive' }, timeout => 1200 },
    'sh', '-c', 'apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core');
  diag("apt-get install chromium failed: $e") if $rc;
  return -x '/usr/bin/chromium' ? '/usr/bin/chromium' : undef;
}

SKIP: {
  my $chromium = chromium_bin();
  skip 'chromium unavailable', 12 unless $chromium;
  skip 'node/npm unavailable (t/node-openapi not installed)', 12 unless node_ready('t/node-openapi');
  my $logs = top_dir() . '/t/logs';
  my $shot = "$logs/docs-screenshot.png";
  unlink $shot;
  my ($rc, $out, $err) = run_cmd({ timeout => 180, env => { HOME => $ENV{HOME} // '/root' } },
    node_bin(), top_dir() . '/t/node-openapi/docs-check.js', $url, $shot, $chromium);
  my $res = eval { json_decode($out) };
  ok($rc == 0 && $res, 'the page loads in headless Chromium') or diag("rc $rc\n$err\n$out");
  $res ||= {};
  is($res->{status}, 200, 'status 200 in the browser');
  is_deeply($res->{console_errors}, [], 'no console errors or warnings');
  is_deeply($res->{page_errors}, [], 'no page errors');
  is_deeply($res->{failed_requests}, [], 'no failed requests');
  is_deeply($res->{foreign_requests}, [], 'no request leaves the origin');
  my %seen = map { ("$_->[0] $_->[1]" => 1) } @{ $res->{routes} || [] };
  is_deeply([sort keys %seen], [sort keys %ops], 'the rendered page lists every route of openapi.json');
  is($res->{visible_headings}, scalar(keys %ops), 'every route heading is visible');
  my %nojs = map { ("$_->[0] $_->[1]" => 1) } @{ $res->{routes_nojs} || [] };
  is_deeply([sort keys %nojs], [sort keys %ops], 'with JavaScript off too');
  ok(-s $shot && -s $shot > 10_000, "full-page screenshot written ($shot, " . (-s $shot // 0) . ' bytes)');

  # the plain command-line capture, as an operator would take it
  my $win = "$logs/docs-window.png";
  unlink $win;
  my $profile = File::Temp->newdir;
  ($rc, $out, $err) = run_cmd({ timeout => 120 }, $chromium, '--headless', '--no-sandbox', '--disable-gpu',
    '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', "--user-data-dir=$profile", "--screenshot=$win", '--window-size=1280,4000',
    '--enable-logging=stderr', '--v=0', $url);
  ok(-s $win, "chromium --screenshot wrote $win") or diag("rc $rc\n$err");
  my @console = grep { /CONSOLE/ && !/DevTools listening/ } split /\n/, $err;
  is_deeply(\@console, [], 'no console messages in the chromium log');
}

done_testing;
