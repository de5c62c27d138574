# Copyright (c) bar9 contributors
#
# The sender queue under concurrency: 8 senders (separate psql processes,
# each a libpq client running a claim + ack loop) drain a broadcast of
# 100,000 SMS.  Every SMS must be acknowledged as sent exactly once (each
# ack is logged by the sender that made it), every claim must be counted
# once in the SMS's attempt, some SMS go through 'retry' and are claimed
# again, and the broadcast's counters and status must end exact.  Before
# that, a claim whose lease ran out is taken over by another session and
# the first claimer's ack is rejected, while any connection may ack with
# the sms_id of the claim that stands.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $nsms = 100_000;
my $nsenders = 8;

my $node = PostgreSQL::Test::Cluster->new('senders');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'bar9'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION bar9');

my ($acct, $cid) = split /\|/, $node->safe_psql(
	'postgres', q{
	SELECT a, (bar9.create_audience(a, 'Everyone')).id
	  FROM bar9.create_account('Senders') AS a;
});

# --- a stale acknowledgement is rejected -------------------------------
# A broadcast of 5 SMS, alone in the queue: session A claims them with a
# short lease, session B takes them over when it runs out.
my $small = $node->safe_psql('postgres',
	"SELECT (bar9.create_audience('$acct', 'Five')).id");
$node->safe_psql('postgres',
	"SELECT bar9.add_numbers('$acct', '$small', ARRAY(SELECT '+2135999999' || g FROM generate_series(1, 5) g))"
);
my $m5 = $node->safe_psql('postgres',
	"SELECT id FROM bar9.create_broadcast('$acct', '$small', 'Five')");
$node->safe_psql('postgres', "SELECT bar9.fanout_run('$acct', '$m5')");

my $a = $node->background_psql('postgres', on_error_stop => 0);
my $b = $node->background_psql('postgres', on_error_stop => 0);

# claimed(SESSION, LEASE): the sms_ids and the numbers it claims, in order
sub claimed
{
	my ($session, $lease) = @_;
	return split /\|/, $session->query_safe(
		"SELECT string_agg(sms_id, ',' ORDER BY to_number), string_agg(to_number::text, ',' ORDER BY to_number) FROM bar9.claim_sms(5, '$lease')"
	);
}

my ($a_ids, $a_numbers) = claimed($a, '200 milliseconds');
my @a_ids = split /,/, $a_ids;
is(scalar @a_ids, 5, 'session A claims 5 SMS with a short lease');
$node->safe_psql('postgres', 'SELECT pg_sleep(0.5)');
my ($b_ids, $b_numbers) = claimed($b, '10 minutes');
is($b_numbers, $a_numbers, 'session B takes the expired claims over');
isnt($b_ids, $a_ids, '... under a claim of its own: new sms_ids');
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(DISTINCT attempt::text, ',') FROM bar9.sms WHERE broadcast_id = '$m5'"
	),
	'2',
	'each was claimed twice');

my $a_array = "ARRAY['" . join("','", @a_ids) . "']";
my $b_array = "ARRAY['" . join(q{','}, split(/,/, $b_ids)) . "']";
my ($out, $err) = $a->query("SELECT bar9.ack_sms('$a_ids[0]', 'sent')");
ok($err, 'stale ack from session A fails');
like($a->{stderr}, qr/the claim of sms \Q$a_ids[0]\E is no longer valid/,
	'... because another claim took the SMS over');
$a->{stderr} = '';
($out, $err) = $a->query("SELECT bar9.ack_sms_batch($a_array, 'failed')");
ok($err, 'stale batch ack from session A fails too');
$a->{stderr} = '';
# the claim travels in the sms_id: a third connection, which claimed
# nothing, acknowledges what session B claimed
is($node->safe_psql('postgres', "SELECT bar9.ack_sms_batch($b_array, 'sent')"),
	'5', 'another connection acknowledges session B\'s claim');
($out, $err) = $a->query("SELECT bar9.ack_sms('$a_ids[1]', 'retry')");
like($a->{stderr}, qr/was already acknowledged/,
	'a late ack after the takeover is rejected');
$a->{stderr} = '';
$a->quit;
$b->quit;
is( $node->safe_psql(
		'postgres',
		"SELECT status, n_sending, n_sent FROM bar9.broadcasts WHERE broadcast_id = '$m5'"
	),
	'completed|0|5',
	'that broadcast is completed, each SMS counted once');

# --- an audience of 100,000 numbers and a broadcast to all of them ------
# (fanned out by the background worker or by fanout_run, whichever gets
# there first)
$node->safe_psql(
	'postgres', qq{
	SELECT sum(added) FROM generate_series(0, 9) AS b,
	  LATERAL bar9.add_numbers('$acct', '$cid',
		ARRAY(SELECT '+2135' || lpad((b * 10000 + g)::text, 8, '0')
			  FROM generate_series(1, 10000) AS g));
});
my $mid = $node->safe_psql('postgres',
	"SELECT id FROM bar9.create_broadcast('$acct', '$cid', 'Eid sale')");
is($node->safe_psql('postgres', "SELECT bar9.fanout_run('$acct', '$mid')"),
	'queued', 'fan-out done');
is( $node->safe_psql(
		'postgres', "SELECT count(*) FROM bar9.sms WHERE broadcast_id = '$mid'"),
	$nsms,
	"$nsms SMS queued");

# --- 8 senders drain the rest ------------------------------------------
# Each sender loops: claim up to 100; send 2% of the first attempts back
# with 'retry' (no back-off), one bar9.ack_sms each; acknowledge the rest as
# sent with one bar9.ack_sms_batch; log every claim and every ack with the
# sender's number; commit; until the broadcast is completed.
# Claims and acks are logged by phone number (one SMS per number here):
# an sms_id names a claim, and a retried SMS comes back under a new one.
$node->safe_psql(
	'postgres', q{
	CREATE UNLOGGED TABLE claim_log (number text, sender int, attempt int);
	CREATE UNLOGGED TABLE ack_log (number text, sender int, outcome text);
	CREATE PROCEDURE sender(me int, mid text) LANGUAGE plpgsql AS $$
	DECLARE
		sent text[];
		sent_numbers text[];
		r record;
		deadline timestamptz := clock_timestamp() + interval '100 seconds';
		n int;
	BEGIN
		PERFORM set_config('bar9.retry_delay', '0', false);
		LOOP
			sent := '{}';
			sent_numbers := '{}';
			n := 0;
			FOR r IN SELECT * FROM bar9.claim_sms(100, '10 minutes') LOOP
				n := n + 1;
				INSERT INTO claim_log VALUES (r.to_number::text, me, r.attempt);
				IF r.attempt = 1 AND random() < 0.02 THEN
					PERFORM bar9.ack_sms(r.sms_id, 'retry', NULL, 'busy');
					INSERT INTO ack_log VALUES (r.to_number::text, me, 'retry');
				ELSE
					sent := sent || r.sms_id;
					sent_numbers := sent_numbers || r.to_number::text;
				END IF;
			END LOOP;
			PERFORM bar9.ack_sms_batch(sent, 'sent',
				ARRAY(SELECT 'ref-' || x FROM unnest(sent_numbers) AS x));
			INSERT INTO ack_log SELECT x, me, 'sent' FROM unnest(sent_numbers) AS x;
			COMMIT;
			IF n = 0 THEN
				EXIT WHEN (SELECT status FROM bar9.broadcasts
						   WHERE broadcast_id = mid) = 'completed';
				PERFORM pg_sleep(0.01);
			END IF;
			IF clock_timestamp() > deadline THEN
				RAISE EXCEPTION 'sender % gave up', me;
			END IF;
		END LOOP;
		RAISE NOTICE 'sender % done', me;
	END $$;
});

my $connstr = $node->connstr('postgres');
my @harness;
my @stdout;
my @stderr;
for my $i (1 .. $nsenders)
{
	push @harness,
	  IPC::Run::start(
		[
			'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-d', $connstr, '-c',
			"CALL sender($i, '$mid')"
		],
		'>', \$stdout[$i], '2>', \$stderr[$i]);
}
my $ok = 1;
for my $i (1 .. $nsenders)
{
	$harness[ $i - 1 ]->finish;
	if ($harness[ $i - 1 ]->result != 0 || $stderr[$i] !~ /sender $i done/)
	{
		$ok = 0;
		diag("sender $i: $stderr[$i]");
	}
}
ok($ok, "$nsenders senders finished");

is($node->safe_psql('postgres', 'SELECT count(DISTINCT sender) FROM ack_log'),
	$nsenders, 'every sender acknowledged some SMS');
is( $node->safe_psql(
		'postgres', "SELECT count(*) FROM ack_log WHERE outcome = 'sent'"),
	$nsms, 'one sent ack per SMS');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM (SELECT number FROM ack_log WHERE outcome = 'sent' GROUP BY number HAVING count(*) > 1) d"
	),
	0,
	'no SMS acknowledged as sent twice');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM bar9.sms s LEFT JOIN (SELECT DISTINCT number FROM ack_log WHERE outcome = 'sent') l ON l.number = s.to_number::text WHERE l.number IS NULL AND s.broadcast_id = '$mid'"
	),
	0,
	'no SMS left without a sent ack');
my $retries = $node->safe_psql('postgres',
	"SELECT count(*) FROM ack_log WHERE outcome = 'retry'");
cmp_ok($retries, '>', 0, "some SMS were retried ($retries)");
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM (SELECT number, count(*) AS retries FROM ack_log WHERE outcome = 'retry' GROUP BY number) r JOIN (SELECT number, count(*) AS claims FROM claim_log GROUP BY number) c USING (number) WHERE c.claims = r.retries + 1"
	),
	$retries,
	'each retried SMS was claimed again');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM bar9.sms s LEFT JOIN (SELECT number, count(*) AS n FROM claim_log GROUP BY number) c ON c.number = s.to_number::text WHERE s.broadcast_id = '$mid' AND s.attempt <> coalesce(c.n, 0)"
	),
	0,
	'every claim counted once in attempt');
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(status || '=' || n, ',' ORDER BY status) FROM (SELECT status, count(*) AS n FROM bar9.sms WHERE broadcast_id = '$mid' GROUP BY status) s"
	),
	"sent=$nsms",
	'every SMS is sent');
is( $node->safe_psql(
		'postgres',
		"SELECT status, n_queued, n_sending, n_sent, n_delivered, n_failed, n_canceled FROM bar9.broadcasts WHERE broadcast_id = '$mid'"
	),
	"completed|0|0|$nsms|0|0|0",
	'the broadcast is completed with exact counters');
is($node->safe_psql('postgres', 'SELECT count(*) FROM bar9.claim_sms(100)'),
	0, 'nothing left to claim');

$node->stop;
done_testing();
