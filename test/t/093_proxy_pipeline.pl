# The proxy pipelines calls on its database connections (proxy/pool.c).
# Each answer must reach the HTTP request it belongs to, each call must be
# a transaction of its own (one call's failure touches no other call), and
# a connection whose call is stuck must take no more calls.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Bar9Proxy;
use IO::Socket::INET;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $node = bar9_node('proxy_pipeline');
my $key = bar9_key($node);

# one connection, so that concurrent calls can only be pipelined on it
my $proxy = start_proxy($node, pool => 1, args => [ '--pipeline-depth', '8' ]);

# send_all(PROXY, REQUESTS): opens one connection per raw request, writes
# them all before reading any; returns the raw answers, in order
sub send_all
{
	my ($p, @requests) = @_;
	my @socks;
	for my $r (@requests)
	{
		my $s = raw_connect($p);
		print $s $r;
		push @socks, $s;
	}
	my @out = map { raw_read($_, 20) } @socks;
	close $_ for @socks;
	return @out;
}

# get(PATH) and post(PATH, JSON): a raw request that closes its connection
sub get
{
	return "GET $_[0] HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $key\r\n"
	  . "Connection: close\r\n\r\n";
}

sub post
{
	my ($path, $body) = @_;
	return "POST $path HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $key\r\n"
	  . "Content-Type: application/json\r\nContent-Length: "
	  . length($body) . "\r\nConnection: close\r\n\r\n$body";
}

# body_of(RAW): the decoded JSON body of a raw answer (undef if none)
sub body_of
{
	my ($raw) = @_;
	my ($body) = $raw =~ /\r\n\r\n(.*)\z/s;
	return eval { decode_json($body) };
}

# status_of(RAW): the status code of a raw answer
sub status_of { return ($_[0] =~ m{^HTTP/1\.1 (\d{3}) }) ? $1 : 0 }

# ---- answers reach their own requests
my @ids;
for my $i (1 .. 12)
{
	my $r = $proxy->request('POST', '/v1/marketing/channels',
		key => $key, json => { name => "pipe $i" });
	push @ids, $r->{json}{id};
}
is(scalar(grep { defined && /^mkt_/ } @ids), 12, '12 audiences created');

for my $round (1 .. 3)
{
	my @out = send_all($proxy, map { get("/v1/marketing/channels/$_") } @ids);
	my $right = grep {
		my $b = body_of($out[$_]);
		status_of($out[$_]) == 200 && $b && $b->{id} eq $ids[$_]
		  && $b->{name} eq 'pipe ' . ($_ + 1)
	} 0 .. $#ids;
	is($right, 12, "round $round: 12 concurrent GETs, each answered with its own audience");
}

# they really went pipelined: the access log says, for each call sent
# behind others, how many were in flight on the (one) connection then
sleep 0.2;    # the access log is written out every 50 ms
my @ahead = ($proxy->log_text =~ / pipelined=(\d+)/g);
my ($deepest) = sort { $b <=> $a } @ahead;
ok(@ahead >= 6, scalar(@ahead) . ' of the 36 calls were sent behind others on the one connection');
ok(defined $deepest && $deepest <= 7,
	'never more than --pipeline-depth 8 in flight (deepest: ' . ($deepest // 'none') . ' ahead)');

# creates and reads mixed: every create answered with its own name, once
my @reqs = map {
	$_ % 2
	  ? post('/v1/marketing/channels', encode_json({ name => "mixed $_" }))
	  : get("/v1/marketing/channels/$ids[$_]")
} 0 .. 11;
my @out = send_all($proxy, @reqs);
my $right = grep {
	my $b = body_of($out[$_]);
	$_ % 2
	  ? status_of($out[$_]) == 201 && $b && $b->{name} eq "mixed $_"
	  : status_of($out[$_]) == 200 && $b && $b->{id} eq $ids[$_]
} 0 .. 11;
is($right, 12, 'creates and reads mixed: each answer belongs to its request');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM bar9.audiences WHERE name LIKE 'mixed %'"),
	'6', 'each create made exactly one audience');

# ---- one call fails, the calls pipelined behind it do not
my $slow = start_proxy($node, pool => 1,
	args => [ '--pipeline-depth', '8', '--statement-timeout', '500' ]);
my $bg = $node->background_psql('postgres');
$bg->query_safe('BEGIN; LOCK TABLE bar9.audience_numbers IN ACCESS EXCLUSIVE MODE');
@out = send_all($slow,
	post("/v1/marketing/channels/$ids[0]/numbers",
		'{"phone_number": "+33612345678"}'),
	map { get("/v1/marketing/channels/$_") } @ids[ 1 .. 6 ]);
$bg->query_safe('COMMIT');
is(status_of($out[0]), 503, 'the call that ran into statement_timeout: 503');
is(scalar(grep { status_of($out[$_]) == 200 && body_of($out[$_])->{id} eq $ids[$_] } 1 .. 6),
	6, 'the 6 calls behind it: 200, each its own audience');
is($node->safe_psql('postgres', 'SELECT count(*) FROM bar9.audience_numbers'),
	'0', 'the failed call added nothing');
is($slow->stop, 0, 'statement-timeout proxy: exit code 0');

# ---- a stuck call keeps its connection to itself
my $two = start_proxy($node, pool => 2, args => [ '--pipeline-depth', '8' ]);
$bg->query_safe('BEGIN; LOCK TABLE bar9.audiences IN ACCESS EXCLUSIVE MODE');
my $stuck = raw_connect($two);
print $stuck get('/v1/marketing/channels');
sleep 0.3;
my $t0 = time;
my $h = $two->request('GET', '/healthz');
my $took = time - $t0;
is($h->{status}, 200, '/healthz while a call is stuck: 200, on the other connection');
# (a stuck connection would hold it until the COMMIT below, never)
ok($took < 5, "and at once (${took}s)");
$bg->query_safe('COMMIT');
like(raw_read($stuck, 10), qr{^HTTP/1\.1 200 }, 'the stuck call completes');
close $stuck;
is($two->stop, 0, 'two-connection proxy: exit code 0');

# ---- a large upload runs alone, the small calls around it are served
my $big = encode_json({ phone_numbers => [ map { sprintf('+336%08d', $_) } 1 .. 5000 ] });
ok(length($big) > 64 * 1024, 'the bulk body is over 64 KiB');
@out = send_all($proxy,
	post("/v1/marketing/channels/$ids[1]/numbers", $big),
	map { get("/v1/marketing/channels/$_") } @ids[ 2 .. 7 ]);
is(status_of($out[0]), 200, 'bulk add of 5,000 numbers: 200');
is(body_of($out[0])->{added}, 5000, 'and 5,000 added')
  or diag(substr($out[0], 0, 400));
is(scalar(grep { status_of($out[$_]) == 200 && body_of($out[$_])->{id} eq $ids[$_ + 1] } 1 .. 6),
	6, 'the 6 GETs around it: 200, each its own audience');

like($proxy->log_text, qr/pipeline depth 8/, 'the proxy logged its pipeline depth');
is($proxy->stop, 0, 'exit code 0');
$bg->quit;
done_testing();
