# bar9 on a Citus cluster (make test-citus runs it with BAR9_CITUS=1: a
# coordinator and two workers, bar9.distribute()): every table distributed
# by account_no or a reference table; requests through a worker node; a
# broadcast's recipients exactly its audience at its cutoff whichever node
# took the adds; claims on two nodes with distinct ids, acknowledged from a
# third; receipts found from any node, a split SMS's parts among them, by
# one shard (EXPLAIN); accounts taking turns; the fan-out's insert and the
# key lookup on one shard (EXPLAIN); an old day of SMS history retired on
# every node.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../../lib";
use Bar9Proxy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

plan skip_all => 'needs BAR9_CITUS=1 (make test-citus)' unless $ENV{BAR9_CITUS};

my $node = bar9_node('citus');
my ($w1, $w2) = Bar9Proxy::citus_workers();
my $q = sub { $node->safe_psql('postgres', $_[0]) };

# ---- every table: distributed by account_no (one co-location) or reference
is( $q->(q{
	SELECT string_agg(c.relname || ':' || coalesce(CASE p.partmethod
			WHEN 'h' THEN 'hash(' || pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) || ')'
			WHEN 'n' THEN 'reference' END, 'LOCAL'), ' ' ORDER BY c.relname)
	  FROM pg_class c LEFT JOIN pg_dist_partition p ON p.logicalrelid = c.oid
	 WHERE c.relnamespace = 'bar9'::regnamespace AND c.relkind IN ('r', 'p')
	   AND NOT c.relispartition}),
	'account_counters:hash(account_no) accounts:reference api_keys:reference '
	  . 'audience_numbers:hash(account_no) audience_purges:hash(account_no) '
	  . 'audiences:hash(account_no) broadcasts:hash(account_no) '
	  . 'idempotency_keys:hash(account_no) keyword_replies:hash(account_no) '
	  . 'opt_outs:hash(account_no) senders:reference sms_claims:hash(account_no) '
	  . 'sms_days:reference sms_history:hash(account_no) '
	  . 'sms_queue:hash(account_no) sms_receipt_wait:hash(ref_hash) '
	  . 'sms_retry:hash(account_no)',
	'every table is distributed by account_no or a reference table');
is( $q->(q{
	SELECT count(DISTINCT colocationid) FROM pg_dist_partition
	 WHERE logicalrelid::text LIKE 'bar9.%' AND partmethod = 'h'
	   AND logicalrelid <> 'bar9.sms_receipt_wait'::regclass}),
	'1', 'the tables distributed by account_no are co-located');
my ($rc, $out, $err) = $node->psql('postgres', 'SELECT bar9.distribute()');
like($err, qr/bar9 is distributed already/, 'distribute() runs once');

# ---- proxies to the coordinator and to a worker node
my ($key, $account) = bar9_key($node);
my $coord = start_proxy($node);
my $worker = start_proxy($node, db_node => $w1);
my $r = $worker->request('POST', '/v1/marketing/channels', key => $key,
	json => { name => 'through a worker' });
is($r->{status}, 201, 'POST an audience through a worker node');
my $aud = $r->{json}{id};

# numbers added through both nodes, a broadcast through the worker, then
# more numbers: the recipients are the 20 before the broadcast
my @nums = map { sprintf('+1202555%04d', $_) } 1 .. 25;
for my $i (0 .. 19)
{
	my $p = $i % 2 ? $coord : $worker;
	$r = $p->request('POST', "/v1/marketing/channels/$aud/numbers",
		key => $key, json => { phone_number => $nums[$i] });
	is($r->{status}, 201, "number $i added through the " . ($i % 2 ? 'coordinator' : 'worker'))
	  if $i < 2;
}
$r = $worker->request('POST', "/v1/marketing/channels/$aud/messages",
	key => $key, json => { body => 'Hello from Citus' });
is($r->{status}, 201, 'POST a broadcast through a worker node');
my $msg = $r->{json}{id};
for my $i (20 .. 24)
{
	$coord->request('POST', "/v1/marketing/channels/$aud/numbers",
		key => $key, json => { phone_number => $nums[$i] });
}
my $status = 'pending';
for (1 .. 300)
{
	$r = $worker->request('GET', "/v1/marketing/channels/$aud/messages/$msg", key => $key);
	$status = $r->{json}{status} // '';
	last if $status ne 'pending';
	sleep 0.1;
}
is($status, 'queued', "the coordinator's worker fanned it out");
is($r->{json}{recipient_count}, 20, 'recipients: the audience at its cutoff');
is( $q->(qq{SELECT count(*) FROM bar9.sms WHERE broadcast_id = '$msg'}),
	'20', 'one SMS per number added before the broadcast, through either node');

# ---- claims on two nodes: distinct ids, acknowledged from a third node
my $claim_c = $q->("SELECT string_agg(sms_id, ' ') FROM bar9.claim_sms(5)");
my $claim_w = $w1->safe_psql('postgres', "SELECT string_agg(sms_id, ' ') FROM bar9.claim_sms(5)");
my @ids = (split(/ /, $claim_c), split(/ /, $claim_w));
is(scalar(@ids), 10, 'ten SMS claimed, five on each node');
my %seen = map { $_ => 1 } @ids;
is(scalar(keys %seen), 10, 'every sms_id is unique, whichever node made it');
like($claim_w, qr/\.c\d{13,}/, "a worker node's claim numbers carry its group");
is( $w2->safe_psql('postgres',
		"SELECT bar9.ack_sms('" . (split / /, $claim_c)[0] . "', 'sent')"),
	'sent', 'a claim made on the coordinator is acknowledged on another node');
is( $node->safe_psql('postgres',
		"SELECT bar9.ack_sms_batch(string_to_array('$claim_w', ' '), 'delivered')"),
	'5', "a worker node's claims acknowledged on the coordinator");

# ---- receipts: report_delivery finds its SMS from any node, by one shard
# of sms_receipt_wait (distributed by the hash of the reference)
my @three = split / /, $q->("SELECT string_agg(sms_id, ' ') FROM bar9.claim_sms(3)");
is(scalar(@three), 3, 'three more SMS claimed');
is( $q->(qq{SELECT bar9.ack_sms_batch(ARRAY['$three[0]', '$three[1]', '$three[2]'], 'sent',
			ARRAY['citus-ref-1', 'citus-ref-2', 'citus-p1 citus-p2'])}),
	'3', 'acknowledged sent with provider refs, the third a split SMS of two parts');
is($q->('SELECT count(*) FROM bar9.sms_receipt_wait'), '5',
	'five rows wait: one per reference, and the split SMS\'s count of parts');
my $statuses = sub {
	$q->(q{SELECT string_agg(status, ' ' ORDER BY provider_ref) FROM bar9.sms
			WHERE provider_ref LIKE 'citus-%'});
};
is($w1->safe_psql('postgres', "SELECT bar9.report_delivery('citus-ref-1', 'delivered')"),
	't', 'a receipt reported on a worker node finds its SMS');
is($q->("SELECT bar9.report_delivery('citus-ref-2', 'failed', 'stat:UNDELIV err:034')"),
	't', 'a receipt reported on the coordinator finds its SMS');
is($w2->safe_psql('postgres', "SELECT bar9.report_delivery('citus-p2', 'delivered')"),
	't', "the split SMS's second part, on the other worker");
is($statuses->(), 'sent delivered failed', 'delivered, failed, and the split SMS still sent');
is($q->("SELECT bar9.report_delivery('citus-p1', 'delivered')"), 't', 'its first part');
is($statuses->(), 'delivered delivered failed', 'the split SMS delivered with its last part');
is($q->('SELECT count(*) FROM bar9.sms_receipt_wait'), '0', 'no receipt waits any more');
is($q->("SELECT bar9.report_delivery('citus-ref-1', 'delivered')"), 'f',
	'a repeated receipt finds nothing');
my $h = $q->("SELECT hashtext('citus-ref-1')");
my $rplan = $q->(qq{EXPLAIN (COSTS OFF)
	SELECT x.account_no, x.broadcast_no, x.to_number, x.part_ref
	  FROM bar9.sms_receipt_wait x
	 WHERE x.ref_hash = $h AND x.parts_left IS NULL});
like($rplan, qr/Task Count: 1/, "report_delivery's lookup by ref_hash goes to one shard");
unlike($rplan, qr/coordinator|repartition/i, 'and nothing is pulled to the coordinator');
note $rplan;

# ---- receipts in one call: report_deliveries, from a worker node (each
# receipt one probe of its hash's shard, the counters once per broadcast)
my @more = split / /, $q->("SELECT string_agg(sms_id, ' ') FROM bar9.claim_sms(3)");
is( $q->(qq{SELECT bar9.ack_sms_batch(ARRAY['$more[0]', '$more[1]', '$more[2]'], 'sent',
			ARRAY['citus-b1', 'citus-b2', 'citus-b3 citus-b4'])}),
	'3', 'three more acknowledged sent, the third a split SMS of two parts');
my $counts = sub {
	$q->("SELECT concat_ws(' ', n_sent, n_delivered, n_failed) FROM bar9.broadcasts WHERE broadcast_id = '$msg'");
};
my $before = $counts->();
is( $w1->safe_psql('postgres',
		"SELECT bar9.report_deliveries(ARRAY['citus-b4', 'citus-b1', 'citus-b2', 'citus-b3', 'citus-nope'],"
		  . " ARRAY['delivered', 'delivered', 'failed', 'delivered', 'delivered'])"),
	'{t,t,t,t,f}', 'report_deliveries on a worker node: each receipt found, the unknown one not');
is( $q->(q{SELECT string_agg(status, ' ' ORDER BY provider_ref) FROM bar9.sms
			WHERE provider_ref LIKE 'citus-b%'}),
	'delivered failed delivered', 'delivered, failed, and the split SMS delivered with both parts');
my @b = split / /, $before;
is($counts->(), join(' ', $b[0] - 3, $b[1] + 2, $b[2] + 1),
	'the counters moved: 3 fewer sent, 2 more delivered, 1 more failed');
is($q->('SELECT count(*) FROM bar9.sms_receipt_wait'), '0', 'no receipt waits any more');

# ---- accounts take turns: a second account's broadcast is served next
my ($key2, $account2) = bar9_key($node);
$r = $coord->request('POST', '/v1/marketing/channels', key => $key2,
	json => { name => 'second account' });
my $aud2 = $r->{json}{id};
$coord->request('POST', "/v1/marketing/channels/$aud2/numbers", key => $key2,
	json => { phone_numbers => [ map { sprintf('+1303555%04d', $_) } 1 .. 10 ] });
$r = $coord->request('POST', "/v1/marketing/channels/$aud2/messages", key => $key2,
	json => { body => 'Second' });
my $msg2 = $r->{json}{id};
$node->poll_query_until('postgres',
	"SELECT n_queued = 10 FROM bar9.broadcasts WHERE broadcast_id = '$msg2'")
  or die 'second broadcast not fanned out';
is( $q->(qq{SELECT string_agg(DISTINCT message_id, ' ') FROM bar9.claim_sms(3)}),
	$msg2, 'the broadcast never claimed from goes first');
is( $q->(qq{SELECT string_agg(DISTINCT message_id, ' ') FROM bar9.claim_sms(3)}),
	$msg, 'then the other account\'s');

# ---- one shard each: the fan-out's insert and the key lookup
my $acct_no = $q->("SELECT account_no FROM bar9.accounts WHERE account_id = '$account'");
my $plan = $q->(qq{
	SELECT format('PREPARE ins(int, int, bar9.e164[], text, text) AS %s',
				  bar9.fanout_statement('insert_citus')) \\gexec
	EXPLAIN (COSTS OFF) EXECUTE ins($acct_no, 1, '{+12025550001}', '$account', '$aud');
});
like($plan, qr/Task Count: 1/, "the fan-out's insert runs on one shard");
unlike($plan, qr/coordinator|repartition/i, 'and nothing is pulled to the coordinator');
note $plan;
$plan = $q->("EXPLAIN (COSTS OFF) SELECT account_id FROM bar9.api_keys WHERE key_id = 'key_x'");
like($plan, qr/Task Count: 1/, 'a key is found on one node (a reference table)');

# ---- retiring an old day of SMS history drops it on every node
my $day = q{((now() AT TIME ZONE 'UTC')::date - 40)};
$q->("SELECT bar9.sms_add_partition($day)");
my $shards = "SELECT count(*) FROM pg_class WHERE relname LIKE 'sms_history_' || to_char($day, 'YYYYMMDD') || '%'";
isnt($w1->safe_psql('postgres', $shards), '0', 'a day of history has shards on the workers');
is($q->("SELECT bar9.retire_sms('30 days')"), '0', 'an old, empty day of history retires');
is($q->("SELECT count(*) FROM bar9.sms_days WHERE sms_day = $day"), '0', 'and is forgotten');
is($w1->safe_psql('postgres', $shards), '0', 'its shards are gone from the workers');

done_testing();
