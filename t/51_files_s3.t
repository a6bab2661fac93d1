# The S3 file store: presign answers an AWS Signature V4 presigned PUT URL
# (checked here against an independent SigV4 implementation), the upload
# goes to the bucket, and the server learns of it by asking the bucket
# (signed HEAD) when a job names the file and in housekeeping. The test
# server has a virtual host (webot_s3) with WebotFileStore s3://webot-test/
# uploads whose endpoint is a WebDAV stand-in bucket (webot_s3bucket), see
# t/conf/extra.conf.in.
use strict;
use warnings;
use Test::More;
use Apache::TestConfig ();
use Digest::SHA qw(sha256_hex hmac_sha256 hmac_sha256_hex);
use File::Path qw(make_path);
use POSIX ();
use Time::HiRes ();
use URI ();
use URI::Escape qw(uri_escape uri_unescape);
use WebotTest;
use WebotFiles;
use WebotJobs qw(job_body);

my $vars = Apache::TestConfig->thaw->{vars};
my ($s3port, $bport) = ($vars->{webot_s3_port}, $vars->{webot_s3bucket_port});
plan skip_all => 'no S3 virtual host in the test server (mod_dav_fs missing?)'
  unless $s3port && $bport;

my $T = $ENV{WEBOT_TEST_DIR};
my $S3 = "http://127.0.0.1:$s3port";
my $bucket_dir = "$T/s3/webot-test/uploads";
make_path($bucket_dir);
system('chown', '-R', 'www-data:www-data', "$T/s3") == 0 or die 'chown';

sub slurp { my ($f) = @_; open my $fh, '<', $f or die "$f: $!"; local $/; my $s = <$fh>; $s =~ s/\s+\z//; $s }
my $ACCESS = slurp("$T/executor_secret");
my $SECRET = slurp("$T/secret");

my $acct = make_account(plan => 'agent_pro');
my $key = $acct->{key};

sub s3_presign {
  my (%b) = @_;
  my %body = (filename => 'report.pdf', content_type => 'application/pdf', size_bytes => 10,
              purpose => 'job_input', %b);
  return api_post("$S3/api/v1/files/presign", json => \%body, key => $key);
}

# --- an independent SigV4 (presigned URL) -------------------------------------------
sub enc { uri_escape($_[0], '^A-Za-z0-9\-\._~') }

sub expected_signature {
  my ($method, $url, %headers) = @_;
  my $u = URI->new($url);
  my @q = map { [ map { uri_unescape($_) } split /=/, $_, 2 ] } split /&/, $u->query;
  my %q = map { $_->[0] => $_->[1] } @q;
  my $cq = join '&', map { enc($_->[0]) . '=' . enc($_->[1]) }
                     sort { enc($a->[0]) cmp enc($b->[0]) }
                     grep { $_->[0] ne 'X-Amz-Signature' } @q;
  my %h = (host => $u->host_port, map { lc($_) => $headers{$_} } keys %headers);
  my @names = sort keys %h;
  my $creq = join "\n", $method, join('/', map { enc(uri_unescape($_)) } split m{/}, $u->path, -1), $cq,
    (map { "$_:$h{$_}" } @names), '', join(';', @names), 'UNSIGNED-PAYLOAD';
  my ($date) = $q{'X-Amz-Date'} =~ /^(\d{8})T/;
  my $scope = "$date/eu-test-1/s3/aws4_request";
  my $sts = join "\n", 'AWS4-HMAC-SHA256', $q{'X-Amz-Date'}, $scope, sha256_hex($creq);
  my $k = hmac_sha256($date, "AWS4$SECRET");
  $k = hmac_sha256('eu-test-1', $k);
  $k = hmac_sha256('s3', $k);
  $k = hmac_sha256('aws4_request', $k);
  return (hmac_sha256_hex($sts, $k), \%q);
}

# --- presign ---------------------------------------------------------------------------
my $bytes = '0123456789';
my $c;
subtest 'presign: an AWS SigV4 presigned PUT URL of the bucket' => sub {
  my $t0 = time;
  my $r = s3_presign();
  is($r->status, 201, '201 Created') or diag($r->describe);
  $c = $r->json;
  my $id = $c->{file_id};
  like($c->{upload}{url}, qr{^http://127\.0\.0\.1:$bport/webot-test/uploads/$id\?}, 'path-style URL of the object');
  is_deeply($c->{upload}{headers}, { 'Content-Type' => 'application/pdf', 'Content-Length' => '10' },
            'the PUT must carry the signed type and length');
  my ($sig, $q) = expected_signature('PUT', $c->{upload}{url}, 'Content-Type' => 'application/pdf',
                                     'Content-Length' => 10);
  is($q->{'X-Amz-Algorithm'}, 'AWS4-HMAC-SHA256', 'X-Amz-Algorithm');
  like($q->{'X-Amz-Credential'}, qr{^\Q$ACCESS\E/\d{8}/eu-test-1/s3/aws4_request$}, 'X-Amz-Credential');
  like($q->{'X-Amz-Date'}, qr/^\d{8}T\d{6}Z$/, 'X-Amz-Date');
  ok($q->{'X-Amz-Expires'} >= 898 && $q->{'X-Amz-Expires'} <= 901, 'X-Amz-Expires: the contract (900 s)');
  is($q->{'X-Amz-SignedHeaders'}, 'content-length;content-type;host', 'X-Amz-SignedHeaders');
  is($q->{'X-Amz-Signature'}, $sig, 'X-Amz-Signature as an independent SigV4 computes it');
  unlike($c->{upload}{url}, qr/\Q$SECRET\E/, 'no secret key in the URL');
  is(file_row($id)->{store}, 's3', 'row of the s3 store');
  is(file_row($id)->{status}, 'pending', 'pending');
  my ($sig2) = expected_signature('PUT', $c->{upload}{url}, 'Content-Type' => 'text/plain',
                                  'Content-Length' => 10);
  isnt($sig2, $sig, 'another type would not match the signature');
};

subtest 'this server takes no uploads for an S3 store' => sub {
  error_ok(api_put("$S3/api/v1/files/upload/$c->{file_id}", body => $bytes, content_type => 'application/pdf'),
           404, 'NOT_FOUND', 'PUT /files/upload/{id} on the S3 host');
};

# --- the bucket, and confirmation ----------------------------------------------------------
sub put_bucket {
  my ($contract, $data) = @_;
  return api_request(PUT => $contract->{upload}{url}, body => $data, content_type => 'application/pdf');
}

sub post_job {
  my (@ids) = @_;
  return api_post("$S3/api/v1/jobs", key => $key, headers => { 'Idempotency-Key' => idem_key() },
                  json => job_body(file_ids => \@ids));
}

subtest 'files on jobs: the bucket is asked' => sub {
  my $e = error_ok(post_job($c->{file_id}), 422, 'VALIDATION_ERROR', 'not in the bucket yet');
  is($e->{param}, 'file_ids[0]', 'param');
  is(file_row($c->{file_id})->{status}, 'pending', 'still pending');
  my $r = put_bucket($c, $bytes);
  ok($r->status == 201 || $r->status == 204, 'PUT to the presigned URL: ' . $r->status);
  ok(-f "$bucket_dir/$c->{file_id}", 'the object is in the bucket');
  $r = post_job($c->{file_id});
  is($r->status, 201, 'then the job takes it') or diag($r->describe);
  is_deeply($r->json && $r->json->{file_ids}, [$c->{file_id}], 'job shows it');
  is(file_row($c->{file_id})->{status}, 'uploaded', 'confirmed: uploaded');

  my $w = s3_presign(size_bytes => 10)->json;
  put_bucket($w, '012345678');                      # 9 bytes, not 10
  error_ok(post_job($w->{file_id}), 422, 'VALIDATION_ERROR', 'an object of another size is not the file');
  is(file_row($w->{file_id})->{status}, 'pending', 'stays pending');
};

subtest 'housekeeping asks the bucket about expired contracts' => sub {
  my $up = s3_presign()->json;
  put_bucket($up, $bytes);
  my $none = s3_presign()->json;
  my $wrong = s3_presign()->json;
  put_bucket($wrong, '0123');
  for ($up, $none, $wrong) {
    psql("UPDATE files SET expires_at = now() - interval '1 minute' WHERE id = '$_->{file_id}'");
  }
  my $deadline = time + 20;
  my $done = sub { !grep { file_row($_->{file_id})->{status} eq 'pending' } $up, $none, $wrong };
  while (time < $deadline && !$done->()) {
    s3_presign();
    Time::HiRes::sleep(0.3);
  }
  is(file_row($up->{file_id})->{status}, 'uploaded', 'uploaded in time: confirmed');
  is(file_row($none->{file_id})->{status}, 'expired', 'never uploaded: expired');
  is(file_row($wrong->{file_id})->{status}, 'expired', 'wrong size: expired');
  is(post_job($up->{file_id})->status, 201, 'the confirmed one can go on a job');
};

done_testing;
