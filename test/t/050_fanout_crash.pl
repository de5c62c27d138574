
# The fan-out worker survives crashes without losing or doubling an SMS:
#   - kill -9 of the worker in the middle of a 200,000-recipient fan-out
#     (the postmaster resets every backend and restarts the worker);
#   - pg_ctl stop -m immediate in the middle of one, then start;
#   - SIGTERM (pg_terminate_backend) in the middle of one: the worker exits
#     with code 1 and the postmaster starts it again after a second.
# Each time the fan-out resumes from its cursor and ends with exactly one
# SMS per recipient, and counters that match; and each time the worker
# started after the interruption queued some of them (their commit
# timestamps are later than its start), which proves the interruption
# landed mid fan-out.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $n = 200_000;

my $node = PostgreSQL::Test::Cluster->new('fanout_crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'bar9'
bar9.fanout_batch_size = 2000
bar9.poll_interval = '1h'
restart_after_crash = on
track_commit_timestamp = on
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION bar9');

# An account and an audience of $n numbers (inserted directly, for speed).
my ($acct, $aud) = split /\|/, $node->safe_psql('postgres', qq{
	SELECT a, (bar9.create_audience(a, 'crash')).id FROM bar9.create_account('crash') a;
});
$node->safe_psql('postgres', qq{
	INSERT INTO bar9.audience_numbers (account_id, audience_id, phone_number)
		SELECT '$acct', '$aud', ('+1202' || lpad(i::text, 7, '0'))::bar9.e164
		  FROM generate_series(1, $n) i;
	UPDATE bar9.audiences SET subscriber_count = $n
	 WHERE account_id = '$acct' AND audience_id = '$aud';
});

# Create a broadcast (the worker is woken at commit) and wait until its
# fan-out is under way; returns the message id.
sub start_broadcast
{
	my ($body) = @_;
	my $msg = $node->safe_psql('postgres',
		"SELECT id FROM bar9.create_broadcast('$acct', '$aud', '$body')");
	$node->poll_query_until('postgres', qq{
		SELECT n_queued >= 20000 FROM bar9.broadcasts WHERE broadcast_id = '$msg'})
	  or die "fan-out of $body did not start";
	return $msg;
}

# The worker's pid (waits for it to be there).
sub worker_pid
{
	$node->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM pg_stat_activity
		 WHERE backend_type = 'bar9 fan-out'})
	  or die "no fan-out worker";
	return $node->safe_psql('postgres', q{
		SELECT pid FROM pg_stat_activity WHERE backend_type = 'bar9 fan-out'});
}

# After the interruption: wait for the end, then check SMS and counters.
sub check_complete
{
	my ($msg, $what) = @_;
	$node->poll_query_until('postgres', qq{
		SELECT status <> 'pending' FROM bar9.broadcasts WHERE broadcast_id = '$msg'},
		't')
	  or die "fan-out did not finish after $what";
	is( $node->safe_psql('postgres', qq{
			SELECT count(*), count(DISTINCT to_number)
			  FROM bar9.sms WHERE account_id = '$acct' AND broadcast_id = '$msg'}),
		"$n|$n", "$what: exactly one SMS per recipient");
	is( $node->safe_psql('postgres', qq{
			SELECT status, fanout_done, recipient_count, n_queued, suppressed_count
			  FROM bar9.broadcasts WHERE broadcast_id = '$msg'}),
		"queued|t|$n|$n|0", "$what: status and counters");
	my $resumed = $node->safe_psql('postgres', qq{
		SELECT count(*) FROM bar9.sms_queue q JOIN bar9.broadcasts m
		  USING (account_no, broadcast_no)
		 WHERE m.broadcast_id = '$msg'
		   AND pg_xact_commit_timestamp(q.xmin) >
			   (SELECT backend_start FROM pg_stat_activity
				 WHERE backend_type = 'bar9 fan-out')});
	ok($resumed > 0 && $resumed < $n,
		"$what: the worker started after it queued $resumed of the SMS");
}

# 1. kill -9 of the worker mid-fan-out.
my $msg = start_broadcast('kill -9');
my $pid = worker_pid();
my $before = $node->safe_psql('postgres',
	"SELECT status, n_queued < $n FROM bar9.broadcasts WHERE broadcast_id = '$msg'");
is($before, 'pending|t', 'kill -9: the fan-out is half done');
kill 'KILL', $pid or die "could not kill $pid";
check_complete($msg, 'kill -9');
isnt(worker_pid(), $pid, 'kill -9: a new worker runs');
ok( $node->log_contains(
		qr/background worker "bar9 fan-out" \(PID $pid\) was terminated by signal 9/),
	'kill -9: the postmaster saw the worker die');

# 2. pg_ctl stop -m immediate mid-fan-out, then start.
$msg = start_broadcast('immediate stop');
$node->stop('immediate');
$node->start;
check_complete($msg, 'immediate stop');

# 3. SIGTERM: the worker exits (code 1) and is restarted.
$msg = start_broadcast('sigterm');
$pid = worker_pid();
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
check_complete($msg, 'SIGTERM');
isnt(worker_pid(), $pid, 'SIGTERM: a new worker runs');

# Every SMS of the audience is counted once in its sms_count.
is( $node->safe_psql('postgres', qq{
		SELECT sms_count FROM bar9.audiences
		 WHERE account_id = '$acct' AND audience_id = '$aud'}),
	3 * $n, 'sms_count of the audience');

$node->stop;
done_testing();
