
# What stops a fan-out while the worker runs it (100,000 recipients, batches
# of 1,000):
#   - opt-outs: numbers opted out one after the other during the fan-out
#     get no SMS that stays 'queued' (suppressed, or queued then canceled
#     by the opt-out), and every recipient is accounted for;
#   - cancel: no SMS is queued after the cancel commits, none is left
#     'queued', and the counters match the SMS;
#   - deleting the audience: the same, and the broadcast is 'canceled'.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $n = 100_000;

my $node = PostgreSQL::Test::Cluster->new('fanout_stop');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'bar9'
bar9.fanout_batch_size = 1000
bar9.poll_interval = '1h'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION bar9');

my $acct = $node->safe_psql('postgres', "SELECT bar9.create_account('stop')");

# A new audience of $n numbers (inserted directly, for speed); its id.
sub audience
{
	my ($name) = @_;
	my $aud = $node->safe_psql('postgres',
		"SELECT id FROM bar9.create_audience('$acct', '$name')");
	$node->safe_psql('postgres', qq{
		INSERT INTO bar9.audience_numbers (account_id, audience_id, phone_number)
			SELECT '$acct', '$aud', ('+1202' || lpad(i::text, 7, '0'))::bar9.e164
			  FROM generate_series(1, $n) i;
		UPDATE bar9.audiences SET subscriber_count = $n
		 WHERE account_id = '$acct' AND audience_id = '$aud';
	});
	return $aud;
}

# Create a broadcast and wait until its fan-out is under way.
sub start_broadcast
{
	my ($aud, $body) = @_;
	my $msg = $node->safe_psql('postgres',
		"SELECT id FROM bar9.create_broadcast('$acct', '$aud', '$body')");
	$node->poll_query_until('postgres', qq{
		SELECT n_queued >= 5000 FROM bar9.broadcasts WHERE broadcast_id = '$msg'})
	  or die "fan-out of $body did not start";
	return $msg;
}

# Counters of a broadcast against its SMS, state by state.
sub counters_match
{
	my ($msg) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT n_queued = count(*) FILTER (WHERE s.status = 'queued')
		   AND n_sending = count(*) FILTER (WHERE s.status = 'sending')
		   AND n_canceled = count(*) FILTER (WHERE s.status = 'canceled')
		  FROM bar9.broadcasts m
		  LEFT JOIN bar9.sms s USING (account_id, broadcast_id)
		 WHERE m.broadcast_id = '$msg'
		 GROUP BY m.n_queued, m.n_sending, m.n_canceled});
}

# 1. Opt-outs during the fan-out, aimed at the batch in flight: each time
# the cursor (the end of the last committed batch) moves, opt out the number
# 500 past it, in its own transaction, until the fan-out ends.  Such an
# opt-out either waits for the batch in flight and cancels the SMS it just
# queued, or gets in before the next batch, which suppresses the number.
my $aud = audience('opt-outs');
$node->safe_psql('postgres', q{
	CREATE TABLE public.opted (phone_number text);
	CREATE PROCEDURE public.opt_out_ahead(acct text, msg text)
	LANGUAGE plpgsql AS $$
	DECLARE
		cursor text;
		last text := '';
		number text;
	BEGIN
		LOOP
			SELECT fanout_cursor::text INTO cursor FROM bar9.broadcasts
			 WHERE broadcast_id = msg AND status = 'pending';
			EXIT WHEN NOT FOUND;
			IF cursor IS DISTINCT FROM last THEN
				-- 500 ahead: most likely in the batch in flight (canceled);
				-- 1500 ahead: in a batch not begun yet (suppressed)
				FOREACH number IN ARRAY ARRAY[
					'+1202' || lpad((substr(cursor, 6)::int + 500)::text, 7, '0'),
					'+1202' || lpad((substr(cursor, 6)::int + 1500)::text, 7, '0')]
				LOOP
					PERFORM bar9.add_opt_out(acct, number::bar9.e164, 'api');
					INSERT INTO public.opted VALUES (number);
				END LOOP;
				last := cursor;
			ELSE
				PERFORM pg_sleep(0.002);
			END IF;
			COMMIT;
		END LOOP;
	END $$;
});
# and ten numbers opted out before the broadcast: suppressed for sure
$node->safe_psql('postgres', qq{
	INSERT INTO public.opted SELECT '+12020090' || lpad(i::text, 3, '0')
	  FROM generate_series(1, 10) i;
	SELECT count(bar9.add_opt_out('$acct', phone_number::bar9.e164, 'api'))
	  FROM public.opted;
});
my $msg = start_broadcast($aud, 'opt-outs');
$node->safe_psql('postgres', "CALL public.opt_out_ahead('$acct', '$msg')");
my $mid = $node->safe_psql('postgres',
	"SELECT status FROM bar9.broadcasts WHERE broadcast_id = '$msg'");
note "fan-out status when the last opt-out committed: $mid";
$node->poll_query_until('postgres', qq{
	SELECT status <> 'pending' FROM bar9.broadcasts WHERE broadcast_id = '$msg'})
  or die 'fan-out did not finish';
# (the last ones may lie past the end of the audience)
my $opted = $node->safe_psql('postgres', qq{
	SELECT count(DISTINCT phone_number) FROM public.opted
	 WHERE substr(phone_number, 6)::int <= $n});
is( $node->safe_psql('postgres', qq{
		SELECT count(*) FROM bar9.sms
		 WHERE broadcast_id = '$msg' AND status <> 'canceled'
		   AND to_number::text IN (SELECT phone_number FROM public.opted)}),
	0, 'opt-outs: no SMS to an opted-out number is left to send');
my ($suppressed, $canceled, $sms) = split /\|/, $node->safe_psql('postgres', qq{
	SELECT suppressed_count, n_canceled,
		   (SELECT count(*) FROM bar9.sms WHERE broadcast_id = '$msg')
	  FROM bar9.broadcasts WHERE broadcast_id = '$msg'});
is($suppressed + $canceled, $opted,
	"opt-outs: each of the $opted suppressed or canceled");
is($sms + $suppressed, $n, 'opt-outs: every other recipient has its SMS');
# the race happened: opt-outs were made while the fan-out ran, and some got
# in before the batch of their number (suppressed, beyond the ten made
# before the broadcast); the others were canceled after it (how many varies
# from run to run, so it is only reported)
ok($opted - 10 >= 20, 'opt-outs: ' . ($opted - 10) . ' made during the fan-out');
ok($suppressed > 10,
	"opt-outs: $suppressed suppressed at fan-out (10 made before it), $canceled canceled after");
is(counters_match($msg), 't', 'opt-outs: counters match the SMS');

# 2. Cancel during the fan-out.
$msg = start_broadcast($aud, 'cancel');
my $at_cancel = $node->safe_psql('postgres', qq{
	SELECT status FROM bar9.cancel_broadcast('$acct', '$msg');
	SELECT count(*) FROM bar9.sms WHERE broadcast_id = '$msg';
});
my ($cancel_status, $count_at_cancel) = split /\n/, $at_cancel;
is($cancel_status, 'canceled', 'cancel: canceled');
ok($count_at_cancel < $n, "cancel: in the middle ($count_at_cancel SMS)");
# the worker gets to it again (woken by another broadcast's creation)
$node->safe_psql('postgres', 'SELECT bar9.wake_worker()');
sleep(2);
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM bar9.sms WHERE broadcast_id = '$msg'"),
	$count_at_cancel, 'cancel: no SMS queued after the cancel committed');
is( $node->safe_psql('postgres', qq{
		SELECT count(*) FROM bar9.sms WHERE broadcast_id = '$msg' AND status = 'queued'}),
	0, 'cancel: no SMS left queued');
is( $node->safe_psql('postgres', qq{
		SELECT status, n_queued, n_canceled FROM bar9.broadcasts
		 WHERE broadcast_id = '$msg'}),
	"canceled|0|$count_at_cancel", 'cancel: status and counters');
is(counters_match($msg), 't', 'cancel: counters match the SMS');

# 3. Audience deleted during the fan-out.
$msg = start_broadcast($aud, 'delete');
my $at_delete = $node->safe_psql('postgres', qq{
	SELECT bar9.delete_audience('$acct', '$aud');
	SELECT count(*) FROM bar9.sms WHERE broadcast_id = '$msg';
});
my $count_at_delete = (split /\n/, $at_delete)[-1];
ok($count_at_delete < $n, "delete: in the middle ($count_at_delete SMS)");
$node->safe_psql('postgres', 'SELECT bar9.wake_worker()');
sleep(2);
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM bar9.sms WHERE broadcast_id = '$msg'"),
	$count_at_delete, 'delete: no SMS queued after the delete committed');
is( $node->safe_psql('postgres', qq{
		SELECT status, n_queued, n_canceled FROM bar9.broadcasts
		 WHERE broadcast_id = '$msg'}),
	"canceled|0|$count_at_delete", 'delete: broadcast and its SMS canceled');
is(counters_match($msg), 't', 'delete: counters match the SMS');
is( $node->safe_psql('postgres', qq{
		SELECT count(*) FROM bar9.broadcasts
		 WHERE account_id = '$acct' AND status IN ('scheduled', 'pending')}),
	0, 'nothing is left for the worker');

$node->stop;
done_testing();
