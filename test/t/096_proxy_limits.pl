# The proxy's limits against clients that hold its resources: open
# connections per client address (--max-connections-per-ip), a deadline for
# a request to arrive whole (--request-deadline: a slowloris that trickles
# its body, its headers or its request line under the idle timeout), and the
# request body bytes held in memory by all connections at once
# (--max-body-memory: 503 with Retry-After, the bytes released when the
# request ends).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Bar9Proxy;
use IO::Select;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

local $SIG{PIPE} = 'IGNORE';

my $node = bar9_node('proxy_limits');
my $key = bar9_key($node);

my $get_close = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

# ---- at most 3 connections at once from 127.0.0.1
my $proxy = start_proxy($node, pool => 2,
	args => [ '--threads', '2', '--max-connections-per-ip', '3' ]);
sleep 0.3;    # start_proxy's own /healthz connection is closed by now
my @held = map { raw_connect($proxy) } 1 .. 3;
sleep 0.3;
my $fourth = raw_connect($proxy);
my $t0 = time;
print $fourth $get_close;
is(raw_read($fourth, 10), '', 'a 4th connection from the same address: closed, no answer');
ok(time - $t0 < 5, 'and closed at once (not left to time out)');
close $fourth;
my $served = 0;
for my $c (@held)
{
	print $c $get_close;
	$served++ if raw_read($c, 5) =~ m{^HTTP/1\.1 200 };
	close $c;
}
is($served, 3, 'the 3 connections within the limit are served meanwhile');
sleep 0.2;
like(raw_request($proxy, $get_close, 5), qr{^HTTP/1\.1 200 },
	'once they are closed, a new connection is served (the count is released)');
@held = map { raw_connect($proxy) } 1 .. 3;
sleep 0.3;
print $_ $get_close for @held;
is(scalar(grep { raw_read($_, 5) =~ m{^HTTP/1\.1 200 } } @held), 3,
	'three at once again: all served');
close $_ for @held;
like($proxy->log_text, qr/closed 1 connection\(s\) over --max-connections-per-ip 3/,
	'the refusal is logged');
is($proxy->stop, 0, 'per-address proxy: exit code 0');

# ---- a request must arrive whole within 2 s (the idle timeout is 30 s)
$proxy = start_proxy($node, pool => 2, timeout => 30,
	args => [ '--request-deadline', '2' ]);

# trickle(SOCK, BYTES): one byte every 0.5 s until the proxy answers or
# closes; returns (what it answered, bytes sent, seconds from $t0)
sub trickle
{
	my ($s, $bytes) = @_;
	my $sel = IO::Select->new($s);
	my $sent = 0;
	for my $ch (split //, $bytes)
	{
		last if $sel->can_read(0.5);
		last unless syswrite($s, $ch);
		$sent++;
	}
	my $resp = raw_read($s, 5);
	return ($resp, $sent, time - $t0);
}

# a body trickled in: cut off by the access handler
my $channels = $node->safe_psql('postgres', 'SELECT count(*) FROM bar9.audiences');
my $body = '{"name":"slow loris"}';
my $s = raw_connect($proxy);
$t0 = time;
print $s "POST /v1/marketing/channels HTTP/1.1\r\nHost: x\r\n"
  . "Authorization: Bearer $key\r\nContent-Type: application/json\r\n"
  . 'Content-Length: ' . length($body) . "\r\n\r\n";
my ($resp, $sent, $took) = trickle($s, $body);
close $s;
like($resp, qr{^HTTP/1\.1 408 }, 'a body trickled one byte per 0.5 s: 408');
like($resp, qr/"code":"request_timeout"/, '408 code request_timeout');
like($resp, qr/\r\nX-Request-Id: req_/i, '408 carries X-Request-Id');
ok($took >= 1.8 && $took < 6, "after the deadline (${took}s)");
ok($sent < length($body) - 5, "well before the body was whole ($sent of "
	  . length($body) . ' bytes)');
is($node->safe_psql('postgres', 'SELECT count(*) FROM bar9.audiences'),
	$channels, 'nothing reached bar9.api');

# headers trickled in after the request line: cut off by the loop's sweep
$s = raw_connect($proxy);
$t0 = time;
print $s "GET /healthz HTTP/1.1\r\nHost: x\r\n";
($resp, $sent, $took) = trickle($s, "X-Slow: " . ('a' x 30) . "\r\n\r\n");
close $s;
like($resp, qr{^HTTP/1\.1 408 }, 'headers trickled one byte per 0.5 s: 408');
ok($took >= 1.8 && $took < 6, "after the deadline (${took}s, $sent bytes sent)");

# the request line itself trickled in: closed, there is no request to answer
$s = raw_connect($proxy);
$t0 = time;
($resp, $sent, $took) = trickle($s, 'GET /healthz?' . ('a' x 30) . " HTTP/1.1\r\n\r\n");
close $s;
is($resp, '', 'a request line trickled one byte per 0.5 s: closed');
ok($took >= 1.8 && $took < 6, "after the deadline (${took}s, $sent bytes sent)");

# meanwhile and after, well-behaved clients are served
is($proxy->request('GET', '/healthz')->{status}, 200, 'a normal request: 200');
my $r = $proxy->request('POST', '/v1/marketing/channels', key => $key,
	json => { name => 'in time' });
is($r->{status}, 201, 'a normal POST: 201');
# a keep-alive connection idle past the deadline between requests is not cut
$s = raw_connect($proxy);
print $s "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
sleep 0.3;
sysread($s, my $first, 4096);
like($first, qr{^HTTP/1\.1 200 }, 'keep-alive: first request answered');
sleep 2.5;
print $s $get_close;
like(raw_read($s, 5), qr{^HTTP/1\.1 200 },
	'a second request after 2.5 s of idle keep-alive: 200');
close $s;
sleep 0.2;
like($proxy->log_text,
	qr{method=POST path=/v1/marketing/channels status=408 },
	'the 408 is in the access log');
is($proxy->stop, 0, 'deadline proxy: exit code 0');

# ---- request bodies held at once: at most 1000 bytes
$proxy = start_proxy($node, pool => 2, args => [ '--max-body-memory', '1000' ]);
$body = '{"name":"memory"}' . (' ' x 783);
is(length $body, 800, 'an 800-byte body');
my $post = "POST /v1/marketing/channels HTTP/1.1\r\nHost: x\r\n"
  . "Authorization: Bearer $key\r\nContent-Type: application/json\r\n"
  . "Connection: close\r\n";
my $first_half = substr($body, 0, 400);

my $s1 = raw_connect($proxy);
print $s1 $post . "Content-Length: 800\r\n\r\n" . $first_half;
sleep 0.3;
my $s2 = raw_connect($proxy);
print $s2 $post . "Content-Length: 800\r\n\r\n" . $first_half;
$resp = raw_read($s2, 5);
close $s2;
like($resp, qr{^HTTP/1\.1 503 }, 'a second 800-byte body while the first arrives: 503');
like($resp, qr/\r\nRetry-After: 1\r\n/i, '503 carries Retry-After: 1');
like($resp, qr/"code":"service_unavailable"/, '503 code service_unavailable');

# a chunked body is counted as it arrives: refused mid-way
my $s3 = raw_connect($proxy);
print $s3 $post . "Transfer-Encoding: chunked\r\n\r\n";
sleep 0.2;
print $s3 sprintf("%x\r\n", 300) . ('a' x 300) . "\r\n";
$resp = raw_read($s3, 5);
close $s3;
like($resp, qr{^HTTP/1\.1 503 }, 'a chunked body that does not fit: 503 mid-body');
like($resp, qr/\r\nRetry-After: 1\r\n/i, 'it carries Retry-After: 1 too');

print $s1 substr($body, 400);
like(raw_read($s1, 5), qr{^HTTP/1\.1 201 }, 'the first body goes through: 201');
close $s1;
$r = $proxy->request('POST', '/v1/marketing/channels', key => $key, body => $body,
	headers => { 'Content-Type' => 'application/json' });
is($r->{status}, 201, 'once it is answered, its bytes are released: the next 800-byte body is 201');
# a client that declares 800 bytes and leaves mid-body: released too
my $s4 = raw_connect($proxy);
print $s4 $post . "Content-Length: 800\r\n\r\n" . $first_half;
sleep 0.2;
close $s4;
sleep 0.2;
$r = $proxy->request('POST', '/v1/marketing/channels', key => $key, body => $body,
	headers => { 'Content-Type' => 'application/json' });
is($r->{status}, 201, 'a body abandoned mid-way is released too: the next one is 201');
is($proxy->stop, 0, 'body-memory proxy: exit code 0');

$node->stop;
done_testing();
