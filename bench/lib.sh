# bench/lib.sh: helpers the bench scripts share (sourced, after TOP is set).

# bench_json_get FIELD < JSON: one top-level field of a JSON object.
bench_json_get() {
  perl -MJSON::PP -e 'my $f = shift; local $/; print JSON::PP->new->decode(<STDIN>)->{$f} // ""' "$1"
}

# bench_account DB NAME KEY_OPTS GRANT_OPTS...: a new account on the first
# plan of conf/catalog.json that has both api and dashboard access, granted
# with GRANT_OPTS (e.g. --rate-limit-per-minute 10000000), and a key made
# with KEY_OPTS (a single word list, "" for none). Prints "ACCOUNT KEY".
bench_account() {
  local db=$1 name=$2 key_opts=$3 ctl=${WEBOT_BUILD_DIR:-$TOP/build}/webotctl plan acct key
  shift 3
  plan=$(perl -MJSON::PP -e 'local $/; open my $f, "<", shift or exit 1; my $c = JSON::PP->new->decode(<$f>);
    for (@{ $c->{plans} }) { my %a = map { $_ => 1 } @{ $_->{access} }; if ($a{api} && $a{dashboard}) { print $_->{id}; exit } }
    exit 1' "$TOP/conf/catalog.json") || { echo "no plan with api and dashboard in conf/catalog.json" >&2; return 1; }
  acct=$("$ctl" --db "$db" --json account create --name "$name" | bench_json_get id)
  [[ -n "$acct" ]] || return 1
  "$ctl" --db "$db" --json entitlement grant --account "$acct" --plan "$plan" "$@" >/dev/null || return 1
  # shellcheck disable=SC2086
  key=$("$ctl" --db "$db" --json key create --account "$acct" --name "$name" $key_opts | bench_json_get key)
  [[ -n "$key" ]] || return 1
  printf '%s %s\n' "$acct" "$key"
}

# bench_httpd_conf VAR DIR PORT SSL_PORT WITH_MODULE(1|0) > CONF: the dev
# configuration (VAR/httpd/httpd.conf) moved to DIR (pid file, run dir,
# logs, file store) and to PORT/SSL_PORT, with ONE child of 25 threads that
# lives for the whole run; WITH_MODULE 0 drops mod_webot's LoadModule and
# every line that names it (its directives outside <IfDirective>, its
# SetHandlers, its Mutex types).
bench_httpd_conf() {
  perl -pe '
    BEGIN { ($V, $D, $P, $PS, $W) = @ARGV[0..4]; splice @ARGV, 0, 5 }
    s{"\Q$V\E/httpd/run/httpd.pid"}{"$D/httpd.pid"};
    s{\Q$V\E/httpd/run}{$D/run}g;
    s{"\Q$V\E/httpd/error_log"}{"$D/error_log"};
    s{"\Q$V\E/httpd/access_log"}{"$D/access_log"};
    s{127\.0\.0\.1:8080\b}{127.0.0.1:$P}g;
    s{127\.0\.0\.1:8443\b}{127.0.0.1:$PS}g;
    s{WebotFileStore\s+"[^"]*"}{WebotFileStore "$D/files"};
    s{^(\s*StartServers\s+)\d+}{${1}1};
    s{^(\s*ServerLimit\s+)\d+}{${1}1};
    s{^(\s*MaxRequestWorkers\s+)\d+}{${1}25};
    s{^(\s*MaxConnectionsPerChild\s+)\d+}{${1}0};
    $_ = "" if !$W && (/^\s*LoadModule\s+webot_module\b/ || /^\s*Webot\w+\s/ || /SetHandler\s+webot-/
                       || /^\s*Mutex\s+\S+\s+webot-/);
    $seen_mcpc ||= /^\s*MaxConnectionsPerChild\s/;
    $_ .= "MaxConnectionsPerChild 0\n" if eof && !$seen_mcpc;
  ' "$1" "$2" "$3" "$4" "$5" "$1/httpd/httpd.conf"
}
