# WebotEventStreamsPerAccount under apachectl configtest: a good value
# passes; a bad one, or the directive inside a <VirtualHost>, stops the
# configuration with one line naming the directive.
use strict;
use warnings;
use Test::More;
use WebotTest;
use WebotFoundation;

my $catalog = top_dir() . '/conf/catalog.json';
my $secret = WebotFoundation::ct_dir() . '/jobs-secret';
open my $fh, '>', $secret or die "$secret: $!";
print {$fh} ('j' x 40), "\n";
close $fh;

my ($rc, $out) = WebotFoundation::configtest(catalog => $catalog, secret => $secret,
                                             extra => 'WebotEventStreamsPerAccount 10');
is($rc, 0, 'WebotEventStreamsPerAccount 10 passes') or diag($out);

for my $bad ('0', '1001', 'five', '5x', '-1') {
  ($rc, $out) = WebotFoundation::configtest(catalog => $catalog, secret => $secret,
                                            extra => "WebotEventStreamsPerAccount $bad");
  isnt($rc, 0, "WebotEventStreamsPerAccount $bad fails");
  like($out, qr/WebotEventStreamsPerAccount: "\Q$bad\E" is not an integer from 1 to 1000/,
       'the message names the directive, the value and the range') or diag($out);
}

($rc, $out) = WebotFoundation::configtest(catalog => $catalog, secret => $secret,
  extra => "<VirtualHost 127.0.0.1:1>\n  WebotEventStreamsPerAccount 3\n</VirtualHost>");
isnt($rc, 0, 'inside <VirtualHost>: fails');
like($out, qr/WebotEventStreamsPerAccount.*(not allowed|cannot occur)/i, 'says where it may go') or diag($out);

done_testing;
