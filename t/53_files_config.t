# The files directives: a wrong value stops `apache2 -t` with one line naming
# the directive and the problem; good values pass.
use strict;
use warnings;
use Test::More;
use File::Temp ();
use WebotTest;
use WebotFoundation qw(configtest);

my $T = $ENV{WEBOT_TEST_DIR} // die 'WEBOT_TEST_DIR is not set';
my %base = (catalog => "$T/catalog.json", secret => "$T/secret");
my $dir = File::Temp->newdir('webot-files-ct.XXXXXX', TMPDIR => 1);
my $keyfile = "$dir/key";
open my $fh, '>', $keyfile or die; print {$fh} "AKIDEXAMPLE\n"; close $fh;
my $badkey = "$dir/badkey";
open $fh, '>', $badkey or die; print {$fh} "two words\n"; close $fh;

sub ct { my ($extra) = @_; return configtest(%base, extra => $extra) }

my @good = (
  [qq{WebotFileStore "$dir"}, 'a local directory'],
  [qq{WebotFileStore "$dir/"}, 'a trailing slash'],
  ['WebotFileStore s3://my-bucket.example/in/coming', 's3 with a prefix'],
  [qq{WebotFileStore s3://b12\nWebotS3Region eu-central-1\nWebotS3Endpoint http://127.0.0.1:9000/\n}
   . qq{WebotS3AccessKeyFile "$keyfile"\nWebotS3SecretKeyFile "$keyfile"}, 'complete s3 settings'],
  ["WebotPresignTTL 10\nWebotPresignTTL 604800", 'TTL bounds'],
  ['WebotUploadContentTypes application/pdf Image/PNG text/plain', 'a type list'],
  ['WebotFileBaseURL https://api.example.com/api/v1/', 'a base URL'],
  ["WebotFileHousekeeping 0\nWebotFileHousekeeping 86400", 'housekeeping bounds'],
);
for my $g (@good) {
  my ($rc, $out) = ct($g->[0]);
  is($rc, 0, "passes: $g->[1]") or diag($out);
}

my @bad = (
  ['WebotFileStore relative/dir', 'WebotFileStore', qr/absolute directory/],
  [qq{WebotFileStore "$dir/missing"}, 'WebotFileStore', qr/not a directory/],
  [qq{WebotFileStore "$keyfile"}, 'WebotFileStore', qr/not a directory/],
  ['WebotFileStore s3://UPPER', 'WebotFileStore', qr/bucket/],
  ['WebotFileStore s3://ab', 'WebotFileStore', qr/3 to 63/],
  ['WebotFileStore "s3://ok-bucket/a b"', 'WebotFileStore', qr/prefix/],
  ['WebotS3Region US_EAST', 'WebotS3Region', qr/region/],
  ['WebotS3Endpoint ftp://x', 'WebotS3Endpoint', qr/https?:\/\//],
  ['WebotS3Endpoint https://host/path', 'WebotS3Endpoint', qr/no path/],
  [qq{WebotS3AccessKeyFile "$dir/nope"}, 'WebotS3AccessKeyFile', qr/cannot open/],
  [qq{WebotS3SecretKeyFile "$badkey"}, 'WebotS3SecretKeyFile', qr/printable/],
  ['WebotPresignTTL 9', 'WebotPresignTTL', qr/10 to 604800/],
  ['WebotPresignTTL 15m', 'WebotPresignTTL', qr/integer/],
  ['WebotUploadContentTypes nonsense', 'WebotUploadContentTypes', qr/media type/],
  ['WebotUploadContentTypes "text/plain; charset=utf-8"', 'WebotUploadContentTypes', qr/media type/],
  ['WebotFileBaseURL /api/v1', 'WebotFileBaseURL', qr/absolute/],
  ['WebotFileBaseURL "https://a.example/x?y"', 'WebotFileBaseURL', qr/\?/],
  ['WebotFileHousekeeping -1', 'WebotFileHousekeeping', qr/0 to 86400/],
);
for my $b (@bad) {
  my ($extra, $name, $re) = @$b;
  my ($rc, $out) = ct($extra);
  isnt($rc, 0, "$extra: refused");
  like($out, qr/\Q$name\E: .*$re/, "$extra: names $name and the problem") or diag($out);
}

done_testing;
