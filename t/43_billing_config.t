# The billing directives under `apache2 -t`: good values pass, each wrong
# value stops the configuration with a message naming the directive (and
# never the content of a secret file).
use strict;
use warnings;
use Test::More;
use WebotTest;
use WebotFoundation qw(configtest);

my $dir = $ENV{WEBOT_TEST_DIR} // die 'WEBOT_TEST_DIR is not set';
my $d = "$dir/billing-ct";
mkdir $d;
sub put { my ($name, $text) = @_; open my $fh, '>', "$d/$name" or die; print {$fh} $text; close $fh; "$d/$name" }

my $secret = "$dir/secret";
my $catalog = "$dir/catalog.json";
my $key = put('key', "sk_test_51SecretKeyForConfigTest0000\n");
my $live = put('live', "rk_live_51RestrictedKeyForTest000\n");
my $pk = put('pk', "pk_test_51PublishableIsNotSecret00\n");
my $junk = put('junk', "sk_test_abc def ghi jkl mno\n");
my $wh = put('wh', "# current\nwhsec_0123456789abcdefghijKLMNOP\n\nwhsec_abcdefghijklmnopqrstuvwxyz0\n");
my $whshort = put('whshort', "whsec_SHORTsecret\n" =~ s/SHORTsecret/short/r);
my $whempty = put('whempty', "# nothing here\n\n");

my $good = qq{WebotStripeSecretKeyFile "$key"\n}
  . qq{WebotStripeWebhookSecretFile "$wh"\n}
  . qq{WebotStripeWebhookSecretFile "$wh"\n}
  . qq{WebotStripeAPIBase "http://127.0.0.1:12111/"\n}
  . qq{WebotStripeTolerance 600\n}
  . qq{WebotCheckoutSuccessURL "https://app.example.test/done?session_id={CHECKOUT_SESSION_ID}&x=1"\n}
  . qq{WebotCheckoutCancelURL "https://app.example.test/billing"\n}
  . qq{WebotPastDueGrace 72h\n}
  . qq{WebotStripeVerifyInterval 900\n}
  . qq{WebotStripeTimeout 10\n};
my ($rc, $out) = configtest(catalog => $catalog, secret => $secret, extra => $good);
is($rc, 0, 'every billing directive with a good value: Syntax OK') or diag($out);
($rc, $out) = configtest(catalog => $catalog, secret => $secret,
  extra => qq{WebotStripeSecretKeyFile "$live"\nWebotPastDueGrace 0\n});
is($rc, 0, 'a live restricted key; a grace of 0') or diag($out);

my @bad = (
  [qq{WebotStripeSecretKeyFile "$pk"}, qr/WebotStripeSecretKeyFile: .*pk.* does not hold a Stripe secret/,
   'a publishable key', 'pk_test_51Publishable'],
  [qq{WebotStripeSecretKeyFile "$junk"}, qr/WebotStripeSecretKeyFile: .* alone on one line/,
   'a key file with blanks', 'sk_test_abc'],
  [qq{WebotStripeSecretKeyFile "$d/nope"}, qr/WebotStripeSecretKeyFile: cannot open/, 'a missing key file'],
  [qq{WebotStripeWebhookSecretFile "$whshort"}, qr/WebotStripeWebhookSecretFile: .*line 1 is shorter than 16/,
   'a short webhook secret', 'whsec_short'],
  [qq{WebotStripeWebhookSecretFile "$whempty"}, qr/WebotStripeWebhookSecretFile: .* holds no secret/,
   'a webhook secret file without a secret'],
  [q{WebotStripeAPIBase "ftp://api.stripe.com"}, qr/WebotStripeAPIBase: .*not an absolute http\(s\) URL/, 'ftp'],
  [q{WebotStripeAPIBase "https://api.stripe.com/?x=1"}, qr/WebotStripeAPIBase:/, 'a base with a query'],
  [q{WebotStripeAPIBase "https://user:pw@api.stripe.com"}, qr/WebotStripeAPIBase:/, 'user info'],
  [q{WebotStripeTolerance 0}, qr/WebotStripeTolerance: "0" is not an integer from 1 to 86400/, 'tolerance 0'],
  [q{WebotStripeTolerance 5s}, qr/WebotStripeTolerance:/, 'tolerance with a unit'],
  [q{WebotCheckoutSuccessURL "/billing/done"}, qr/WebotCheckoutSuccessURL: .*absolute/, 'a relative success URL'],
  [q{WebotCheckoutCancelURL "javascript:alert(1)"}, qr/WebotCheckoutCancelURL:/, 'a javascript: URL'],
  [q{WebotPastDueGrace 91d}, qr/WebotPastDueGrace: "91d" is not a duration from 0 to 90 days/, '91 days'],
  [q{WebotPastDueGrace 3w}, qr/WebotPastDueGrace:/, 'an unknown unit'],
  [q{WebotPastDueGrace -1}, qr/WebotPastDueGrace:/, 'negative'],
  [q{WebotStripeVerifyInterval 0}, qr/WebotStripeVerifyInterval:/, 'verify interval 0'],
  [q{WebotStripeTimeout 121}, qr/WebotStripeTimeout:/, 'timeout 121'],
  ["<VirtualHost 127.0.0.1:2>\nWebotStripeTolerance 10\n</VirtualHost>",
   qr/WebotStripeTolerance cannot occur within <VirtualHost> section/, 'inside a VirtualHost'],
);
for my $b (@bad) {
  my ($line, $re, $name, $secret_text) = @$b;
  ($rc, $out) = configtest(catalog => $catalog, secret => $secret, extra => $line);
  isnt($rc, 0, "$name: refused");
  like($out, $re, "$name: the message names the problem") or diag($out);
  unlike($out, qr/\Q$secret_text\E/, "$name: the secret is not echoed") if $secret_text;
}

done_testing;
