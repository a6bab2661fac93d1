# /api/v1/openapi.json against the validators and against the live route
# table: @apidevtools/swagger-parser and @redocly/cli lint report no errors
# (t/node-openapi, installed with npm ci), and a drift check: every row of
# mod_webot/routes_*.inc is in the document with its method, path,
# operationId and MCP tool, nothing else is; and the running dispatcher
# knows exactly the document's methods for each path (405 Allow lists them,
# each documented operation reaches its route).
use strict;
use warnings;
use Test::More;
use File::Temp ();
use WebotTest;
use WebotAgents;

my $doc = openapi();
my %ops = doc_operations($doc);
my $tmp = File::Temp->newdir;
my $file = "$tmp/openapi.json";
open my $fh, '>', $file or die "$file: $!";
print {$fh} api_get('/api/v1/openapi.json')->content;
close $fh;

# --- validators ------------------------------------------------------------------
SKIP: {
  skip 'node/npm unavailable (t/node-openapi not installed)', 4
    unless node_ready('t/node-openapi');
  my $dir = top_dir() . '/t/node-openapi';
  my ($rc, $out, $err) = run_cmd({ timeout => 300 }, node_bin(), "$dir/validate.js", $file);
  my $res = eval { json_decode($out) } || {};
  is($rc, 0, 'swagger-parser: the document is valid') or diag("$err$out");
  is($res->{operations}, scalar(keys %ops), "swagger-parser saw all $res->{operations} operations");

  ($rc, $out, $err) = run_cmd({ timeout => 300, cwd => $dir,
                                env => { REDOCLY_TELEMETRY => 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE => 'true',
                                         NO_COLOR => '1', FORCE_COLOR => '0' } },
    "$dir/node_modules/.bin/redocly", 'lint', '--config', "$dir/redocly.yaml", '--format', 'stylish', $file);
  my $all = "$out\n$err";
  is($rc, 0, 'redocly lint: no errors') or diag($all);
  my ($warn) = $all =~ /(\d+) warnings?/;
  ok(!($all =~ /(\d+) errors?/ && $1 > 0), 'redocly reports 0 errors');
  diag("redocly lint warnings: $warn") if $warn;
  # show where each problem is (the document is one line: 1:OFFSET)
  my $text = api_get('/api/v1/openapi.json')->content;
  while ($all =~ /^\s*1:(\d+)\s+(\w+)\s+(\S+)/mg) {
    diag("$2 $3 near: " . substr($text, $1 > 300 ? $1 - 300 : 0, 400));
  }
}

# --- completeness -------------------------------------------------------------------------
ok(length($doc->{info}{title} // '') && length($doc->{info}{version} // '') && $doc->{info}{description},
   'info: title, version, description');
ok(ref $doc->{servers} eq 'ARRAY' && @{ $doc->{servers} }, 'servers');
my %tagnames = map { ($_->{name} => 1) } grep { length($_->{description} // '') } @{ $doc->{tags} || [] };
for my $want (qw(bearerKey sessionCookie csrfToken stripeSignature)) {
  ok($doc->{components}{securitySchemes}{$want}, "security scheme $want");
}
{
  my @bad;
  for my $k (sort keys %ops) {
    my $op = $ops{$k};
    push @bad, "$k: tag not described in tags" unless $tagnames{ $op->{tags}[0] // '' };
    if (my $rb = $op->{requestBody}) {
      my ($media) = values %{ $rb->{content} || {} };
      push @bad, "$k: request body without an example" unless $media && exists $media->{example};
    }
    my $resp = $op->{responses} || {};
    push @bad, "$k: no 4xx response" unless grep { /^4\d\d$/ } keys %$resp;
    for my $st (sort keys %$resp) {
      my $media = $resp->{$st}{content} ? (values %{ $resp->{$st}{content} })[0] : undef;
      my $json = $resp->{$st}{content} && $resp->{$st}{content}{'application/json'};
      if ($st =~ /^2/ && $json && ($json->{schema}{format} // '') ne 'binary') {   # (bytes have none)
        $media = $json;
        push @bad, "$k: $st without an example" unless exists $media->{example};
      }
      if ($st =~ /^[45]/) {
        push @bad, "$k: $st without examples" unless $media && %{ $media->{examples} || {} };
      }
    }
    my ($ok) = grep { /^2/ } sort keys %$resp;
    if (grep { $_->{bearerKey} } @{ $op->{security} || [] }) {
      push @bad, "$k: no RateLimit headers on $ok"
        unless $resp->{$ok}{headers}{RateLimit} && $resp->{$ok}{headers}{'RateLimit-Policy'};
      push @bad, "$k: no 401" unless $resp->{401};
    }
  }
  is_deeply(\@bad, [], 'every operation: tag, examples for requests and answers, 4xx, RateLimit and 401 when authenticated')
    or diag(join "\n", @bad);
}

# --- drift: the route table's rows vs the document ------------------------------------
my %mount = (API => '/api/v1', WEBHOOK => '/api/stripe/webhook', CHECKOUT => '/api/checkout/tier');
my @rows;
for my $inc (sort glob(top_dir() . '/mod_webot/routes_*.inc')) {
  open my $in, '<', $inc or die "$inc: $!";
  local $/;
  my $src = <$in>;
  $src =~ s{/\*.*?\*/}{}gs;
  while ($src =~ /\{\s*"(GET|POST|PUT|DELETE|PATCH)"\s*,\s*WEBOT_MOUNT_(\w+)\s*,\s*"([^"]*)"\s*,\s*"([^"]*)"(.*?)(NULL|"[^"]*")\s*,\s*(\w+)\s*\}/gs) {
    my ($m, $mt, $p, $opid, $tool) = ($1, $2, $3, $4, $6);
    $tool = $tool eq 'NULL' ? undef : substr($tool, 1, -1);
    my $full = $p eq '/' ? $mount{$mt} : ($mount{$mt} // "?$mt") . $p;
    push @rows, { method => $m, path => $full, op => $opid, tool => $tool, file => $inc };
  }
}
ok(@rows >= 7, 'route rows found in mod_webot/routes_*.inc (' . scalar(@rows) . ')');
my %row_by = map { ("$_->{method} $_->{path}" => $_) } @rows;
is_deeply([sort keys %ops], [sort keys %row_by], 'the document has exactly the rows of the route table');
for my $k (sort keys %row_by) {
  my $row = $row_by{$k};
  my $op = $ops{$k} or next;
  is($op->{operationId}, $row->{op}, "$k: operationId $row->{op}");
  is($op->{'x-mcp-tool'}, $row->{tool}, "$k: MCP tool " . ($row->{tool} // 'none'));
}

# --- drift: the running dispatcher vs the document --------------------------------------
my %methods;
for my $k (keys %ops) { my ($m, $p) = split / /, $k, 2; $methods{$p}{$m} = 1 }
for my $path (sort keys %methods) {
  (my $url = $path) =~ s/\{id\}/probe_x1/g;
  my $r = api_request(OPTIONS => $url);
  is($r->status, 405, "OPTIONS $path: 405 (the dispatcher knows the path)");
  my %allow = map { ($_ => 1) } grep { $_ ne 'HEAD' } split /\s*,\s*/, $r->header('Allow') // '';
  # a concrete path also matches templated ones (/jobs/preflight is
  # /jobs/{id} for GET): expect the methods of every documented path that
  # matches this URL
  my %want;
  for my $p (keys %methods) {
    (my $re = quotemeta $p) =~ s/\\\{id\\\}/[A-Za-z0-9_-]{1,64}/g;
    next unless $url =~ /^$re$/;
    $want{$_} = 1 for keys %{ $methods{$p} };
  }
  is_deeply([sort keys %allow], [sort keys %want], "$path: Allow lists the documented methods");
  for my $m (sort keys %{ $methods{$path} }) {
    # no credential and no body: each route refuses in its own way, but none
    # answers "no route" or "method not allowed"
    my $rr = api_request($m => $url, ($m =~ /^P/ ? (body => '', content_type => 'application/json') : ()));
    my $no_route = $rr->status == 404 && ($rr->content // '') =~ /No route matches/;
    ok(!$no_route && $rr->status != 405, "$m $path reaches its route (" . $rr->status . ')')
      or diag($rr->describe);
  }
}

done_testing;
