# The proxy and a database that goes away: backends terminated, a restart
# and a crash under a running proxy (503 during the outage, 200 after it,
# the same proxy process); a bounded wait for a free connection; SIGTERM
# with requests in flight (they complete, exit code 0).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Bar9Proxy;
use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $node = bar9_node('proxy_outage');
my $key = bar9_key($node);
my $proxy = start_proxy($node, pool => 2, args => [ '--connect-timeout', '2' ]);

# list(PROXY): GET /v1/marketing/channels with the key
sub list { return $_[0]->request('GET', '/v1/marketing/channels', key => $key) }

# all_ok(PROXY, N): N requests in a row, how many answered 200
sub all_ok
{
	my ($p, $n) = @_;
	return scalar grep { list($p)->{status} == 200 } 1 .. $n;
}

# wait_200(PROXY): seconds until a request answers 200 (undef: never, 20 s)
sub wait_200
{
	my ($p) = @_;
	my $t0 = time;
	while (time - $t0 < 20)
	{
		return time - $t0 if list($p)->{status} == 200;
		sleep 0.1;
	}
	return undef;
}

is(all_ok($proxy, 4), 4, 'before: 200');

# ---- the server closes the proxy's sessions
$node->safe_psql('postgres',
	"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'bar9_proxy'");
sleep 0.3;
is(all_ok($proxy, 6), 6, 'terminated backends: noticed before use, every request 200');

# ---- a restart under the proxy
$node->stop('fast');
my $t0 = time;
my $r = list($proxy);
my $took = time - $t0;
is($r->{status}, 503, 'database stopped: 503');
is($r->{json}{error}{code}, 'service_unavailable', '503 code service_unavailable');
like($r->{headers}{'x-request-id'}, qr/^req_/, '503 carries X-Request-Id');
is($r->{headers}{'retry-after'}, '1', '503 carries Retry-After: 1');
ok($took < 5, "503 comes fast (${took}s)");
is($proxy->request('GET', '/healthz')->{status}, 503, '/healthz: 503 while down');
is($proxy->request('POST', '/v1/marketing/channels', key => $key,
		json => { name => 'during outage' })->{status},
	503, 'a POST during the outage: 503');

$node->start;
ok(defined wait_200($proxy), 'database back: 200 again, proxy not restarted');
is(all_ok($proxy, 10), 10, 'then every request 200');
is($proxy->request('GET', '/healthz')->{status}, 200, '/healthz: 200 again');
ok(kill(0, $proxy->pid), 'the same proxy process');

# ---- a crash (immediate shutdown) under the proxy
$node->stop('immediate');
is(list($proxy)->{status}, 503, 'database crashed: 503');
$node->start;
ok(defined wait_200($proxy), 'after crash recovery: 200 again');
is(all_ok($proxy, 10), 10, 'then every request 200');
is($proxy->stop, 0, 'first proxy: SIGTERM, exit code 0');
like($proxy->log_text, qr/level=error (id=\S+ )?msg="database unavailable: /,
	'the outage is logged');
like($proxy->log_text, qr/level=info .*msg="database available again"/,
	'and the recovery');

# ---- a bounded wait for a free connection
my $small = start_proxy($node, pool => 1, pool_wait => 700);
my $bg = $node->background_psql('postgres');
$bg->query_safe('BEGIN; LOCK TABLE bar9.audiences IN ACCESS EXCLUSIVE MODE');
my $blocked = raw_connect($small);
print $blocked "GET /v1/marketing/channels HTTP/1.1\r\nHost: x\r\n"
  . "Authorization: Bearer $key\r\nConnection: close\r\n\r\n";
sleep 0.3;
$t0 = time;
$r = list($small);
$took = time - $t0;
is($r->{status}, 503, 'no free connection within --pool-wait: 503');
is($r->{headers}{'retry-after'}, '1', 'with Retry-After: 1');
ok($took >= 0.5 && $took < 4, "after about 700 ms (${took}s)");
like($small->log_text, qr/no free database connection within 700 ms/,
	'logged');
$bg->query_safe('COMMIT');
like(raw_read($blocked, 10), qr{^HTTP/1\.1 200 }, 'the blocked request completes');
close $blocked;
is(list($small)->{status}, 200, 'then 200');
is($small->stop, 0, 'second proxy: exit code 0');

# ---- SIGTERM with requests in flight
my $p = start_proxy($node, pool => 2, pool_wait => 30000);
$bg->query_safe('BEGIN; LOCK TABLE bar9.audiences IN ACCESS EXCLUSIVE MODE');
my @socks;
for my $i (1 .. 5)
{
	my $s = raw_connect($p);
	print $s "GET /v1/marketing/channels?limit=$i HTTP/1.1\r\nHost: x\r\n"
	  . "Authorization: Bearer $key\r\nConnection: close\r\n\r\n";
	push @socks, $s;
}
my $body = '{"name":"created while stopping"}';
my $post = raw_connect($p);
print $post "POST /v1/marketing/channels HTTP/1.1\r\nHost: x\r\n"
  . "Authorization: Bearer $key\r\nContent-Type: application/json\r\n"
  . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body";
sleep 0.5;
kill 'TERM', $p->pid;
sleep 0.5;
my $late = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p->port, Timeout => 2);
ok(!defined $late, 'after SIGTERM: new connections refused');
ok(!defined $p->stop(1, 1), 'still running while requests are in flight');
$bg->query_safe('COMMIT');
my $n200 = 0;
for my $s (@socks)
{
	$n200++ if raw_read($s, 15) =~ m{^HTTP/1\.1 200 };
	close $s;
}
is($n200, 5, 'the 5 GETs in flight complete with 200');
like(raw_read($post, 15), qr{^HTTP/1\.1 201 }, 'the POST in flight completes with 201');
close $post;
is($node->safe_psql('postgres',
		"SELECT count(*) FROM bar9.audiences WHERE name = 'created while stopping'"),
	'1', 'and its audience exists');
is($p->stop(20, 1), 0, 'then the proxy exits with code 0');
like($p->log_text, qr/SIGTERM: no new connections; finishing \d+ request/,
	'shutdown logged');
like($p->log_text, qr/msg="stopped"/, 'stop logged');
$bg->quit;

$node->stop;
done_testing();
