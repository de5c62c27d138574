# The proxy's access log: a phone number in a path keeps only its last four
# digits, and SIGHUP reopens the file (log rotation) without stopping the
# proxy; the lines before the signal stay in the old file.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

use Bar9Proxy;

my $node = bar9_node('proxy_log');
my $key = bar9_key($node);
my $log = $node->basedir . '/access.log';
my $proxy = start_proxy($node, args => [ '--access-log' => $log ]);

# wait_for(FILE, REGEX): the file matches within 5 s (lines are flushed every 50 ms)
sub wait_for
{
	my ($file, $re) = @_;
	for (1 .. 100)
	{
		return 1 if -e $file && slurp_file($file) =~ $re;
		sleep 0.05;
	}
	return 0;
}

my $r = $proxy->request('DELETE', '/v1/marketing/opt-outs/%2B213555123456', key => $key);
is($r->{status}, 404, 'a request naming a number');
ok(wait_for($log, qr{path=/v1/marketing/opt-outs/%2B\*{8}3456 status=404}),
	'its path is logged with the number masked but its last four digits');
unlike(slurp_file($log), qr/213555123456|2135551/, 'the whole number is nowhere in the log');
$proxy->request('DELETE', '/v1/marketing/opt-outs/+33612345678', key => $key);
ok(wait_for($log, qr{path=/v1/marketing/opt-outs/\+\*{7}5678 }), 'a + number too');

# rotation: move the file, SIGHUP, and the next line goes to a new file
rename($log, "$log.1") or die "rename: $!";
kill 'HUP', $proxy->{pid};
sleep 0.3;
$r = $proxy->request('GET', '/v1/marketing/channels', key => $key);
is($r->{status}, 200, 'the proxy serves on after SIGHUP');
ok(wait_for($log, qr{path=/v1/marketing/channels status=200}), 'the next line goes to a new file');
unlike(slurp_file($log), qr{opt-outs}, 'which holds none of the lines before');
like(slurp_file("$log.1"), qr{opt-outs/%2B}, 'the moved file keeps them');
like($proxy->log_text, qr/SIGHUP: access log \S*access\.log reopened/, 'the reopening is logged');

$node->stop;
done_testing();
