# The worker's housekeeping (src/maintenance.c): every
# bar9.maintenance_interval it deletes Idempotency-Key answers older than 24
# hours, creates the SMS history partitions of the days ahead, and retires
# the days of SMS history that ended longer ago than bar9.sms_retention and
# whose broadcasts are all finished, by dropping their partition; it keeps
# younger days and every day with a broadcast still in progress.  A shorter
# interval set by a reload takes effect at once.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('maintenance');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'bar9'
bar9.maintenance_interval = '1h'
bar9.sms_retention = '1h'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION bar9');

my $q = sub { return $node->safe_psql('postgres', $_[0]) };

my ($acct, $aud) = split /\|/, $q->(qq{
	SELECT a, (bar9.create_audience(a, 'housekeeping')).id FROM bar9.create_account('housekeeping') a});
$q->(qq{SELECT added FROM bar9.add_numbers('$acct', '$aud',
	ARRAY['+12025550101', '+12025550102', '+12025550103'])});

# old_day(DAYS): a partition of SMS history for the day DAYS ago; returns
# the day
sub old_day
{
	my $day = $q->("SELECT (now() AT TIME ZONE 'UTC')::date - $_[0]");
	$q->("SELECT bar9.sms_add_partition('$day')");
	return $day;
}

# broadcast(BODY[, DAY]): a broadcast whose SMS history is filed under DAY
# (default: today: its number says so), once fanned out; returns its id
sub broadcast
{
	my ($body, $day) = @_;
	my $renumber = defined $day ? qq{
		UPDATE bar9.broadcasts
		   SET broadcast_no = (('$day'::date - date '2000-01-01') << 15)
							  + (broadcast_no & 32767)
		 WHERE broadcast_id = (SELECT id FROM b);} : '';
	my $id = $q->(qq{BEGIN;
		CREATE TEMP TABLE b ON COMMIT DROP AS
			SELECT id FROM bar9.create_broadcast('$acct', '$aud', '$body');
		$renumber
		SELECT id FROM b;
		COMMIT;});
	$node->poll_query_until('postgres',
		"SELECT status = 'queued' FROM bar9.broadcasts WHERE broadcast_id = '$id'")
	  or die "$body was not fanned out";
	return $id;
}

# deliver(ID): claims and acknowledges its SMS
sub deliver
{
	$q->(qq{SELECT bar9.ack_sms_batch(ARRAY(
		SELECT sms_id FROM bar9.claim_sms(100, '10 minutes')
		 WHERE message_id = '$_[0]'), 'sent')});
}

my $old = broadcast('old and done', old_day(3));
deliver($old);
my $young = broadcast('young and done');
deliver($young);
my $running = broadcast('old, still queued', old_day(2));
is($q->(qq{SELECT string_agg(status, ',' ORDER BY
		array_position(ARRAY['$old', '$young', '$running'], broadcast_id))
	FROM bar9.broadcasts}),
	'completed,completed,queued', 'two broadcasts completed, one still queued');

# Idempotency-Key answers: one of 25 hours ago, one fresh
my $key = $q->(qq{SELECT bar9.create_api_key('$acct',
	ARRAY['marketing:channels:read', 'marketing:channels:write'])});
for my $k ('old-key', 'fresh-key')
{
	$q->(qq{SELECT status FROM bar9.api('POST', '/v1/marketing/channels',
		jsonb_build_object('authorization', 'Bearer $key',
			'content-type', 'application/json', 'idempotency-key', '$k'),
		convert_to('{"name": "$k"}', 'UTF8'))});
}
$q->(qq{
	UPDATE bar9.idempotency_keys SET created_at = now() - interval '25 hours'
	 WHERE idem_key = 'old-key';
});
# tomorrow's partition is missing: the round creates it
my $tomorrow = $q->("SELECT (now() AT TIME ZONE 'UTC')::date + 1");
(my $tomorrow_name = $tomorrow) =~ s/-//g;
$q->(qq{DROP TABLE bar9.sms_history_$tomorrow_name;
	DELETE FROM bar9.sms_days WHERE sms_day = '$tomorrow'});
is($q->('SELECT count(*) FROM bar9.sms'), '9', '9 SMS before the round');

# the round is an hour away; a reload with an interval of 1 s brings it now
$node->append_conf('postgresql.conf', "bar9.maintenance_interval = '1s'\n");
$node->reload;
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM bar9.sms WHERE broadcast_id = '$old'")
  or die 'the old SMS were never retired';

is($q->("SELECT count(*) FROM bar9.sms WHERE broadcast_id = '$young'"),
	'3', 'the SMS of today are kept');
is($q->("SELECT count(*) FROM bar9.sms WHERE broadcast_id = '$running'"),
	'3', 'the old day of a broadcast still in progress is kept');
is($q->(qq{SELECT count(*) FROM pg_class
	WHERE relname = 'sms_history_' || to_char('$tomorrow'::date, 'YYYYMMDD')}),
	'1', "tomorrow's partition is created ahead");
is($q->("SELECT status FROM bar9.broadcasts WHERE broadcast_id = '$old'"),
	'completed', 'the retired broadcast itself is kept');
like($q->("SELECT (bar9.api('GET', '/v1/marketing/channels/$aud/messages/$old',
		jsonb_build_object('authorization', 'Bearer $key'), NULL)).body"),
	qr/"sent": ?3/, 'with its counts: 3 sent');
$node->poll_query_until('postgres',
	"SELECT NOT EXISTS (SELECT FROM bar9.idempotency_keys WHERE idem_key = 'old-key')")
  or die 'the old Idempotency-Key answer was never purged';
is($q->("SELECT string_agg(idem_key, ',') FROM bar9.idempotency_keys"),
	'fresh-key', 'the Idempotency-Key answer of 25 hours ago is purged, the fresh one kept');
ok($node->log_contains(
		qr/bar9 maintenance: 1 Idempotency-Key answers purged, 1 SMS history partitions added, 3 SMS retired/),
	'the round is logged with what it deleted');

# off: bar9.maintenance_interval = 0 deletes nothing
$node->append_conf('postgresql.conf', "bar9.maintenance_interval = 0\n");
$node->reload;
my $later = broadcast('old and done, later', old_day(4));
deliver($later);
sleep 3;
is($q->("SELECT count(*) FROM bar9.sms WHERE broadcast_id = '$later'"),
	'3', 'bar9.maintenance_interval = 0: nothing is retired');

$node->stop;
done_testing();
