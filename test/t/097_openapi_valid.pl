# openapi.json is a valid OpenAPI 3.1 document by a third-party validator
# (npm @seriousme/openapi-schema-validator, pinned in test/openapi/), the
# proxy serves that very document at GET /v1/openapi.json without a key, and
# it states the contract's headers and scopes on every operation.  The tools
# are installed here by test/openapi/install (npm ci from the lockfile).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Bar9Proxy;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = bar9_root();
my $dir = "$root/test/openapi";

my ($out, $err) = ('', '');
my $installed = IPC::Run::run([ "$dir/install" ], '>', \$out, '2>', \$err);
ok($installed, 'npm ci installed the pinned tools') or diag($out . $err);
BAIL_OUT('the npm tools of test/openapi could not be installed') unless $installed;

# validate(FILE): (exit ok, output) of the validator's command line
sub validate
{
	my ($file) = @_;
	my ($o, $e) = ('', '');
	my $ok = IPC::Run::run([ 'node', "$dir/node_modules/.bin/validate-api", $file ],
		'>', \$o, '2>', \$e);
	return ($ok, $o . $e);
}

my ($ok, $report) = validate("$root/openapi.json");
ok($ok, 'openapi.json: the validator exits 0');
like($report, qr/"valid":\s*true/, 'openapi.json: valid OpenAPI 3.1') or diag($report);

# the validator can fail: a response without its description, a bad type
my $doc = decode_json(slurp_file("$root/openapi.json"));
my $bad = decode_json(encode_json($doc));
delete $bad->{paths}{'/v1/marketing/channels'}{get}{responses}{200}{description};
$bad->{components}{schemas}{Audience}{type} = 'record';
my $badfile = "${PostgreSQL::Test::Utils::tmp_check}/openapi-broken.json";
PostgreSQL::Test::Utils::append_to_file($badfile, encode_json($bad));
($ok, $report) = validate($badfile);
ok(!$ok, 'a broken copy: the validator exits non-zero');
like($report, qr/"valid":\s*false/, 'a broken copy: reported invalid');

# what every operation states
my (@no_rl, @no_rid, @no_scope, @no_idem, @no_example, @no_408);
for my $path (sort keys %{ $doc->{paths} })
{
	for my $m (sort keys %{ $doc->{paths}{$path} })
	{
		my $op = $doc->{paths}{$path}{$m};
		my $name = uc($m) . " $path";
		my $secured = @{ $op->{security} // $doc->{security} } > 0;
		if ($secured)
		{
			my @scopes = map { values %$_ } @{ $op->{security} };
			push @no_scope, $name
			  unless @scopes == 2 && !grep { "@$_" ne $op->{'x-scope'} } @scopes;
		}
		push @no_408, $name unless $op->{responses}{408};
		for my $st (sort keys %{ $op->{responses} })
		{
			my $r = $op->{responses}{$st};
			if ($r->{'$ref'})
			{
				(my $n = $r->{'$ref'}) =~ s{.*/}{};
				$r = $doc->{components}{responses}{$n};
			}
			push @no_rid, "$name $st" unless $r->{headers}{'X-Request-Id'};
			push @no_rl, "$name $st"
			  if $secured && $st !~ /^(401|408)$/
			  && grep { !$r->{headers}{$_} } qw(RateLimit-Limit RateLimit-Remaining RateLimit-Reset);
			my $c = $r->{content}{'application/json'};
			push @no_example, "$name $st" if $c && !exists $c->{example} && !exists $c->{examples};
		}
		if ($m eq 'post')
		{
			push @no_idem, $name
			  unless grep { ($_->{'$ref'} // '') =~ m{/IdempotencyKey$} } @{ $op->{parameters} // [] };
		}
	}
}
is("@no_scope", '', 'secured operations name their scope in security and x-scope');
is("@no_rid", '', 'every response declares X-Request-Id');
is("@no_rl", '', 'every authenticated response declares RateLimit-*');
is("@no_idem", '', 'every POST takes Idempotency-Key');
is("@no_example", '', 'every JSON response has an example');
is("@no_408", '', 'every operation lists the proxy\'s 408');
my $tmr = $doc->{components}{responses}{TooManyRequests}{headers};
ok($tmr->{'Retry-After'}, '429 declares Retry-After');
ok($doc->{components}{responses}{Unavailable}{headers}{'Retry-After'}, '503 declares Retry-After');
ok((grep { $_->{'$ref'} } map { @{ $_->{parameters} // [] } } values %{ $doc->{paths}{'/v1/marketing/channels'} }),
	'list parameters are shared components');

# served by the proxy, without a key, byte for byte the file's document
my $node = bar9_node('openapi_valid');
my $proxy = start_proxy($node);
my $r = $proxy->request('GET', '/v1/openapi.json');
is($r->{status}, 200, 'GET /v1/openapi.json without a key: 200');
is_deeply($r->{json}, $doc, 'the proxy serves openapi.json of the repository');

done_testing();
