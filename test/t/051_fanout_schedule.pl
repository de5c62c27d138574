
# The worker is woken, not polling (bar9.poll_interval is an hour here):
#   - a broadcast leaves 'pending' within seconds of its creation;
#   - a scheduled broadcast crosses a server restart and fires once, within
#     seconds of its send_at, with the audience as it is then;
#   - one whose send_at passed while the server was down fires at start.
# The API refuses a send_at less than a minute ahead: the tests create the
# broadcast a few minutes ahead through bar9.create_broadcast, then move
# send_at closer by hand and call bar9.wake_worker() so that the worker
# resets its timer (test only).
# The bounds are a few seconds, not one: polling would take the hour, and
# a loaded CI machine makes a one-second bound fail with nothing wrong.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('fanout_schedule');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'bar9'
bar9.poll_interval = '1h'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION bar9');

# An account and an audience of 1,000 numbers.
my ($acct, $aud) = split /\|/, $node->safe_psql('postgres', qq{
	SELECT a, (bar9.create_audience(a, 'schedule')).id FROM bar9.create_account('schedule') a;
});
$node->safe_psql('postgres', qq{
	SELECT added FROM bar9.add_numbers('$acct', '$aud',
		ARRAY(SELECT '+1202555' || lpad(i::text, 4, '0') FROM generate_series(1, 1000) i));
});

# 1. Woken at commit: out of 'pending' within seconds.
my $msg = $node->safe_psql('postgres',
	"SELECT id FROM bar9.create_broadcast('$acct', '$aud', 'now')");
$node->poll_query_until('postgres', qq{
	SELECT status <> 'pending' FROM bar9.broadcasts WHERE broadcast_id = '$msg'})
  or die 'broadcast stayed pending';
# (a broadcast's updated_at is when its last fan-out batch committed: no
# sender touched these)
my ($status, $late) = split /\|/, $node->safe_psql('postgres', qq{
	SELECT status, extract(epoch FROM updated_at - created_at)
	  FROM bar9.broadcasts WHERE broadcast_id = '$msg'});
is($status, 'queued', 'immediate broadcast fanned out');
cmp_ok($late, '<', 5, "immediate broadcast fanned out ${late}s after its creation");

# Schedule a broadcast $secs seconds ahead (see the top); returns its id
# and send_at as epoch.
sub schedule
{
	my ($body, $secs) = @_;
	return split /\|/, $node->safe_psql('postgres', qq{
		BEGIN;
		CREATE TEMP TABLE m ON COMMIT DROP AS
			SELECT id FROM bar9.create_broadcast('$acct', '$aud', '$body',
												 now() + interval '5 minutes');
		UPDATE bar9.broadcasts SET send_at = date_trunc('milliseconds',
			clock_timestamp() + interval '$secs seconds')
		 WHERE broadcast_id = (SELECT id FROM m);
		SELECT broadcast_id, extract(epoch FROM send_at)
		  FROM bar9.broadcasts, bar9.wake_worker()
		 WHERE broadcast_id = (SELECT id FROM m);
		COMMIT;
	});
}

# After firing: one SMS per recipient, its fan-out ended within seconds of
# send_at (updated_at: when the last fan-out batch committed) and not before
# (the SMS exist only once the broadcast left 'scheduled').
sub check_fired
{
	my ($msg, $send_at, $n, $what) = @_;
	$node->poll_query_until('postgres', qq{
		SELECT status NOT IN ('scheduled', 'pending')
		  FROM bar9.broadcasts WHERE broadcast_id = '$msg'})
	  or die "$what never fired";
	my ($count, $distinct, $first, $last) = split /\|/, $node->safe_psql('postgres', qq{
		SELECT count(*), count(DISTINCT to_number),
			   (SELECT extract(epoch FROM updated_at) - $send_at
				  FROM bar9.broadcasts WHERE broadcast_id = '$msg'),
			   (SELECT extract(epoch FROM updated_at) - $send_at
				  FROM bar9.broadcasts WHERE broadcast_id = '$msg')
		  FROM bar9.sms WHERE broadcast_id = '$msg'});
	is("$count|$distinct", "$n|$n", "$what: one SMS per recipient");
	cmp_ok($first, '>=', 0, "$what: nothing sent before send_at");
	return $last;
}

# 2. A scheduled broadcast crosses a restart.
my ($sched, $send_at) = schedule('after restart', 6);
is( $node->safe_psql('postgres',
		"SELECT status FROM bar9.broadcasts WHERE broadcast_id = '$sched'"),
	'scheduled', 'scheduled before the restart');
$node->restart;
# added after the request, before send_at: a recipient
$node->safe_psql('postgres',
	"SELECT bar9.add_number('$acct', '$aud', '+12025559999')");
my $fired = check_fired($sched, $send_at, 1001, 'across a restart');
cmp_ok($fired, '<', 5, "across a restart: fired within ${fired}s of send_at");
is( $node->safe_psql('postgres', qq{
		SELECT status, recipient_count FROM bar9.broadcasts
		 WHERE broadcast_id = '$sched'}),
	'queued|1001', 'across a restart: queued to the audience as at send_at');

# It fires once: nothing more happens, even when the worker is woken again.
$node->safe_psql('postgres', 'SELECT bar9.wake_worker()');
sleep(1);
is( $node->safe_psql('postgres', qq{
		SELECT count(*), (SELECT n_queued FROM bar9.broadcasts WHERE broadcast_id = '$sched')
		  FROM bar9.sms WHERE broadcast_id = '$sched'}),
	'1001|1001', 'fired once');

# 3. send_at passes while the server is down: fires at start.
($sched, $send_at) = schedule('while down', 3);
$node->stop;
sleep(4);
$node->start;
my ($started) = $node->safe_psql('postgres',
	q{SELECT extract(epoch FROM pg_postmaster_start_time())});
check_fired($sched, $send_at, 1001, 'due while down');
my $after_start = $node->safe_psql('postgres', qq{
	SELECT extract(epoch FROM updated_at) - $started
	  FROM bar9.broadcasts WHERE broadcast_id = '$sched'});
cmp_ok($after_start, '<', 5, "due while down: fired ${after_start}s after start");

$node->stop;
done_testing();
