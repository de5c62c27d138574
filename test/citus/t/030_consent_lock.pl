# The account's consent lock holds through every node (make test-citus,
# BAR9_CITUS=1): an opt-out taken through a worker node, its transaction
# still open, makes a fan-out batch of the same account on the coordinator
# wait (it must not queue an SMS to a number being opted out), and the
# batch runs once the opt-out commits.  The lock is taken on the node of
# the account's shard, whichever node runs either side.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../../lib";
use Bar9Proxy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

plan skip_all => 'needs BAR9_CITUS=1 (make test-citus)' unless $ENV{BAR9_CITUS};

my $node = bar9_node('consent');
my ($w1, $w2) = Bar9Proxy::citus_workers();
my $q = sub { $node->safe_psql('postgres', $_[0]) };
my ($key, $account) = bar9_key($node);

# an audience and a broadcast scheduled far ahead: the worker leaves it be,
# and bar9.fanout_step takes the consent lock before it looks at the time
my $aud = $q->("SELECT (bar9.create_audience('$account', 'consent')).id");
$q->("SELECT bar9.add_numbers('$account', '$aud', ARRAY['+12025550101', '+12025550102'])");
my $msg = $q->("SELECT id FROM bar9.create_broadcast('$account', '$aud', 'hi', send_at => now() + interval '1 day')");
like($msg, qr/^msg_/, 'a scheduled broadcast');

for my $pair ([ 'worker 1', $w1 ], [ 'worker 2', $w2 ], [ 'the coordinator', $node ])
{
	my ($name, $db) = @$pair;
	my $bg = $db->background_psql('postgres');
	$bg->query_safe('BEGIN');
	$bg->query_safe("SELECT bar9.add_opt_out('$account', '+12025550101')");

	# the batch on the coordinator waits for the opt-out's lock: cut short
	my ($rc, $out, $err) = $node->psql('postgres',
		"SET statement_timeout = '2s'; SELECT * FROM bar9.fanout_step('$account', '$msg', 10)");
	like($err, qr/canceling statement due to statement timeout/,
		"an opt-out open through $name: a fan-out batch on the coordinator waits for it");

	$bg->query_safe('ROLLBACK');
	$bg->quit;
	($rc, $out, $err) = $node->psql('postgres',
		"SET statement_timeout = '20s'; SELECT count(*) FROM bar9.fanout_step('$account', '$msg', 10)");
	is($rc, 0, "once it ended, the batch runs ($name)") or diag($err);
}

done_testing();
