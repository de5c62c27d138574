# bar9-sender when things break (npm smpp 0.5.1 as the SMSC): the SMSC
# drops the connection mid window, the SMSC restarts, the sender is killed
# with SIGKILL.  Each time the counts come out exact, no SMS is lost, and
# no number gets its SMS more than once beyond the window (SMPP has no
# idempotency: the window in flight may go twice, README "Delivery").
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Bar9Proxy qw(bar9_root);
use Bar9Smpp;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $WINDOW = 10;
my $node = sender_node('sender_faults');
my $acct = $node->safe_psql('postgres', "SELECT bar9.create_account('faults')");
$node->safe_psql('postgres', "SELECT bar9.add_sender('$acct', 'BAR9', true)");
my $account = sms_account($node, $acct, numbers => '+2135552');

# A broadcast of BODY to N numbers +2135552FFNNN (FF: first), by SQL; its id.
sub broadcast
{
	my ($first, $n, $body) = @_;
	return $account->broadcast($account->audience($body, $first, $n), $body);
}

# The submit_sm of BODY: how many, to how many numbers, the most to one.
sub submitted
{
	my ($smsc, $body) = @_;
	my %per;
	$per{ $_->{destination_addr} }++ for submits_of($smsc, $body);
	my $dups = 0;
	$dups += $_ - 1 for values %per;
	return (scalar(keys %per), $dups);
}

my $smsc = start_smsc($node);
my $sender = start_sender($node, $smsc, '--window' => $WINDOW, '--lease' => 4);

# On a failed check of broadcast MSG: where its SMS are, and the sender's troubles.
sub show_where
{
	my ($msg) = @_;
	diag($account->whereabouts($msg));
	diag($sender->log_errors);
}

# broadcast(FIRST, N, BODY), returned once the SMSC has had 50 more submit_sm (asserted).
sub broadcast_submitting
{
	my ($first, $n, $body) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $before = $smsc->stats->{submits};
	my $msg = broadcast($first, $n, $body);
	ok(wait_for(sub { $smsc->stats->{submits} > $before + 50 }, 60), 'submitting');
	return $msg;
}

# ---- the SMSC drops every connection while the window is full
$smsc->control('/mode', { resp_delay_ms => 150 });
my $m1 = broadcast_submitting(10000, 300, 'Dropped midway');
$smsc->control('/drop');
ok($account->settled($m1, 120), 'after the drop, every SMS is sent and delivered') or show_where($m1);
is($account->counts($m1), '0/0/0/300/0/0', 'drop: counts exact, 300 delivered');
my ($numbers, $dups) = submitted($smsc, 'Dropped midway');
is($numbers, 300, 'drop: every number got its SMS');
ok($dups <= $WINDOW, "drop: $dups submitted twice, at most the window ($WINDOW)");
like($sender->log_text, qr/bind: [^\n]+; unbound\n(.*\n)*.*bind: bound as transceiver/,
	'the drop and the rebind are logged');

# ---- the SMSC restarts (its kept receipts die with it: SMS stay sent)
my $m2 = broadcast_submitting(20000, 300, 'Across a restart');
my %same = (port => $smsc->{port}, control => $smsc->{control}, record => $smsc->{record});
$smsc->stop;
sleep 1.5;
$smsc = start_smsc($node, %same);
ok($account->settled($m2, 120, receipts => 0), 'after the restart, no SMS is left queued or sending')
  or show_where($m2);
my @c = split m{/}, $account->counts($m2);
is($c[2] + $c[3], 300, 'restart: all 300 sent or delivered');
is($c[4] + $c[5], 0, 'restart: none failed or canceled');
($numbers, $dups) = submitted($smsc, 'Across a restart');
is($numbers, 300, 'restart: every number got its SMS');
ok($dups <= $WINDOW, "restart: $dups submitted twice, at most the window");
is($smsc->stats->{binds}, 1, 'the sender bound to the new SMSC');

# ---- SIGKILL of the sender: its claims run out and another sender goes on
my $m3 = broadcast_submitting(30000, 300, 'Killed midway');
is($sender->stop('KILL', 10), 9, 'sender killed with SIGKILL');
# (receipts that find no SMS are kept for retry far longer than this test)
$sender = start_sender($node, $smsc, '--window' => $WINDOW, '--lease' => 4,
	'--receipt-wait' => 600);
ok($account->settled($m3, 120), 'after the kill, every SMS is sent and delivered') or show_where($m3);
is($account->counts($m3), '0/0/0/300/0/0', 'kill -9: counts exact, 300 delivered');
($numbers, $dups) = submitted($smsc, 'Killed midway');
is($numbers, 300, 'kill -9: every number got its SMS');
ok($dups <= $WINDOW, "kill -9: $dups submitted twice, at most the window");

# ---- receipts that match nothing (a killed sender's, whose SMS went again;
# ids the SMSC made up) are kept for retry: more than one report's worth of
# them must not hold up the receipts that come after them
$smsc->control('/stray', { n => 40 });
my $m4 = broadcast(40000, 30, 'Behind strays');
ok($account->settled($m4, 120), 'receipts behind 40 kept unmatched ones are reported')
  or show_where($m4);
is($account->counts($m4), '0/0/0/30/0/0', 'behind strays: counts exact, 30 delivered');

is($sender->stop('TERM', 30), 0, 'the second sender stops cleanly');
like($sender->log_text, qr/stats: submitted=\d+ acked=\d+ failed=0 receipts=\d+/,
	'its counters are logged');

# ---- the claims connection lost while receipts keep coming on the other.
# The SMSC sends each receipt before its submit_sm_resp (some do), so the
# receipts of an ack batch are in hand before the batch goes.  The batch
# fails with its connection, which stays away for longer than a receipt
# that finds no SMS is tried (--receipt-wait 2): its receipts must wait for
# the ack after the reconnect, not be reported before it and given up.
$sender = start_sender($node, $smsc, '--window' => $WINDOW, '--lease' => 60,
	'--receipt-wait' => 2);
$smsc->control('/mode', { resp_delay_ms => 20, receipt_first => JSON::PP::true });
my $m5 = broadcast_submitting(50000, 300, 'Database away');
# the acks of m5 wait for its claims' rows, which the test locks
my $hold = $node->background_psql('postgres');
$hold->query_safe('BEGIN');
$hold->query_safe(qq{
	SELECT count(*) FROM (SELECT 1 FROM bar9.sms_claims c JOIN bar9.broadcasts b
								   USING (account_no, broadcast_no)
						   WHERE b.broadcast_id = '$m5' FOR UPDATE OF c) x});
my $acker;
ok( wait_for(
		sub {
			$acker = $node->safe_psql('postgres', q{
				SELECT pid FROM pg_stat_activity
				 WHERE usename = 'sender' AND wait_event_type = 'Lock'
				   AND query LIKE '%ack_sms_batch%'});
		},
		30),
	'an ack batch waits for the lock');
# the receipts connection keeps the role's one allowed connection
$node->safe_psql('postgres',
	"ALTER ROLE sender CONNECTION LIMIT 1; SELECT pg_terminate_backend($acker)");
ok(wait_for(sub { $sender->log_text =~ /error: database: [^\n]*too many connections/ }, 30),
	'the ack failed and its connection cannot come back');
$hold->query_safe('ROLLBACK');
$hold->quit;
sleep 4;    # twice --receipt-wait: a receipt reported now would be given up
$node->safe_psql('postgres', 'ALTER ROLE sender CONNECTION LIMIT -1');
ok($account->settled($m5, 120), 'after the outage, every SMS is sent and delivered')
  or show_where($m5);
is($account->counts($m5), '0/0/0/300/0/0', 'outage: counts exact, 300 delivered');
is($sender->stop('TERM', 30), 0, 'the third sender stops cleanly');

done_testing();
