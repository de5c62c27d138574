# Per-account rate limits under concurrency and over HTTP:
#   - 8 pgbench clients call bar9.api for one account limited to 100
#     requests/s with a burst of 20, as fast as they can for 5 s: the
#     answers are 200 or 429 only (no 5xx), and the 200s are the burst plus
#     100/s of the time taken, within 5%;
#   - meanwhile another account's calls all succeed;
#   - through the proxy, the 429 carries Retry-After and the RateLimit-*
#     headers, and the 200s carry the RateLimit-* headers.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Bar9Proxy;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

my $node = bar9_node('rate_limits');
my $q = sub { return $node->safe_psql('postgres', $_[0]) };

my ($key_a, $acct_a) = bar9_key($node);
my ($key_b, $acct_b) = bar9_key($node);
$q->("SELECT bar9.set_account_limits('$acct_a', 100, 20)");
$q->("SELECT bar9.set_account_limits('$acct_b', 100, 200)");
$q->('CREATE TABLE public.calls (acct text, status int, at timestamptz)');

my $dir = PostgreSQL::Test::Utils::tempdir;
# script(ACCOUNT, KEY): a pgbench script of one logged call
sub script
{
	my ($acct, $key, $name) = @_;
	my $file = "$dir/$name.sql";
	open my $fh, '>', $file or die "could not write $file: $!";
	print $fh qq{INSERT INTO public.calls SELECT '$acct', a.status, clock_timestamp()
  FROM bar9.api('GET', '/v1/marketing/channels', '{"authorization": "Bearer $key"}', NULL) a;
};
	print $fh "\\sleep 50 ms\n" if $name eq 'calm';
	close $fh;
	return $file;
}
my @runs;
foreach my $run ([ 'busy', $acct_a, $key_a, 8 ], [ 'calm', $acct_b, $key_b, 1 ])
{
	my ($name, $acct, $key, $clients) = @$run;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'pgbench', '-n', '-T', '5', '-c', $clients, '-j', $clients,
			'-f', script($acct, $key, $name),
			'-h', $node->host, '-p', $node->port, 'postgres'
		],
		'>', \$out, '2>', \$err);
	push @runs, [ $name, $h, \$out, \$err ];
}
foreach my $run (@runs)
{
	my ($name, $h, $out, $err) = @$run;
	$h->finish;
	is($h->result(0), 0, "pgbench $name exited 0") or diag($$err);
}

my ($ok, $limited, $other, $secs) = split /\|/, $q->(qq{
	SELECT count(*) FILTER (WHERE status = 200),
		   count(*) FILTER (WHERE status = 429),
		   count(*) FILTER (WHERE status NOT IN (200, 429)),
		   extract(epoch FROM max(at) - min(at))
	  FROM public.calls WHERE acct = '$acct_a'});
my $expected = 20 + 100 * $secs;
note("busy account: $ok answered 200, $limited 429 in $secs s; expected $expected 200s");
is($other, '0', 'the busy account gets 200 or 429 only (no 5xx)');
ok($limited > $ok, "the excess is refused ($limited requests 429)");
ok(abs($ok - $expected) / $expected < 0.05,
	sprintf('the 200s are within 5%% of 20 + 100/s x %.2f s: %d vs %.0f', $secs, $ok, $expected));
my ($calm_ok, $calm_all) = split /\|/, $q->(qq{
	SELECT count(*) FILTER (WHERE status = 200), count(*)
	  FROM public.calls WHERE acct = '$acct_b'});
ok($calm_all > 20, "the other account called too ($calm_all calls)");
is($calm_ok, $calm_all, 'and every one of its calls succeeded');
ok($node->log_contains(qr/ERROR/) == 0, 'no error in the server log');

# over HTTP
my $proxy = start_proxy($node);
$q->("SELECT bar9.set_account_limits('$acct_a', 1, 2)");
my @r = map { $proxy->request('GET', '/v1/marketing/channels', key => $key_a) } 1 .. 3;
is($r[0]{status}, 200, 'HTTP: first request 200');
is($r[0]{headers}{'ratelimit-limit'}, '2', 'with RateLimit-Limit: 2');
is($r[0]{headers}{'ratelimit-remaining'}, '1', 'RateLimit-Remaining: 1');
is($r[0]{headers}{'ratelimit-reset'}, '1', 'RateLimit-Reset: 1');
is($r[1]{headers}{'ratelimit-remaining'}, '0', 'second: RateLimit-Remaining: 0');
is($r[2]{status}, 429, 'third: 429');
is($r[2]{json}{error}{code}, 'rate_limited', 'code rate_limited');
is($r[2]{headers}{'retry-after'}, '1', 'Retry-After: 1');
is($r[2]{headers}{'ratelimit-remaining'}, '0', 'RateLimit-Remaining: 0 on the 429');
is($proxy->request('GET', '/v1/marketing/channels', key => $key_b)->{status},
	200, 'HTTP: another account is not held back');
sleep 1.2;
is($proxy->request('GET', '/v1/marketing/channels', key => $key_a)->{status},
	200, 'after Retry-After the account may call again');
$proxy->stop;

$node->stop;
done_testing();
