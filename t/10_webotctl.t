# t/10_webotctl.t: webotctl against a real PostgreSQL (WEBOT_TEST_DB).
# Every command's happy path, JSON shape and error paths, with the database
# effects checked through psql. Independent of test order: every run makes
# its own accounts, emails and jobs.
use strict;
use warnings;

use Test::More;
use FindBin;
use File::Spec;
use File::Temp qw(tempfile tempdir);
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use POSIX ();

my $db = $ENV{WEBOT_TEST_DB};
plan skip_all => 'WEBOT_TEST_DB is not set' unless defined $db && length $db;

my $top = File::Spec->rel2abs("$FindBin::Bin/..");
my $bdir = $ENV{WEBOT_BUILD_DIR} // 'build';
$bdir = "$top/$bdir" unless File::Spec->file_name_is_absolute($bdir);
my $ctl = "$bdir/webotctl";
my $catalog_file = "$top/conf/catalog.json";
my $tmp = tempdir(CLEANUP => 1);
my $uniq = join '', $$, time, int(rand(1e6));

# Our own environment only: the caller's WEBOT_* must not leak in.
delete @ENV{qw(WEBOT_DB WEBOT_SQL_DIR)};
$ENV{WEBOT_CATALOG} = $catalog_file;

ok(-x $ctl, "$ctl is built") or BAIL_OUT("no webotctl at $ctl");

# ---------------------------------------------------------------- helpers

sub slurp {
    my ($f) = @_;
    open my $fh, '<:raw', $f or die "$f: $!";
    local $/;
    my $s = <$fh>;
    return defined $s ? $s : '';
}

# run({stdin => TEXT}, ARGS...) → {rc, out, err}
sub run {
    my ($opt, @args) = @_;
    my $in  = "$tmp/in.$$";
    my $out = "$tmp/out.$$";
    my $err = "$tmp/err.$$";
    open my $fh, '>:raw', $in or die $!;
    print $fh ($opt->{stdin} // '');
    close $fh;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN,  '<', $in  or POSIX::_exit(126);
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>', $err or POSIX::_exit(126);
        exec { $ctl } $ctl, @args or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    return { rc => $? >> 8, out => slurp($out), err => slurp($err) };
}

sub ctl     { run({}, '--db', $db, @_) }
sub ctl_in  { my $in = shift; run({ stdin => $in }, '--db', $db, @_) }

# psql -At; dies on SQL errors.
sub psql {
    my ($sql, $conninfo) = @_;
    open my $fh, '-|', 'psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1',
        '-d', $conninfo // $db, '-c', $sql
        or die "psql: $!";
    local $/;
    my $r = <$fh> // '';
    close $fh or die "psql failed ($?): $sql\n";
    $r =~ s/\n\z//;
    return $r;
}

# A value safe to inline in SQL in these tests (our ids and emails).
sub q_ {
    my ($s) = @_;
    die "unsafe test literal: $s" unless $s =~ /\A[A-Za-z0-9_.\@:+-]*\z/;
    return "'$s'";
}

# stdout is exactly one JSON object and a newline; returns it.
sub one_json {
    my ($r, $name) = @_;
    my $obj = eval {
        die "not one line\n" unless $r->{out} =~ /\A\{[^\n]*\}\n\z/;
        decode_json($r->{out});
    };
    ok(ref $obj eq 'HASH', "$name: stdout is one JSON object")
        or diag("stdout: $r->{out}\nstderr: $r->{err}\n$@");
    return $obj // {};
}

sub keys_are {
    my ($obj, $want, $name) = @_;
    is_deeply([sort keys %$obj], [sort @$want], "$name: JSON keys");
}

# exit code 1, one message on stderr, nothing on stdout
sub fails_with {
    my ($r, $re, $name) = @_;
    is($r->{rc}, 1, "$name: exit 1");
    like($r->{err}, $re, "$name: message");
    is($r->{out}, '', "$name: nothing on stdout");
}

sub usage_error {
    my ($r, $name) = @_;
    is($r->{rc}, 2, "$name: exit 2");
    like($r->{err}, qr/\Awebotctl: .*\n.*usage: webotctl/s,
         "$name: problem and usage on stderr");
    is($r->{out}, '', "$name: nothing on stdout");
}

my $n = 0;
sub new_account {
    my $r = ctl('account', 'create', '--name', "t10 $uniq " . ++$n);
    is($r->{rc}, 0, 'account for the test') or diag($r->{err});
    chomp(my $id = $r->{out});
    return $id;
}

sub email { return 't10.' . $uniq . '.' . ++$n . '@Example.COM' }

my $catalog = decode_json(slurp($catalog_file));
my @plan_ids = map { $_->{id} } @{ $catalog->{plans} };
my $nopts = 0;
$nopts += @{ $_->{service_options} } for @{ $catalog->{service_families} };

# ------------------------------------------------------------ usage, help

{
    my $r = run({}, '--help');
    is($r->{rc}, 0, '--help exits 0');
    like($r->{out}, qr/\b$_\b/, "--help lists $_")
        for qw(migrate account user entitlement key job catalog);

    usage_error(run({}), 'no command');
    usage_error(ctl('frobnicate'), 'unknown command');
    usage_error(run({}, '--frob', 'migrate'), 'unknown global flag');
    usage_error(ctl('account', 'create', '--nmae', 'x'), 'unknown flag');
    usage_error(ctl('account', 'create', '--name'), 'flag without value');
    usage_error(ctl('account', 'create'), 'missing --name');
    usage_error(ctl('account', 'delete', '--name', 'x'), 'unknown subcommand');
    usage_error(ctl('account', 'create', '--name', 'a', '--name', 'b'),
                'flag given twice');
    usage_error(ctl('key', 'create', '--account', 'acct_x'), 'missing --name');
    usage_error(ctl('user', 'create', '--account', 'acct_x', '--email',
                    'a@b.co', '--role', 'owner'), 'missing --password-stdin');
    usage_error(ctl('job', 'review', 'job_x'), 'review without a decision');
    usage_error(ctl('job', 'review', 'job_x', '--release', '--reject'),
                'review with both decisions');
    usage_error(ctl('job', 'review', '--reject'), 'review without job id');
    usage_error(ctl('entitlement', 'grant', '--account', 'acct_x', '--plan',
                    'agent_pro', 'extra'), 'unexpected argument');
    usage_error(ctl('--json=1', 'migrate'), '--json with a value');
}

# ------------------------------------------------------ connection errors

{
    my $secret = "s3cret-$uniq";
    my $r = run({}, '--db', "host=127.0.0.1 port=1 dbname=nodb user=nobody "
                            . "password=$secret connect_timeout=5",
                'account', 'create', '--name', 'x');
    is($r->{rc}, 1, 'unreachable database: exit 1');
    like($r->{err}, qr/\Awebotctl: cannot connect to the database [^\n]*\n\z/,
         'unreachable database: one line');
    unlike($r->{err}, qr/\Q$secret\E/, 'unreachable database: no password');

    $r = run({}, '--db', "password=$secret port", 'account', 'create',
             '--name', 'x');
    is($r->{rc}, 1, 'bad connection string: exit 1');
    unlike($r->{err}, qr/\Q$secret\E/, 'bad connection string: no password');
    like($r->{err}, qr/\Awebotctl: [^\n]+\n\z/, 'bad connection string: one line');
}

# --------------------------------------------------------- catalog check

{
    my $r = ctl('catalog', 'check', $catalog_file);
    is($r->{rc}, 0, 'catalog check: exit 0') or diag($r->{err});
    my $nf = @{ $catalog->{service_families} };
    my $np = @plan_ids;
    is($r->{out}, "$catalog_file: ok ($nf families, $nopts options, $np plans)\n",
       'catalog check: summary line');
    cmp_ok($nf, '>=', 3, 'example catalog has three or more families');
    ok((grep { $_->{review_required} } @{ $catalog->{service_families} }),
       'example catalog has a review_required family');
    is_deeply([sort @plan_ids],
              [sort qw(human_starter agent_trial agent_pro both_team)],
              'example catalog plans');

    $r = ctl('--json', 'catalog', 'check', $catalog_file);
    my $j = one_json($r, 'catalog check --json');
    keys_are($j, [qw(file ok families options plans)], 'catalog check --json');
    is($j->{options}, $nopts, 'catalog check --json: options');

    $r = run({}, 'catalog', 'check');
    is($r->{rc}, 0, 'catalog check without FILE uses WEBOT_CATALOG');

    my $bad = "$tmp/bad.json";
    my $c = decode_json(slurp($catalog_file));
    $c->{service_families}[0]{id} = 'Bad-Id';
    open my $fh, '>', $bad or die $!;
    print $fh encode_json($c);
    close $fh;
    fails_with(run({}, 'catalog', 'check', $bad),
               qr/\A\Q$bad\E: \$\.service_families\[0\]\.id: [^\n]+\n\z/,
               'catalog check of a bad file');
    fails_with(run({}, 'catalog', 'check', "$tmp/missing.json"),
               qr/missing\.json/, 'catalog check of a missing file');
}

# ---------------------------------------------------------------- migrate

{
    my $r = ctl('--sql-dir', "$top/sql", 'migrate');
    is($r->{rc}, 0, 'migrate on the test database: exit 0') or diag($r->{err});
    $r = ctl('--json', '--sql-dir', "$top/sql", 'migrate');
    my $j = one_json($r, 'migrate --json');
    keys_are($j, [qw(applied applied_before)], 'migrate --json');
    is_deeply($j->{applied}, [], 'migrate --json: nothing left to apply');
    is(psql("SELECT count(*) FROM schema_migrations WHERE version = '001_init'"),
       1, 'schema_migrations records 001_init');

    # A fresh schema: two concurrent runs apply each file exactly once.
    my $schema = "t10_mig_$uniq";
    my $created = eval { psql("CREATE SCHEMA $schema"); 1 };
  SKIP: {
        skip 'cannot create a schema in the test database', 7 unless $created;
        my $conn = "$db options='-csearch_path=$schema'";
        opendir my $d, "$top/sql" or die $!;
        my @files = sort map { /\A(\d{3}_[A-Za-z0-9_-]+)\.sql\z/ ? $1 : () }
                    readdir $d;
        my @pids;
        for my $i (1, 2) {
            my $pid = fork // die;
            if (!$pid) {
                open STDOUT, '>', "$tmp/mig$i.out";
                open STDERR, '>', "$tmp/mig$i.err";
                exec($ctl, '--db', $conn, '--json', '--sql-dir', "$top/sql",
                     'migrate') or POSIX::_exit(127);
            }
            push @pids, $pid;
        }
        my @rc = map { waitpid($_, 0); $? >> 8 } @pids;
        is_deeply(\@rc, [0, 0], 'concurrent migrate: both exit 0')
            or diag(slurp("$tmp/mig1.err") . slurp("$tmp/mig2.err"));
        my @applied = map { @{ decode_json(slurp("$tmp/mig$_.out"))->{applied} } }
                      (1, 2);
        is_deeply([sort @applied], \@files,
                  'concurrent migrate: each file applied once');
        is(psql("SELECT string_agg(version, ',' ORDER BY version) "
                . "FROM $schema.schema_migrations"),
           join(',', @files), 'concurrent migrate: all recorded');
        is(psql("SELECT count(*) FROM pg_tables WHERE schemaname = '$schema' "
                . "AND tablename IN ('accounts', 'jobs', 'job_events')"),
           3, 'migrate created the tables');
        $r = run({}, '--db', $conn, '--sql-dir', "$top/sql", 'migrate');
        is($r->{rc}, 0, 'migrate again: exit 0');
        like($r->{out}, qr/\Aup to date/, 'migrate again: up to date');

        # a failing migration rolls back and is not recorded
        my $dir = "$tmp/sql";
        mkdir $dir;
        open my $fh, '>', "$dir/001_ok.sql" or die $!;
        print $fh "CREATE TABLE t10_ok (x int);\n";
        close $fh;
        open $fh, '>', "$dir/002_broken.sql" or die $!;
        print $fh "CREATE TABLE t10_half (x int);\nSELECT no_such_column FROM t10_half;\n";
        close $fh;
        psql("DROP TABLE $schema.schema_migrations");
        $r = run({}, '--db', $conn, '--sql-dir', $dir, 'migrate');
        is($r->{rc}, 1, 'broken migration: exit 1');
        like($r->{err}, qr/002_broken/, 'broken migration: named');
        is(psql("SELECT (SELECT string_agg(version, ',' ORDER BY version)"
                . " FROM $schema.schema_migrations)"
                . " || (SELECT count(*) FROM pg_tables WHERE schemaname = "
                . "'$schema' AND tablename = 't10_half')"),
           '001_ok0', 'broken migration: earlier one kept, broken one rolled back');
        psql("SET client_min_messages = warning; DROP SCHEMA $schema CASCADE");
    }
}

# ---------------------------------------------------------- account create

my $acct;
{
    my $r = ctl('account', 'create', '--name', "t10 $uniq");
    is($r->{rc}, 0, 'account create: exit 0') or diag($r->{err});
    like($r->{out}, qr/\Aacct_[a-z2-7]{26}\n\z/, 'account create: prints the id');
    chomp($acct = $r->{out});
    is(psql('SELECT name FROM accounts WHERE id = ' . q_($acct)), "t10 $uniq",
       'account create: row');

    $r = ctl('account', 'create', '--name', "t10 json $uniq", '--json');
    my $j = one_json($r, 'account create --json (flag after the command)');
    keys_are($j, ['id'], 'account create --json');
    like($j->{id}, qr/\Aacct_[a-z2-7]{26}\z/, 'account create --json: id');
    is(psql('SELECT count(*) FROM accounts WHERE id = ' . q_($j->{id})), 1,
       'account create --json: row');

    fails_with(ctl('account', 'create', '--name', 'x' x 201),
               qr/--name/, 'account create with a too long name');
}

# ------------------------------------------------------------- user create

{
    my $em = email();
    my $r = ctl_in("correct horse battery\n", 'user', 'create', '--account',
                   $acct, '--email', $em, '--role', 'owner',
                   '--password-stdin');
    is($r->{rc}, 0, 'user create: exit 0') or diag($r->{err});
    like($r->{out}, qr/\Ausr_[a-z2-7]{26}\n\z/, 'user create: prints the id');
    chomp(my $uid = $r->{out});
    my ($email, $role, $acc, $hash) = split /\|/, psql(
        'SELECT email, role, account_id, password_hash FROM users WHERE id = '
        . q_($uid));
    is($email, lc $em, 'user create: email lower-cased');
    is($role, 'owner', 'user create: role');
    is($acc, $acct, 'user create: account');
    like($hash, qr/\A\$2y\$10\$[.\/A-Za-z0-9]{53}\z/, 'user create: bcrypt cost 10');

    my $em2 = email();
    $r = ctl_in("another password", '--json', 'user', 'create', '--account',
                $acct, '--email', $em2, '--role', 'member', '--password-stdin');
    my $j = one_json($r, 'user create --json');
    keys_are($j, ['id'], 'user create --json');
    like($j->{id}, qr/\Ausr_/, 'user create --json: id');
    is(psql('SELECT role FROM users WHERE id = ' . q_($j->{id})), 'member',
       'user create --json: row');

    fails_with(ctl_in("correct horse battery\n", 'user', 'create', '--account',
                      $acct, '--email', uc $em, '--role', 'admin',
                      '--password-stdin'),
               qr/already exists/, 'user create with a duplicate email');
    my $em3 = email();
    fails_with(ctl_in("correct horse battery\n", 'user', 'create', '--account',
                      "acct_nosuch$uniq", '--email', $em3, '--role', 'owner',
                      '--password-stdin'),
               qr/unknown account/, 'user create for an unknown account');
    fails_with(ctl_in("correct horse battery\n", 'user', 'create', '--account',
                      $acct, '--email', $em3, '--role', 'superuser',
                      '--password-stdin'),
               qr/role/, 'user create with a bad role');
    for my $bad ('no-at-sign', 'a@b', 'a@@b.com', 'a b@c.com', '@example.com',
                 ('x' x 250) . '@example.com') {
        fails_with(ctl_in("correct horse battery\n", 'user', 'create',
                          '--account', $acct, '--email', $bad, '--role',
                          'owner', '--password-stdin'),
                   qr/email/, "user create with bad email '"
                               . substr($bad, 0, 20) . "'");
    }
    for my $case (['', 'empty'], ["\n", 'empty line'], ["short\n", 'too short'],
                  [('p' x 1025) . "\n", 'over 1024 bytes'],
                  [('p' x 1024) . "\r" . ('q' x 20) . "\r\n",
                   'over 1024 bytes with a CR at byte 1025']) {
        fails_with(ctl_in($case->[0], 'user', 'create', '--account', $acct,
                          '--email', $em3, '--role', 'owner',
                          '--password-stdin'),
                   qr/password/, "user create with a password: $case->[1]");
    }
    is(psql('SELECT count(*) FROM users WHERE email = ' . q_(lc $em3)), 0,
       'failed user creations left no row');
    $r = ctl_in(('p' x 1024) . "\r\n", 'user', 'create', '--account', $acct,
                '--email', $em3, '--role', 'admin', '--password-stdin');
    is($r->{rc}, 0, 'user create with a 1024-byte password (CRLF)')
        or diag($r->{err});
}

# ------------------------------------------------------- entitlement grant

{
    my $a = new_account();
    my $r = ctl('entitlement', 'grant', '--account', $a, '--plan', 'agent_pro');
    is($r->{rc}, 0, 'entitlement grant: exit 0') or diag($r->{err});
    is(psql('SELECT plan_id, status, source, expires_at IS NULL,'
            . ' monthly_jobs IS NULL AND max_active_jobs IS NULL'
            . ' AND rate_limit_per_minute IS NULL,'
            . " period_end = period_start + interval '1 month',"
            . " abs(extract(epoch FROM now() - period_start)) < 60"
            . ' FROM entitlements WHERE account_id = ' . q_($a)),
       'agent_pro|active|manual|t|t|t|t', 'entitlement grant: row');

    # an existing (Stripe, past due) row is replaced but keeps Stripe ids
    psql("UPDATE entitlements SET status = 'past_due', source = 'stripe',"
         . " past_due_since = now(), stripe_customer_id = 'cus_t10',"
         . " stripe_sub_event_created = 42 WHERE account_id = " . q_($a));
    $r = ctl('--json', 'entitlement', 'grant', '--account', $a, '--plan',
             'both_team', '--days', '30', '--monthly-jobs', '7',
             '--max-active-jobs', '0', '--rate-limit-per-minute', '10000000');
    my $j = one_json($r, 'entitlement grant --json');
    keys_are($j, [qw(account_id plan status source)], 'entitlement grant --json');
    is_deeply($j, { account_id => $a, plan => 'both_team', status => 'active',
                    source => 'manual' }, 'entitlement grant --json: values');
    is(psql('SELECT plan_id, status, source, past_due_since IS NULL,'
            . ' monthly_jobs, max_active_jobs, rate_limit_per_minute,'
            . ' stripe_customer_id, stripe_sub_event_created,'
            . " expires_at BETWEEN now() + interval '29 days 23 hours'"
            . " AND now() + interval '30 days 1 hour'"
            . ' FROM entitlements WHERE account_id = ' . q_($a)),
       'both_team|active|manual|t|7|0|10000000|cus_t10|42|t',
       'entitlement grant with overrides: row');

    $r = ctl('entitlement', 'grant', '--account', $a, '--plan', 'gold_plan');
    fails_with($r, qr/unknown plan/, 'entitlement grant of an unknown plan');
    like($r->{err}, qr/\b\Q$_\E\b/, "unknown plan: lists $_") for @plan_ids;
    fails_with(ctl('entitlement', 'grant', '--account', "acct_nosuch$uniq",
                   '--plan', 'agent_pro'),
               qr/unknown account/, 'entitlement grant for an unknown account');
    for my $bad (['--days', '0'], ['--days', '3651'], ['--days', 'ten'],
                 ['--monthly-jobs', '-1'], ['--max-active-jobs', '10000001'],
                 ['--rate-limit-per-minute', '1.5']) {
        fails_with(ctl('entitlement', 'grant', '--account', $a, '--plan',
                       'agent_pro', @$bad),
                   qr/\Q$bad->[0]\E/, "entitlement grant @$bad");
    }
    fails_with(ctl('--catalog', "$tmp/missing.json", 'entitlement', 'grant',
                   '--account', $a, '--plan', 'agent_pro'),
               qr/missing\.json/, 'entitlement grant with a missing catalog');
    is(psql('SELECT plan_id FROM entitlements WHERE account_id = ' . q_($a)),
       'both_team', 'failed grants changed nothing');
}

# -------------------------------------------------------------- key create

{
    my $r = ctl('key', 'create', '--account', $acct, '--name', 'ci agent');
    is($r->{rc}, 0, 'key create: exit 0') or diag($r->{err});
    like($r->{out}, qr/\Awbt_[0-9A-Za-z]{32,}\n\z/, 'key create: prints the key');
    chomp(my $key = $r->{out});
    my $row = psql('SELECT id, name, prefix, array_to_string(scopes, \',\'),'
                   . " revoked_at IS NULL FROM api_keys WHERE key_hash ="
                   . " decode('" . sha256_hex($key) . "', 'hex')");
    my ($kid, $name, $prefix, $scopes, $live) = split /\|/, $row;
    like($kid // '', qr/\Akey_[a-z2-7]{26}\z/, 'key create: stored by sha256');
    is($name, 'ci agent', 'key create: name');
    is($prefix, "wbt_\x{e2}\x{80}\x{a6}" . substr($key, -4), 'key create: prefix');
    is($scopes, 'account:read,jobs:read,jobs:write,files:write',
       'key create: default scopes');
    is($live, 't', 'key create: not revoked');
    is(psql("SELECT count(*) FROM api_keys WHERE prefix LIKE '%"
            . substr($key, 4) . "%'"), 0, 'key create: plaintext not stored');

    $r = ctl('--json', 'key', 'create', '--account', $acct, '--name', 'ro',
             '--scopes', 'jobs:read,account:read,jobs:read');
    my $j = one_json($r, 'key create --json');
    keys_are($j, [qw(id key prefix)], 'key create --json');
    like($j->{id}, qr/\Akey_/, 'key create --json: id');
    like($j->{key}, qr/\Awbt_/, 'key create --json: key');
    is($j->{prefix}, "wbt_\x{2026}" . substr($j->{key}, -4),
       'key create --json: prefix');
    is(psql('SELECT array_to_string(scopes, \',\') FROM api_keys WHERE id = '
            . q_($j->{id})), 'account:read,jobs:read',
       'key create --json: scopes de-duplicated');

    fails_with(ctl('key', 'create', '--account', $acct, '--name', 'x',
                   '--scopes', 'jobs:read,admin:all'),
               qr/unknown scope/, 'key create with a bad scope');
    fails_with(ctl('key', 'create', '--account', $acct, '--name', 'x',
                   '--scopes', 'jobs:read,'),
               qr/scope/, 'key create with an empty scope');
    fails_with(ctl('key', 'create', '--account', "acct_nosuch$uniq", '--name',
                   'x'), qr/unknown account/, 'key create for an unknown account');
}

# -------------------------------------------------------------- job review

# Listens on webot_job_events in a psql process fed through a pipe.
sub listener_start {
    my $app = "t10_listen_$uniq";
    pipe(my $r, my $w) or die $!;
    my $pid = fork // die;
    if (!$pid) {
        close $w;
        open STDIN, '<&', $r or POSIX::_exit(126);
        open STDOUT, '>', "$tmp/listen.out";
        open STDERR, '>&', \*STDOUT;
        exec('psql', '-X', '-d', "$db application_name=$app")
            or POSIX::_exit(127);
    }
    close $r;
    $w->autoflush(1);
    print $w "LISTEN webot_job_events;\n";
    for (1 .. 100) {
        last if psql("SELECT count(*) FROM pg_stat_activity WHERE"
                     . " application_name = '$app' AND state = 'idle'"
                     . " AND query LIKE 'LISTEN%'") == 1;
        select undef, undef, undef, 0.1;
    }
    return { pid => $pid, w => $w };
}

sub listener_stop {
    my ($l) = @_;
    print { $l->{w} } "SELECT 1;\n\\q\n";
    close $l->{w};
    waitpid $l->{pid}, 0;
    return slurp("$tmp/listen.out");
}

{
    my $a = new_account();
    my $period = '2001-02-01 00:00:00+00';
    psql("INSERT INTO quota_periods (account_id, period_start, period_end, used)"
         . ' VALUES (' . q_($a) . ", '$period', '$period'::timestamptz"
         . " + interval '1 month', 5)");
    my $job = sub {
        my ($status, $refunded) = @_;
        my $id = 'job_t10' . lc($uniq) . ++$n;
        psql('INSERT INTO jobs (id, account_id, status, service_family,'
             . ' service_option, max_revisions, quota_period_start,'
             . ' quota_refunded, event_seq) VALUES (' . q_($id) . ', '
             . q_($a) . ", '$status', 'research_brief', 'market_scan', 2,"
             . " '$period', " . ($refunded ? 'true' : 'false') . ', 4)');
        return $id;
    };
    my $used = sub {
        psql('SELECT used FROM quota_periods WHERE account_id = ' . q_($a));
    };
    my $note = "staff-only note $uniq";

    my $j1 = $job->('needs_review', 0);
    my $l = listener_start();
    my $r = ctl('job', 'review', $j1, '--reject', '--note', $note);
    my $heard = listener_stop($l);
    is($r->{rc}, 0, 'job review --reject: exit 0') or diag($r->{err});
    like($r->{out}, qr/\A\Q$j1\E: rejected/, 'job review --reject: output');
    like($heard, qr/Asynchronous notification "webot_job_events" with payload "\Q$j1\E"/,
         'job review: NOTIFY webot_job_events with the job id');
    is(psql('SELECT status, staff_note, event_seq, quota_refunded FROM jobs'
            . ' WHERE id = ' . q_($j1)), "rejected|$note|5|t",
       'job review --reject: job row');
    is(psql('SELECT seq, type, status, account_id, message <> \'\''
            . ' FROM job_events WHERE job_id = ' . q_($j1)),
       "5|job.rejected|rejected|$a|t", 'job review --reject: event');
    unlike(psql('SELECT message FROM job_events WHERE job_id = ' . q_($j1)),
           qr/\Q$uniq\E/, 'job review: event message never has the staff note');
    is($used->(), 4, 'job review --reject: quota unit refunded');

    $r = ctl('job', 'review', $j1, '--reject');
    fails_with($r, qr/rejected/, 'second review of a rejected job');
    like($r->{err}, qr/needs_review/, 'second review: names the wanted status');
    is($used->(), 4, 'second review: no second refund');
    is(psql('SELECT count(*) FROM job_events WHERE job_id = ' . q_($j1)), 1,
       'second review: no event');

    my $j2 = $job->('needs_review', 0);
    $r = ctl('--json', 'job', 'review', $j2, '--release');
    my $j = one_json($r, 'job review --release --json');
    is_deeply($j, { id => $j2, status => 'ready_for_customer_review' },
              'job review --release --json: {id, status}');
    is(psql('SELECT j.status, j.event_seq, e.seq, e.type FROM jobs j'
            . ' JOIN job_events e ON e.job_id = j.id WHERE j.id = ' . q_($j2)),
       'ready_for_customer_review|5|5|job.ready_for_customer_review',
       'job review --release: job and event');
    is($used->(), 4, 'job review --release: no refund');

    my $j3 = $job->('needs_review', 1);
    $r = ctl('job', 'review', $j3, '--reject');
    is($r->{rc}, 0, 'reject of an already refunded job: exit 0');
    is($used->(), 4, 'reject of an already refunded job: no second refund');

    # (a terminal status: the module's worker, if one runs against this
    # database, never claims it)
    my $j4 = $job->('completed', 0);
    fails_with(ctl('job', 'review', $j4, '--release'), qr/is completed/,
               'review of a job not in needs_review');
    is(psql('SELECT status, event_seq FROM jobs WHERE id = ' . q_($j4)),
       'completed|4', 'review of a completed job changed nothing');
    fails_with(ctl('job', 'review', "job_nosuch$uniq", '--reject'),
               qr/unknown job/, 'review of an unknown job');
}

done_testing();
