# `apachectl configtest` (apache2 -t) on a small generated configuration that
# loads the built module: a good catalog and secret pass; a bad catalog, a
# bad secret or a bad WebotMaxBodyBytes stops it with ONE line that names
# the file, the JSON path and the problem.
use strict;
use warnings;
use Test::More;
use JSON::PP ();
use WebotTest;
use WebotFoundation;

my $dir = WebotFoundation::ct_dir();
my $good_catalog = top_dir() . '/conf/catalog.json';

sub write_file {
  my ($name, $text) = @_;
  my $path = "$dir/$name";
  open my $fh, '>', $path or die "$path: $!";
  print {$fh} $text;
  close $fh;
  return $path;
}

my $secret = write_file('secret', ('s' x 48) . "\n");

sub load_good {
  open my $fh, '<', $good_catalog or die "$good_catalog: $!";
  local $/;
  return JSON::PP->new->decode(<$fh>);
}
sub json_of { JSON::PP->new->canonical->encode($_[0]) }

# --- passes -----------------------------------------------------------------------
{
  my ($rc, $out) = configtest(catalog => $good_catalog, secret => $secret);
  is($rc, 0, 'conf/catalog.json and a 48-byte secret pass configtest') or diag($out);
  like($out, qr/Syntax OK/, 'Syntax OK');
  ($rc, $out) = configtest(catalog => $good_catalog, secret => write_file('secret32', ('k' x 32) . "\n\n"));
  is($rc, 0, 'a secret of exactly 32 bytes (trailing newlines not counted) passes') or diag($out);
  ($rc, $out) = configtest(catalog => $good_catalog, secret => $secret,
                           extra => "WebotMaxBodyBytes 1048576");
  is($rc, 0, 'WebotMaxBodyBytes 1048576 passes') or diag($out);
}

# --- bad catalogs ---------------------------------------------------------------------
# [name, file content (or undef: the file does not exist), JSON path, problem regex]
my @bad;
push @bad, ['missing file', undef, '$', qr/unable to open|No such file/i];
push @bad, ['empty file', '', '$', qr/expected/];
push @bad, ['bad JSON', qq({"service_families": [ {"id": "x", }\n), '$', qr/line \d+/];
push @bad, ['duplicate key', qq({"plans": [], "plans": []}), '$', qr/duplicate/];
push @bad, ['not an object', qq([1, 2]), '$', qr/must be a JSON object/];
{
  my $c = load_good(); $c->{colour} = 'blue';
  push @bad, ['unknown top-level field', json_of($c), '$.colour', qr/unknown field/];
}
{
  my $c = load_good(); $c->{service_families}[1]{intake_fields}[0]{hint} = 'x';
  push @bad, ['unknown field deep inside', json_of($c), '$.service_families[1].intake_fields[0].hint', qr/unknown field/];
}
{
  my $c = load_good(); $c->{service_families}[2]{id} = $c->{service_families}[0]{id};
  push @bad, ['duplicate family id', json_of($c), '$.service_families[2].id', qr/duplicate id/];
}
{
  my $c = load_good(); $c->{plans}[1]{id} = $c->{plans}[0]{id};
  push @bad, ['duplicate plan id', json_of($c), '$.plans[1].id', qr/duplicate id/];
}
{
  my $c = load_good();
  $c->{service_families}[1]{service_options}[0]{id} = $c->{service_families}[0]{service_options}[0]{id};
  push @bad, ['duplicate option id across families', json_of($c), '$.service_families[1].service_options[0].id', qr/duplicate id/];
}
{
  my $c = load_good(); $c->{plans}[0]{limits}{monthly_jobs} = -5;
  push @bad, ['negative monthly_jobs', json_of($c), '$.plans[0].limits.monthly_jobs', qr/must be an integer from 0 to/];
}
{
  my $c = load_good(); $c->{plans}[2]{limits}{rate_limit_per_minute} = 0;
  push @bad, ['zero rate limit', json_of($c), '$.plans[2].limits.rate_limit_per_minute', qr/must be an integer from 1 to/];
}
{
  my $c = load_good(); $c->{plans}[1]{limits}{max_active_jobs} = '3';
  push @bad, ['limit as a string', json_of($c), '$.plans[1].limits.max_active_jobs', qr/must be an integer/];
}
{
  my $c = load_good(); $c->{plans}[1]{limits}{max_revisions} = 2.5;
  push @bad, ['fractional limit', json_of($c), '$.plans[1].limits.max_revisions', qr/must be an integer/];
}
{
  my $c = load_good(); delete $c->{plans}[3]{limits}{max_upload_bytes};
  push @bad, ['missing limit', json_of($c), '$.plans[3].limits.max_upload_bytes', qr/is required/];
}
{
  my $c = load_good(); $c->{plans}[0]{access} = ['dashboard', 'phone'];
  push @bad, ['unknown access kind', json_of($c), '$.plans[0].access[1]', qr/"api" or "dashboard"/];
}
{
  my $c = load_good(); $c->{plans}[0]{price}{interval} = 'week';
  push @bad, ['bad price interval', json_of($c), '$.plans[0].price.interval', qr/"month" or "year"/];
}
{
  my $c = load_good(); $c->{service_families}[0]{intake_fields}[0]{max_length} = 0;
  push @bad, ['intake max_length 0', json_of($c), '$.service_families[0].intake_fields[0].max_length', qr/must be an integer from 1/];
}
{
  my $c = load_good(); $c->{service_families} = [];
  push @bad, ['no families', json_of($c), '$.service_families', qr/at least 1/];
}

my $n = 0;
for my $case (@bad) {
  my ($name, $text, $jpath, $problem) = @$case;
  my $file = defined $text ? write_file('catalog-' . ++$n . '.json', $text) : "$dir/no-such-catalog.json";
  my ($rc, $out) = configtest(catalog => $file, secret => $secret);
  subtest "bad catalog: $name" => sub {
    isnt($rc, 0, 'configtest fails') or diag($out);
    unlike($out, qr/Syntax OK/, 'no "Syntax OK"');
    my @lines = grep { index($_, $file) >= 0 } split /\n/, $out;
    is(scalar @lines, 1, 'exactly one line names the file') or diag($out);
    my $line = $lines[0] // '';
    like($line, qr/^WebotCatalogFile: /, 'the line names the directive');
    like($line, qr/\Q$file\E: \Q$jpath\E: /, "the line names the file and the JSON path $jpath");
    like($line, $problem, 'the line says what is wrong');
  };
}

# --- bad secrets ----------------------------------------------------------------------------
for my $case (
  ['31 bytes', ('x' x 31) . "\n", qr/at least 32 bytes/],
  ['only whitespace', "   \n\t\n", qr/at least 32 bytes/],
  ['empty', '', qr/at least 32 bytes/],
) {
  my ($name, $text, $problem) = @$case;
  my $file = write_file('secret-' . ++$n, $text);
  my ($rc, $out) = configtest(catalog => $good_catalog, secret => $file);
  isnt($rc, 0, "secret $name: configtest fails") or diag($out);
  my @lines = grep { index($_, $file) >= 0 } split /\n/, $out;
  is(scalar @lines, 1, "secret $name: one line names the file") or diag($out);
  like($lines[0] // '', qr/^WebotSecretFile: .*$problem/, "secret $name: WebotSecretFile and the problem");
  unlike($out, qr/x{31}/, "secret $name: the secret itself is not printed");
}
{
  my $file = "$dir/no-such-secret";
  my ($rc, $out) = configtest(catalog => $good_catalog, secret => $file);
  isnt($rc, 0, 'missing secret file: configtest fails');
  like($out, qr/^WebotSecretFile: cannot open \Q$file\E/m, 'missing secret file: named');
}
{
  my $big = write_file('secret-big', 'y' x 70000);
  my ($rc, $out) = configtest(catalog => $good_catalog, secret => $big);
  isnt($rc, 0, 'a 70000-byte secret file is refused');
  like($out, qr/^WebotSecretFile: .*\Q$big\E/m, 'and named');
}

# --- WebotMaxBodyBytes ----------------------------------------------------------------------
for my $v ('abc', '100', '1023', '99999999999', '-1', '64k', '1024 ', '0x400') {
  my ($rc, $out) = configtest(catalog => $good_catalog, secret => $secret,
                              extra => qq{WebotMaxBodyBytes "$v"});
  isnt($rc, 0, "WebotMaxBodyBytes \"$v\": configtest fails") or diag($out);
  my ($line) = grep { /^WebotMaxBodyBytes/ } split /\n/, $out;
  like($line // '', qr/^WebotMaxBodyBytes: "\Q$v\E" is not an integer/, "WebotMaxBodyBytes \"$v\": named with the value")
    or diag($out);
  like($line // '', qr/from 1024 to 16777216/, "WebotMaxBodyBytes \"$v\": the allowed range");
}
{
  my ($rc, $out) = configtest(catalog => $good_catalog, secret => $secret, extra => 'WebotMaxBodyBytes ""');
  isnt($rc, 0, 'WebotMaxBodyBytes "" (empty): configtest fails');
  like($out, qr/^WebotMaxBodyBytes /m, 'WebotMaxBodyBytes "": named');
}
for my $v ('1024', '16777216') {
  my ($rc, $out) = configtest(catalog => $good_catalog, secret => $secret, extra => "WebotMaxBodyBytes $v");
  is($rc, 0, "WebotMaxBodyBytes $v (a bound) passes") or diag($out);
}

# --- directive contexts ---------------------------------------------------------------------
{
  my ($rc, $out) = configtest(catalog => $good_catalog, secret => $secret,
    extra => qq{<Location "/api/v1">\n  WebotMaxBodyBytes 2048\n</Location>});
  isnt($rc, 0, 'WebotMaxBodyBytes inside <Location> is refused (server config only)');
  like($out, qr/WebotMaxBodyBytes/, 'and named');
}

# --- database limits: values out of range, or in a <VirtualHost> -----------------------------
for my $case (['WebotDBStatementTimeout -1', 'a negative statement timeout'],
              ['WebotDBStatementTimeout 3601', 'a statement timeout over an hour'],
              ['WebotDBStatementTimeout soon', 'a statement timeout that is not a number'],
              ['WebotDBAcquireTimeout 0', 'an acquire timeout of 0'],
              ['WebotDBMaxConnections 0', 'a connection gate of 0']) {
  my ($line, $what) = @$case;
  my ($rc, $out) = configtest(catalog => $good_catalog, secret => $secret, extra => $line);
  isnt($rc, 0, "$what is refused");
  like($out, qr/\Q${\ (split ' ', $line)[0]}\E/, '... naming the directive');
}
{
  my ($rc, $out) = configtest(catalog => $good_catalog, secret => $secret,
    extra => "WebotDBStatementTimeout 0\nWebotDBStatementTimeout 600");
  is($rc, 0, 'WebotDBStatementTimeout 0 (no limit) and 600 are accepted') or diag($out);
  ($rc, $out) = configtest(catalog => $good_catalog, secret => $secret,
    extra => qq{<VirtualHost *:80>\n  WebotDBStatementTimeout 10\n</VirtualHost>});
  isnt($rc, 0, 'WebotDBStatementTimeout in a <VirtualHost> is refused (global only)');
}

done_testing;
