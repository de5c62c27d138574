# The requests of one account run on its shard alone (make test-citus,
# BAR9_CITUS=1): every statement a route runs for the account names
# account_no, so Citus sends it to the account's shard and no other (the
# remote commands Citus logs name shards of one shard group only); and an
# Idempotency-Key in flight holds through every node: the same key sent
# through the coordinator and through a worker node at once runs once, the
# other request is 409 idempotency_key_in_use, nothing is created twice.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../../lib";
use Bar9Proxy;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

plan skip_all => 'needs BAR9_CITUS=1 (make test-citus)' unless $ENV{BAR9_CITUS};

my $node = bar9_node('shard');
my ($w1, $w2) = Bar9Proxy::citus_workers();
my $q = sub { $node->safe_psql('postgres', $_[0]) };
my ($key, $account) = bar9_key($node);
my $hdr = qq{'{"x-api-key": "$key", "content-type": "application/json"}'::jsonb};

# api_sql(METHOD, PATH, BODY, IDEM): the SQL of one bar9.api request of the
# account, answering "status replayed id-or-error-code"
sub api_sql
{
	my ($method, $path, $body, $idem) = @_;
	my $h = $idem ? "$hdr || jsonb_build_object('idempotency-key', '$idem')" : $hdr;
	my $b = defined $body ? "convert_to('$body', 'UTF8')" : 'NULL';
	return "SELECT a.status || ' ' || coalesce(a.headers->>'idempotent-replayed', '-')"
	  . " || ' ' || coalesce(a.body::jsonb->'error'->>'code', a.body::jsonb->>'id', '-')"
	  . " FROM bar9.api('$method', '$path', $h, $b) a";
}

# shards(SQL): the shard ids of the distributed tables (not reference
# tables) whose commands Citus sends to the workers while SQL runs on the
# coordinator, which holds no shard of them
sub shards
{
	my ($sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres',
		"SET citus.log_remote_commands = on; $sql", on_error_die => 1);
	my %ids;
	for my $line (split /\n/, $err)
	{
		next unless $line =~ /issuing (.*)/;
		$ids{$1} = 1 for $1 =~ /\bbar9\.[a-z_]+?_(\d{6,})\b/g;
	}
	return () unless %ids;
	my $list = join(',', keys %ids);
	return split /\n/, $q->("SELECT shardid FROM pg_dist_shard
		WHERE shardid IN ($list) AND shardminvalue IS NOT NULL ORDER BY 1");
}

# groups(SHARDS...): how many shard groups (hash ranges) the shards span
sub groups
{
	my @ids = @_;
	return 0 unless @ids;
	return $q->('SELECT count(DISTINCT shardminvalue) FROM pg_dist_shard WHERE shardid IN ('
		  . join(',', @ids) . ')');
}

# ---- an account with an audience, numbers, a broadcast and an opt-out
my $aud = (split / /, $q->(api_sql('POST', '/v1/marketing/channels', '{"name": "a"}')))[2];
$q->(api_sql('POST', '/v1/marketing/channels', '{"name": "b"}'));
$q->(api_sql('POST', "/v1/marketing/channels/$aud/numbers",
		'{"phone_numbers": ["+12025550001", "+12025550002", "+12025550003"]}'));
my $msg = (split / /, $q->(api_sql('POST', "/v1/marketing/channels/$aud/messages", '{"body": "hi"}')))[2];
like($msg, qr/^msg_/, 'a broadcast');
$q->(api_sql('POST', "/v1/marketing/channels/$aud/messages", '{"body": "again"}'));
$q->(api_sql('POST', '/v1/marketing/opt-outs', '{"phone_number": "+12025550009"}'));

# the check can fail: a statement by account_id alone asks every shard
my @all = shards("SELECT count(*) FROM bar9.opt_outs WHERE account_id = '$account'");
cmp_ok(groups(@all), '>', 1, 'control: a statement without account_no goes to every shard');

# ---- each route: its statements on one shard group, the account's
my $acct_no = $q->("SELECT account_no FROM bar9.accounts WHERE account_id = '$account'");
my @routes = (
	[ 'GET', '/v1/marketing/channels' ],
	[ 'GET', "/v1/marketing/channels?limit=1&starting_after=$aud" ],
	[ 'GET', "/v1/marketing/channels/$aud" ],
	[ 'GET', "/v1/marketing/channels/$aud/numbers" ],
	[ 'GET', "/v1/marketing/channels/$aud/numbers?starting_after=%2B12025550001" ],
	[ 'GET', "/v1/marketing/channels/$aud/numbers/%2B12025550002" ],
	[ 'GET', "/v1/marketing/channels/$aud/messages" ],
	[ 'GET', "/v1/marketing/channels/$aud/messages?starting_after=$msg" ],
	[ 'GET', "/v1/marketing/channels/$aud/messages/$msg" ],
	[ 'GET', "/v1/marketing/channels/$aud/messages/$msg/recipients" ],
	[ 'GET', '/v1/marketing/opt-outs' ],
	[ 'GET', '/v1/marketing/opt-outs?starting_after=%2B12025550001' ],
	[ 'POST', '/v1/marketing/channels', '{"name": "idem"}', 'route-key' ],
	[ 'POST', '/v1/marketing/channels', '{"name": "idem"}', 'route-key' ]);
my $expect = $q->("SELECT shardminvalue FROM pg_dist_shard WHERE shardid =
	get_shard_id_for_distribution_column('bar9.account_counters', $acct_no)");
for my $r (@routes)
{
	my ($method, $path, $body, $idem) = @$r;
	my $what = "$method $path" . ($idem ? ' (Idempotency-Key)' : '');
	my @ids = shards(api_sql($method, $path, $body, $idem));
	is(groups(@ids), 1, "$what: one shard group");
	is( $q->('SELECT string_agg(DISTINCT shardminvalue, \',\') FROM pg_dist_shard WHERE shardid IN ('
			  . join(',', @ids, 0) . ')'),
		$expect, "$what: the account's");
}
for my $sql ("SELECT * FROM bar9.keyword_replies('$account')",
	"SELECT bar9.receive_sms('$account', '+12025550008', 'HELP')",
	"SELECT bar9.is_opted_out('$account', '+12025550009')",
	"SELECT * FROM bar9.list_audiences('$account')",
	"SELECT * FROM bar9.list_broadcasts('$account', '$aud')")
{
	my @ids = shards($sql);
	is(groups(@ids), 1, "$sql: one shard group");
}

# ---- one Idempotency-Key through two nodes at once
# the first request's transaction stays open on one node; the same key
# through another node is 409 at once, then replays once it commits
my @nodes = ([ 'the coordinator', $node ], [ 'worker 1', $w1 ], [ 'worker 2', $w2 ]);
for my $pair ([ 0, 1 ], [ 1, 0 ], [ 1, 2 ])
{
	my ($first, $second) = map { $nodes[$_] } @$pair;
	my $idem = "held-$pair->[0]$pair->[1]";
	my $name = "held $pair->[0]$pair->[1]";
	my $bg = $first->[1]->background_psql('postgres');
	$bg->query_safe('BEGIN');
	my $one = $bg->query_safe(api_sql('POST', '/v1/marketing/channels', qq{{"name": "$name"}}, $idem));
	like($one, qr/^201 - mkt_/, "through $first->[0]: the first request runs");
	my $t0 = time();
	is( $second->[1]->safe_psql('postgres',
			api_sql('POST', '/v1/marketing/channels', qq{{"name": "$name"}}, $idem)),
		'409 - idempotency_key_in_use',
		"the same key through $second->[0] meanwhile: 409");
	cmp_ok(time() - $t0, '<', 10, 'at once, without waiting for the first');
	$bg->query_safe('COMMIT');
	$bg->quit;
	my $id = (split / /, $one)[2];
	is( $second->[1]->safe_psql('postgres',
			api_sql('POST', '/v1/marketing/channels', qq{{"name": "$name"}}, $idem)),
		"201 true $id", "after the commit, through $second->[0]: the answer replayed");
	is($q->("SELECT count(*) FROM bar9.audiences WHERE name = '$name'"),
		'1', 'one audience made');
}

# a race: the same keys sent through the coordinator and through a worker
# node at the same time, in the same order; each key runs exactly once
my $n = 60;
my %out;
my @runs;
for my $pair ([ 'coord', $node ], [ 'w1', $w1 ])
{
	my ($label, $db) = @$pair;
	my $script = "$PostgreSQL::Test::Utils::tmp_check/race_$label.sql";
	open(my $fh, '>', $script) or die $!;
	print $fh api_sql('POST', '/v1/marketing/channels', qq{{"name": "race $_"}}, "race-$_") . ";\n"
	  for 1 .. $n;
	close $fh;
	$out{$label} = '';
	push @runs, IPC::Run::start(
		[ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', $db->host,
		  '-p', $db->port, '-d', 'postgres', '-f', $script ],
		'>', \$out{$label}, '2>', \my $err);
}
$_->finish for @runs;
my @c = split /\n/, $out{coord};
my @w = split /\n/, $out{w1};
is(scalar(@c) + scalar(@w), 2 * $n, 'every request of the race answered');
my ($ran, $bad) = (0, 0);
for my $i (0 .. $n - 1)
{
	my @two = ($c[$i] // '', $w[$i] // '');
	my @run = grep { /^201 - mkt_/ } @two;
	my $id = @run == 1 ? (split / /, $run[0])[2] : 'none';
	my $other = grep { $_ eq "201 true $id" || $_ eq '409 - idempotency_key_in_use' } @two;
	my $once = @run == 1 && $other == 1;
	$once ? $ran++ : $bad++;
	diag("race-" . ($i + 1) . ": @two") unless $once;
}
is($ran, $n, 'each key ran once through one node; the other got a replay or 409');
is( $q->("SELECT count(*), count(DISTINCT name) FROM bar9.audiences WHERE name LIKE 'race %'"),
	"$n|$n", 'one audience per key, none twice');
is( $q->("SELECT count(*) FROM bar9.idempotency_keys WHERE idem_key LIKE 'race-%'"),
	$n, 'one stored answer per key');

done_testing();
