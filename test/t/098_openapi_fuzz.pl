# Requests generated from openapi.json (test/openapi/fuzz.js: values from the
# document's schemas by npm json-schema-faker, a share broken on purpose),
# every operation, both auth headers and none, bodies, headers and query
# strings, sent through two Prism proxies (npm @stoplight/prism-cli, one
# with --errors) in front of bar9's proxy and a server started here.  No
# 5xx, no answer that violates the document, no request left unanswered.
# FUZZ_SECONDS (default 20) sets how long it runs; FUZZ_SEED repeats a run.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Bar9Proxy;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

my $root = bar9_root();
my $dir = "$root/test/openapi";
my $seconds = $ENV{FUZZ_SECONDS} // 20;
my $seed = $ENV{FUZZ_SEED} // (time() % 1000000);

my ($out, $err) = ('', '');
my $installed = IPC::Run::run([ "$dir/install" ], '>', \$out, '2>', \$err);
ok($installed, 'npm ci installed the pinned tools') or diag($out . $err);
BAIL_OUT('the npm tools of test/openapi could not be installed') unless $installed;

my $node = bar9_node('openapi_fuzz');
my ($key, $account) = bar9_key($node);
my @scoped = map { bar9_key($node, "ARRAY['marketing:channels:$_']", $account) } qw(read write send);
my $other = bar9_key($node);
my $keys = "${PostgreSQL::Test::Utils::tmp_check}/fuzz-keys.json";
PostgreSQL::Test::Utils::append_to_file($keys,
	encode_json({ all => $key, scoped => \@scoped, other => $other }));
# a short request deadline: a request whose body never comes costs 2 s
my $proxy = start_proxy($node, pool => 4, args => [ '--request-deadline' => 2 ]);

# start_prism(ERRORS): a Prism proxy of openapi.json in front of bar9's
my @prisms;
sub start_prism
{
	my ($errors) = @_;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $log = "${PostgreSQL::Test::Utils::tmp_check}/prism_$port.log";
	my $h = IPC::Run::start(
		[
			'node', "$dir/node_modules/.bin/prism", 'proxy', "$root/openapi.json",
			$proxy->url, '--host', '127.0.0.1', '--port', $port,
			($errors ? ('--errors') : ())
		],
		'<', \undef, '>', $log, '2>&1');
	push @prisms, $h;
	for (1 .. 300)
	{
		return "http://127.0.0.1:$port" if slurp_file($log) =~ /Prism is listening/;
		sleep 0.1;
	}
	die "Prism did not start:\n" . slurp_file($log);
}
my $strict = start_prism(1);
my $lenient = start_prism(0);

my ($fout, $ferr) = ('', '');
my $fuzzed = IPC::Run::run(
	[
		'node', "$dir/fuzz.js", '--doc', "$root/openapi.json",
		'--strict', $strict, '--lenient', $lenient, '--direct', $proxy->url,
		'--keys', $keys, '--seconds', $seconds, '--seed', $seed
	],
	'>', \$fout, '2>', \$ferr,
	IPC::Run::timeout($seconds + 600));
note($fout);
diag($ferr) if $ferr ne '';
ok($fuzzed, "fuzz (seed $seed, FUZZ_SEED=$seed repeats it): no 5xx, nothing against the document")
  or diag($fout);
my ($n, $ops, $failures) = $fout =~ /(\d+) operations, (\d+) requests in .* (\d+) failures/
  ? ($2, $1, $3) : (0, 0, -1);
diag("fuzz: $n requests over $ops operations in about $seconds s (seed $seed)");
cmp_ok($n, '>=', 20 * 18, 'every operation called at least 20 times');
is($failures, 0, 'no failure');
my ($byop) = $fout =~ /by operation (\{.*\})/;
my $calls = eval { decode_json($byop // '{}') } // {};
my $doc = decode_json(slurp_file("$root/openapi.json"));
my @missed = grep { !$calls->{$_} }
  map { my $p = $_; map { uc($_) . " $p" } keys %{ $doc->{paths}{$p} } } keys %{ $doc->{paths} };
is("@missed", '', 'every operation of the document was called');
my ($bystatus) = $fout =~ /by status (\{.*\})/;
my $st = eval { decode_json($bystatus // '{}') } // {};
ok($st->{200} && $st->{201}, 'requests got through to the handlers (2xx answers)');
ok($st->{400} && $st->{401} && $st->{404}, 'and to their errors (400, 401, 404)');

# the proxy and the server are still up and answer
my $r = $proxy->request('GET', '/v1/marketing/channels', key => $key);
is($r->{status}, 200, 'the proxy answers after the run');
unlike($proxy->log_text, qr/status=5\d\d/, 'the access log shows no 5xx');

# stop the Prisms; their exit by signal is not this test's exit status
for my $h (@prisms)
{
	$h->signal('TERM');
	eval { $h->finish };
}
@prisms = ();
$proxy->stop;
$? = 0;
done_testing();
