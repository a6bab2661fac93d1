# Files: upload contracts (POST /api/v1/files/presign) and the local store's
# signed upload (PUT /api/v1/files/upload/{id}) and download
# (GET /api/v1/files/download/{id}) against the test httpd's local store.
use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use POSIX ();
use Time::HiRes ();
use WebotTest;
use WebotFiles;

my $acct  = make_account(plan => 'agent_pro');         # 25 MiB uploads
my $trial = make_account(plan => 'agent_trial');       # 5 MiB uploads
my $other = make_account(plan => 'agent_pro');
my $key = $acct->{key};

sub no_partials {
  my ($id, $name) = @_;
  my @e = grep { /^\Q$id\E/ } store_entries();
  is_deeply(\@e, [], $name // "nothing of $id in the store");
}

# --- presign ---------------------------------------------------------------------
subtest 'presign: the upload contract' => sub {
  my $t0 = time;
  my $r = presign($key, filename => 'brief.pdf', content_type => 'application/pdf',
                  size_bytes => 1234);
  is($r->status, 201, '201 Created') or diag($r->describe);
  my $j = $r->json;
  like($j->{file_id}, qr/^file_[a-z2-7]{26}$/, 'file_id');
  is($j->{filename}, 'brief.pdf', 'filename');
  is($j->{content_type}, 'application/pdf', 'content_type');
  is($j->{size_bytes}, 1234, 'size_bytes');
  is($j->{max_bytes}, 1234, 'max_bytes is the declared size');
  is($j->{status}, 'pending', 'status pending');
  is($j->{upload}{method}, 'PUT', 'method PUT');
  is_deeply($j->{upload}{headers}, { 'Content-Type' => 'application/pdf' }, 'headers');
  like($j->{upload}{url}, qr{^\Q@{[base_url()]}\E/api/v1/files/upload/$j->{file_id}\?expires=\d+&sig=[A-Za-z0-9_-]{43}$},
       'URL of the local store');
  my ($exp) = $j->{upload}{url} =~ /expires=(\d+)/;
  ok($exp >= $t0 + 899 && $exp <= time + 901, 'expires in 900 s (WebotPresignTTL default)');
  is($j->{upload}{expires_at}, POSIX::strftime('%Y-%m-%dT%H:%M:%SZ', gmtime $exp),
     'expires_at is the URL expiry');
  is($r->header('Cache-Control'), 'no-store', 'no-store');
  my $row = file_row($j->{file_id});
  is($row->{status}, 'pending', 'row pending');
  is($row->{account_id}, $acct->{account_id}, 'row of the account');
  is($row->{store}, 'local', 'local store');
  is($row->{expires_epoch}, $exp, 'row expiry = URL expiry');
  is(sign_local('PUT', $j->{file_id}, $exp, 'application/pdf', 1234),
     ($j->{upload}{url} =~ /sig=(.*)$/)[0], 'signature as documented (HMAC over method, id, expiry, type, size)');
};

subtest 'presign: validation' => sub {
  my $e;
  $e = error_ok(presign($key, content_type => 'text/html'), 422, 'VALIDATION_ERROR', 'HTML not allowed');
  is($e->{param}, 'content_type', 'param content_type');
  $e = error_ok(presign($key, content_type => 'image/svg+xml'), 422, 'VALIDATION_ERROR', 'SVG not allowed');
  $e = error_ok(presign($key, content_type => 'nonsense'), 422, 'VALIDATION_ERROR', 'not a media type');
  is($e->{param}, 'content_type', 'param content_type');
  $e = error_ok(presign($key, size_bytes => 0), 422, 'VALIDATION_ERROR', 'size 0');
  is($e->{param}, 'size_bytes', 'param size_bytes');
  $e = error_ok(presign($key, size_bytes => -5), 422, 'VALIDATION_ERROR', 'negative size');
  $e = error_ok(presign($key, size_bytes => 26214401), 422, 'VALIDATION_ERROR', 'over agent_pro max');
  is($e->{param}, 'size_bytes', 'param size_bytes');
  like($e->{message}, qr/26214400/, 'message names the plan maximum');
  is(presign($key, size_bytes => 26214400)->status, 201, 'exactly the plan maximum is fine');
  $e = error_ok(presign($trial->{key}, size_bytes => 5242881), 422, 'VALIDATION_ERROR',
                'over agent_trial max (5 MiB): the plan decides');
  is(presign($trial->{key}, size_bytes => 5242880)->status, 201, 'agent_trial: 5 MiB fine');
  $e = error_ok(presign($key, size_bytes => '5'), 422, 'VALIDATION_ERROR', 'size as string');
  $e = error_ok(presign($key, filename => "a\nb.txt"), 422, 'VALIDATION_ERROR', 'newline in filename');
  is($e->{param}, 'filename', 'param filename');
  error_ok(presign($key, filename => "a\x{7f}b"), 422, 'VALIDATION_ERROR', 'DEL in filename');
  error_ok(presign($key, filename => "a\x{85}b"), 422, 'VALIDATION_ERROR', 'C1 control in filename');
  error_ok(presign($key, filename => ''), 422, 'VALIDATION_ERROR', 'empty filename');
  error_ok(presign($key, filename => 'x' x 256), 422, 'VALIDATION_ERROR', '256 characters');
  is(presign($key, filename => "\x{00e9}" x 255)->status, 201, '255 characters (non-ASCII) fine');
  $e = error_ok(presign($key, purpose => 'avatar'), 422, 'VALIDATION_ERROR', 'purpose');
  is($e->{param}, 'purpose', 'param purpose');
  $e = error_ok(presign($key, purpose => undef), 422, 'VALIDATION_ERROR', 'purpose required');
  $e = error_ok(presign($key, colour => 'red'), 422, 'VALIDATION_ERROR', 'unknown field');
  is($e->{param}, 'colour', 'param names the unknown field');
  $e = error_ok(presign($key, filename => "a\tb", content_type => 'text/html', size_bytes => 0),
                422, 'VALIDATION_ERROR', 'several problems');
  is(scalar @{ $e->{details} }, 3, 'every problem in details');
  is(presign($key, content_type => 'Text/Plain; Charset=UTF-8')->json->{content_type},
     'text/plain; charset=utf-8', 'media type normalised (case)');
  my @ok = map { presign($key, content_type => $_)->status }
    qw(application/pdf text/markdown text/csv application/json image/png image/jpeg image/webp
       application/vnd.openxmlformats-officedocument.wordprocessingml.document);
  is_deeply(\@ok, [(201) x 8], 'documents and images of the default allow-list');
};

subtest 'presign: access' => sub {
  error_ok(api_post('/api/v1/files/presign', json => { filename => 'a', content_type => 'text/plain',
    size_bytes => 1, purpose => 'job_input' }), 401, 'UNAUTHORIZED', 'no credential');
  my $ro = make_account(plan => 'agent_pro', scopes => 'account:read,jobs:read,jobs:write');
  error_ok(presign($ro->{key}), 403, 'FORBIDDEN', 'key without files:write');
  my $none = make_account(plan => 'agent_pro', no_entitlement => 1);
  error_ok(presign($none->{key}), 403, 'ENTITLEMENT_REQUIRED', 'no entitlement');
  error_ok(api_post('/api/v1/files/presign', body => 'x', content_type => 'text/plain', key => $key),
           415, 'UNSUPPORTED_MEDIA_TYPE', 'presign body must be JSON');
};

# --- upload ----------------------------------------------------------------------
my $bytes = join '', map { chr(($_ * 7 + 3) % 256) } 0 .. 99_999;

subtest 'upload: accepted once, streamed into the store with its SHA-256' => sub {
  my $c = presign($key, filename => 'data.bin', content_type => 'application/pdf',
                  size_bytes => length $bytes)->json;
  my $r = put_upload($c, $bytes);
  is($r->status, 200, '200 OK') or diag($r->describe);
  my $j = $r->json;
  is($j->{file_id}, $c->{file_id}, 'file_id');
  is($j->{status}, 'uploaded', 'status uploaded');
  is($j->{sha256}, sha256_hex($bytes), 'sha256 of the bytes');
  is($j->{size_bytes}, length $bytes, 'size');
  like($j->{uploaded_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'uploaded_at');
  is($r->header('X-Content-Type-Options'), 'nosniff', 'nosniff');
  my $row = file_row($c->{file_id});
  is($row->{status}, 'uploaded', 'row uploaded');
  is($row->{sha256}, sha256_hex($bytes), 'row sha256');
  my $path = store_dir() . "/$c->{file_id}";
  ok(-f $path, 'stored under the file id');
  is(-s $path, length $bytes, 'all bytes');
  open my $fh, '<:raw', $path or die; local $/; my $got = <$fh>;
  ok($got eq $bytes, 'the same bytes');
  ok(!-e "$path.part", 'no partial file left');

  my $e = error_ok(put_upload($c, $bytes), 409, 'INVALID_STATE', 'second PUT');
  is_deeply($e->{details}, [{ status => 'uploaded', allowed_actions => [] }], 'details: status uploaded');
  is(file_row($c->{file_id})->{sha256}, sha256_hex($bytes), 'first upload kept');
};

subtest 'upload: signature and expiry (403)' => sub {
  my $c = presign($key, size_bytes => 5)->json;
  my $url = $c->{upload}{url};
  my ($exp) = $url =~ /expires=(\d+)/;
  my $id = $c->{file_id};
  my $bad = $url =~ s/sig=(.)/'sig=' . ($1 eq 'A' ? 'B' : 'A')/er;
  error_ok(api_put($bad, body => 'hello', content_type => 'text/plain'), 403, 'FORBIDDEN', 'tampered signature');
  error_ok(api_put($url =~ s/expires=\d+/'expires=' . ($exp + 3600)/er, body => 'hello',
                   content_type => 'text/plain'), 403, 'FORBIDDEN', 'extended expiry');
  error_ok(api_put($url =~ s/&sig=.*//r, body => 'hello', content_type => 'text/plain'),
           403, 'FORBIDDEN', 'no signature');
  error_ok(api_put(base_url() . "/api/v1/files/upload/$id", body => 'hello', content_type => 'text/plain'),
           403, 'FORBIDDEN', 'no query');
  error_ok(api_put($url . 'x', body => 'hello', content_type => 'text/plain'), 403, 'FORBIDDEN',
           'signature with an extra character');
  # another file's valid signature does not open this one
  my $c2 = presign($key, size_bytes => 5)->json;
  my ($sig2) = $c2->{upload}{url} =~ /(expires=.*)$/;
  error_ok(api_put(base_url() . "/api/v1/files/upload/$id?$sig2", body => 'hello',
                   content_type => 'text/plain'), 403, 'FORBIDDEN', "another contract's signature");
  # the signature covers the declared type and size: a URL signed for other
  # values (here by the test with the server secret) is refused
  error_ok(api_put(local_url('PUT', $id, $exp, 'text/csv', 5), body => 'hello', content_type => 'text/plain'),
           403, 'FORBIDDEN', 'signed for another type');
  error_ok(api_put(local_url('PUT', $id, $exp, 'text/plain', 6), body => 'hello', content_type => 'text/plain'),
           403, 'FORBIDDEN', 'signed for another size');
  error_ok(api_put(local_url('GET', $id, $exp, 'text/plain', 5) =~ s/download/upload/r, body => 'hello',
                   content_type => 'text/plain'), 403, 'FORBIDDEN', 'signed for GET');
  # expired: a correctly signed URL whose expiry passed
  my $past = time - 5;
  my $e = error_ok(api_put(local_url('PUT', $id, $past, 'text/plain', 5), body => 'hello',
                           content_type => 'text/plain'), 403, 'FORBIDDEN', 'expired URL');
  like($e->{message}, qr/expired/, 'says expired');
  is($e->{suggested_endpoint}, 'POST /api/v1/files/presign', 'points at presign');
  # nothing of this used the contract up
  is(file_row($id)->{status}, 'pending', 'still pending');
  no_partials($id);
  is(put_upload($c, 'hello')->status, 200, 'the real URL still works');
  # an expired contract: the row expired (housekeeping) -> 403 even with a good URL
  my $c3 = presign($key, size_bytes => 5)->json;
  psql("UPDATE files SET status = 'expired' WHERE id = '$c3->{file_id}'");
  $e = error_ok(put_upload($c3, 'hello'), 403, 'FORBIDDEN', 'expired contract');
  like($e->{message}, qr/expired/, 'says expired');
};

subtest 'upload: ids and paths' => sub {
  error_ok(api_put(base_url() . '/api/v1/files/upload/file_abc', body => 'x', content_type => 'text/plain'),
           404, 'NOT_FOUND', 'malformed id');
  error_ok(api_put(base_url() . '/api/v1/files/upload/FILE_' . ('a' x 26), body => 'x',
                   content_type => 'text/plain'), 404, 'NOT_FOUND', 'upper-case prefix');
  error_ok(api_put(base_url() . '/api/v1/files/upload/file_' . ('1' x 26), body => 'x',
                   content_type => 'text/plain'), 404, 'NOT_FOUND', 'outside the id alphabet');
  my $r = raw_request(base_url() . '/api/v1/files/upload/..%2f..%2fsecret', body => 'x',
                      headers => ['Content-Type' => 'text/plain', 'Content-Length' => 1]);
  ok($r->{status} == 404 || $r->{status} == 400, "encoded traversal: $r->{status}");
  $r = raw_request(base_url() . '/api/v1/files/upload/../../secret', body => 'x',
                   headers => ['Content-Type' => 'text/plain', 'Content-Length' => 1]);
  ok($r->{status} >= 400 && $r->{status} < 500, "dot segments: $r->{status}");
  error_ok(api_put(base_url() . '/api/v1/files/upload/a/b', body => 'x', content_type => 'text/plain'),
           404, 'NOT_FOUND', 'extra segment');

  # a traversal-looking filename is a display name only
  my @before = store_entries();
  my $name = '../../../etc/passwd';
  my $c = presign($key, filename => $name, size_bytes => 4)->json;
  is($c->{filename}, $name, 'kept as given for display');
  is(put_upload($c, 'root')->status, 200, 'uploaded');
  my @after = store_entries();
  my %b = map { $_ => 1 } @before;
  is_deeply([grep { !$b{$_} } @after], [$c->{file_id}], 'the only new entry is named by the id');
  ok(!-e store_dir() . '/../../../etc/passwd.part', 'nothing written along the filename');
  my $c2 = presign($key, filename => 'C:\\Windows\\x.txt', size_bytes => 1)->json;
  is(put_upload($c2, 'x')->status, 200, 'backslashes too');
  ok(-f store_dir() . "/$c2->{file_id}", 'stored under the id');
};

subtest 'upload: Content-Type must be the declared one (415)' => sub {
  my $c = presign($key, content_type => 'text/csv', size_bytes => 4)->json;
  my $e = error_ok(put_upload($c, 'a,b\n', type => 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE', 'other type');
  like($e->{message}, qr{text/csv}, 'names the declared type');
  error_ok(put_upload($c, 'a,b\n', type => undef), 415, 'UNSUPPORTED_MEDIA_TYPE', 'no type');
  error_ok(put_upload($c, 'a,b\n', type => 'text/csv; charset=utf-8'), 415, 'UNSUPPORTED_MEDIA_TYPE',
           'a charset that was not declared');
  is(file_row($c->{file_id})->{status}, 'pending', 'refused PUTs do not use the contract');
  is(put_upload($c, "a,b\n", type => 'TEXT/CSV')->status, 200, 'same type in other case: accepted');
};

subtest 'upload: over the declared size (413)' => sub {
  my $size = 10_000;
  my $c = presign($key, content_type => 'application/pdf', size_bytes => $size)->json;
  my $id = $c->{file_id};
  # by Content-Length, before a byte of the body is read
  my $r = raw_request($c->{upload}{url}, wait_continue => 1, body => 'x' x ($size + 1),
    headers => ['Content-Type' => 'application/pdf', 'Content-Length' => $size + 1,
                'Expect' => '100-continue']);
  is($r->{status}, 413, '413 by Content-Length') or diag($r->{raw});
  ok(!$r->{continued}, 'answered before the body (no 100 Continue)');
  is($r->{json}{error}{code}, 'PAYLOAD_TOO_LARGE', 'PAYLOAD_TOO_LARGE');
  $r = raw_request($c->{upload}{url}, wait_continue => 1, body => '',
    headers => ['Content-Type' => 'application/pdf', 'Content-Length' => 1 << 40, 'Expect' => '100-continue']);
  is($r->{status}, 413, '413 for a terabyte announced');
  is(file_row($id)->{status}, 'pending', 'still pending');
  no_partials($id);

  # streamed: chunked, no Content-Length, more bytes than declared
  $r = raw_request($c->{upload}{url}, chunks => [('y' x 4096) x 3],
                   headers => ['Content-Type' => 'application/pdf']);
  is($r->{status}, 413, '413 while streaming') or diag($r->{raw});
  is($r->{json}{error}{code}, 'PAYLOAD_TOO_LARGE', 'PAYLOAD_TOO_LARGE');
  no_partials($id, 'the partial file was removed');
  is(file_row($id)->{status}, 'pending', 'contract released');

  # a lying Content-Length cannot smuggle more: the body is what it says
  my $ok = raw_request($c->{upload}{url}, chunks => ['z' x 6000, 'z' x 4000],
                       headers => ['Content-Type' => 'application/pdf']);
  is($ok->{status}, 200, 'then exactly the declared size, chunked: 200') or diag($ok->{raw});
  is($ok->{json}{sha256}, sha256_hex('z' x $size), 'sha256');
  is(-s store_dir() . "/$id", $size, 'stored');
};

subtest 'upload: shorter than declared (400) and broken uploads keep nothing' => sub {
  my $c = presign($key, content_type => 'application/pdf', size_bytes => 5000)->json;
  my $id = $c->{file_id};
  my $r = raw_request($c->{upload}{url}, body => 'x' x 4999,
                      headers => ['Content-Type' => 'application/pdf', 'Content-Length' => 4999]);
  is($r->{status}, 400, '400 for a short body') or diag($r->{raw});
  is($r->{json}{error}{code}, 'BAD_REQUEST', 'BAD_REQUEST');
  like($r->{json}{error}{message}, qr/4999.*5000/, 'says how many bytes came');
  no_partials($id);
  is(file_row($id)->{status}, 'pending', 'contract released');
  $r = raw_request($c->{upload}{url}, chunks => ['x' x 100],
                   headers => ['Content-Type' => 'application/pdf']);
  is($r->{status}, 400, '400 for a short chunked body');
  error_ok(api_put($c->{upload}{url}, body => '', content_type => 'application/pdf'), 400, 'BAD_REQUEST',
           'empty body');

  # the client goes away in the middle: nothing kept, the contract usable
  $r = raw_request($c->{upload}{url}, body => 'q' x 5000, close_after => 2500,
                   headers => ['Content-Type' => 'application/pdf', 'Content-Length' => 5000]);
  my $deadline = time + 10;
  Time::HiRes::sleep(0.2) while time < $deadline && file_row($id)->{status} ne 'pending';
  is(file_row($id)->{status}, 'pending', 'released after the client vanished');
  no_partials($id);
  is(put_upload($c, 'q' x 5000)->status, 200, 'the contract still works');
};

subtest 'upload: concurrent PUTs of one contract, exactly one wins' => sub {
  my $size = 1 << 20;
  my $body = 'c' x $size;
  for my $round (1 .. 3) {
    my $c = presign($key, content_type => 'application/pdf', size_bytes => $size)->json;
    my $n = 8;
    my @kids;
    for my $i (1 .. $n) {
      pipe(my $rd, my $wr) or die;
      my $pid = fork // die;
      if (!$pid) {
        close $rd;
        my $r = raw_request($c->{upload}{url}, body => $body,
                            headers => ['Content-Type' => 'application/pdf', 'Content-Length' => $size]);
        print {$wr} ($r->{status} // 0) . ' ' . ($r->{json} ? $r->{json}{error}{code} // 'ok' : '-');
        close $wr;
        POSIX::_exit(0);
      }
      close $wr;
      push @kids, [$pid, $rd];
    }
    my %seen;
    for (@kids) {
      my ($pid, $rd) = @$_;
      my $line = do { local $/; <$rd> } // '';
      waitpid $pid, 0;
      $seen{$line}++;
    }
    is($seen{'200 ok'} // 0, 1, "round $round: exactly one 200")
      or diag(explain \%seen);
    is(($seen{'409 INVALID_STATE'} // 0), $n - 1, "round $round: the others 409 INVALID_STATE")
      or diag(explain \%seen);
    is(file_row($c->{file_id})->{status}, 'uploaded', 'uploaded');
    is(-s store_dir() . "/$c->{file_id}", $size, 'one complete file');
    ok(!-e store_dir() . "/$c->{file_id}.part", 'no partial file');
  }
};

# --- download (the executors' signed GET) ---------------------------------------------
subtest 'download: signed GET of an uploaded file' => sub {
  my $c = presign($key, filename => "r\x{e9}sum\x{e9} \"final\".pdf", content_type => 'application/pdf',
                  size_bytes => length $bytes)->json;
  is(put_upload($c, $bytes)->status, 200, 'uploaded');
  my $id = $c->{file_id};
  my $exp = time + 300;
  my $url = local_url('GET', $id, $exp, 'application/pdf', length $bytes);
  my $r = api_get($url);
  is($r->status, 200, '200 OK') or diag($r->describe);
  ok($r->content eq $bytes, 'the bytes');
  is($r->header('Content-Type'), 'application/pdf', 'declared type');
  is($r->header('Content-Length'), length $bytes, 'length');
  like($r->header('Content-Disposition') // '', qr/^attachment; filename="r__sum__ _final_.pdf"; filename\*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22\.pdf$/,
       'attachment with a safe ASCII name and the UTF-8 name');
  is($r->header('Cache-Control'), 'no-store', 'no-store');
  is($r->header('X-Content-Type-Options'), 'nosniff', 'nosniff');
  $r = api_request(HEAD => $url);
  is($r->status, 200, 'HEAD');
  is($r->content, '', 'HEAD has no body');
  error_ok(api_get($url =~ s/sig=./sig=_/r), 403, 'FORBIDDEN', 'tampered');
  error_ok(api_get(local_url('GET', $id, time - 1, 'application/pdf', length $bytes)), 403, 'FORBIDDEN', 'expired');
  error_ok(api_get(local_url('PUT', $id, $exp, 'application/pdf', length $bytes) =~ s/upload/download/r),
           403, 'FORBIDDEN', 'an upload signature does not download');
  error_ok(api_get($c->{upload}{url} =~ s/upload/download/r), 403, 'FORBIDDEN', "the contract's PUT URL does not download");
  my $p = presign($key, size_bytes => 3)->json;
  error_ok(api_get(local_url('GET', $p->{file_id}, $exp, 'text/plain', 3)), 404, 'NOT_FOUND', 'not uploaded yet');
  error_ok(api_post($url, json => {}), 405, 'METHOD_NOT_ALLOWED', 'POST');
};

# --- housekeeping ------------------------------------------------------------------
subtest 'housekeeping: expired contracts are marked and their partial data removed' => sub {
  my $c = presign($key, content_type => 'application/pdf', size_bytes => 100)->json;
  my $id = $c->{file_id};
  my $part = store_dir() . "/$id.part";
  open my $fh, '>', $part or die "$part: $!"; print {$fh} 'partial'; close $fh;
  psql("UPDATE files SET expires_at = now() - interval '1 minute' WHERE id = '$id'");
  # a stale claim of a process that died long ago
  my $c2 = presign($key, content_type => 'application/pdf', size_bytes => 100)->json;
  my $part2 = store_dir() . "/$c2->{file_id}.part";
  open $fh, '>', $part2 or die; print {$fh} 'partial'; close $fh;
  psql("UPDATE files SET status = 'uploading', expires_at = now() - interval '7 hours' WHERE id = '$c2->{file_id}'");
  # a recent claim stays (its upload may still run)
  my $c3 = presign($key, content_type => 'application/pdf', size_bytes => 100)->json;
  psql("UPDATE files SET status = 'uploading', expires_at = now() - interval '1 minute' WHERE id = '$c3->{file_id}'");
  # an uploaded file is never touched
  my $c4 = presign($key, size_bytes => 2)->json;
  put_upload($c4, 'ok');
  psql("UPDATE files SET expires_at = now() - interval '1 day' WHERE id = '$c4->{file_id}'");
  # a contract that expired more than 7 days ago: its row goes
  my $c5 = presign($key, size_bytes => 2)->json;
  psql("UPDATE files SET status = 'expired', expires_at = now() - interval '8 days' WHERE id = '$c5->{file_id}'");
  my $c6 = presign($key, size_bytes => 2)->json;
  psql("UPDATE files SET status = 'expired', expires_at = now() - interval '6 days' WHERE id = '$c6->{file_id}'");
  # the lazy run (WebotFileHousekeeping 1 in the test config) rides on presign
  my $deadline = time + 20;
  while (time < $deadline && (file_row($id)->{status} ne 'expired'
                              || file_row($c2->{file_id})->{status} ne 'expired'
                              || file_row($c5->{file_id}))) {
    presign($key);
    Time::HiRes::sleep(0.3);
  }
  is(file_row($id)->{status}, 'expired', 'pending contract expired');
  ok(!-e $part, 'its partial data removed');
  is(file_row($c2->{file_id})->{status}, 'expired', 'stale claim expired');
  ok(!-e $part2, 'its partial data removed');
  is(file_row($c3->{file_id})->{status}, 'uploading', 'a recent claim is left alone');
  is(file_row($c4->{file_id})->{status}, 'uploaded', 'uploaded file untouched');
  is(file_row($c5->{file_id}), undef, 'the row of a contract expired 8 days ago is deleted');
  is(file_row($c6->{file_id})->{status}, 'expired', 'one expired 6 days ago is kept');
  ok(-f store_dir() . "/$c4->{file_id}", 'and its data kept');
  error_ok(put_upload($c, 'x' x 100), 403, 'FORBIDDEN', 'an expired contract refuses uploads');
  psql("UPDATE files SET status = 'pending' WHERE id = '$c3->{file_id}'");
};

subtest 'database down: 503, nothing kept, the contract survives' => sub {
  my $c = presign($key, content_type => 'application/pdf', size_bytes => 20000)->json;
  pg_stop();
  my $ok = eval {
    my $e = error_ok(presign($key), 503, 'SERVICE_UNAVAILABLE', 'presign');
    my $r = raw_request($c->{upload}{url}, body => 'd' x 20000,
                        headers => ['Content-Type' => 'application/pdf', 'Content-Length' => 20000]);
    is($r->{status}, 503, 'upload: 503') or diag($r->{raw});
    is($r->{json} && $r->{json}{error}{code}, 'SERVICE_UNAVAILABLE', 'SERVICE_UNAVAILABLE');
    ok($r->{headers}{'retry-after'}, 'Retry-After');
    no_partials($c->{file_id});
    1;
  };
  pg_start();
  die $@ unless $ok;
  my $deadline = time + 30;
  Time::HiRes::sleep(0.3) while time < $deadline && api_get('/api/v1/health')->status != 200;
  my $r = put_upload($c, 'd' x 20000);
  is($r->status, 200, 'after the database is back, the same contract uploads') or diag($r->describe);
  is(file_row($c->{file_id})->{status}, 'uploaded', 'uploaded');
};

subtest 'no partial files left by any of the above' => sub {
  my @parts = grep { /\.part$/ } store_entries();
  is_deeply(\@parts, [], 'no .part files in the store');
  my @rows = psql("SELECT id FROM files WHERE status = 'uploaded'");
  my %up = map { $_ => 1 } @rows;
  my @orphans = grep { /^file_/ && !/\.part$/ && !$up{$_} } store_entries();
  is_deeply(\@orphans, [], 'every complete file in the store is an uploaded row');
};

done_testing;
