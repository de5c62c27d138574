# No lock that another session can take or hold stalls the worker for
# longer than bar9.worker_lock_timeout: past it, the batch is rolled back,
# the wait is logged once, and other accounts' broadcasts fan out.
#
# The locks a plain login can reach: it cannot lock bar9's tables or rows
# (no privilege), but any login can take any advisory lock, among them an
# account's consent lock (optouts.h), whose key it can read in pg_locks.
# The proxy's login can also hold an open transaction in which bar9.api
# added an opt-out: the consent lock taken exclusive and rows locked.
# Each is held while account A's broadcast, then account B's, are created
# (A's first: the worker reaches A's before B's).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('locks');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'bar9'
bar9.poll_interval = '500ms'
bar9.worker_lock_timeout = '1s'
});
$node->start;
my $q = sub { return $node->safe_psql('postgres', $_[0]) };
$q->('CREATE EXTENSION bar9');
$q->('CREATE ROLE plain LOGIN');
$q->('CREATE ROLE proxy LOGIN IN ROLE bar9_api');

# account(NAME): an account with a key and an audience of 100 numbers
sub account
{
	my ($name, $prefix) = @_;
	my ($acct, $key, $aud) = split /\|/, $q->(qq{
		WITH a AS (SELECT bar9.create_account('$name') AS id)
		SELECT a.id, bar9.create_api_key(a.id, ARRAY['marketing:channels:read','marketing:channels:write','marketing:channels:send']),
			   (bar9.create_audience(a.id, 'hundred')).id FROM a});
	$q->(qq{SELECT bar9.add_numbers('$acct', '$aud',
		ARRAY(SELECT '$prefix' || lpad(g::text, 5, '0') FROM generate_series(1, 100) g))});
	return ($acct, $key, $aud);
}
my ($acct_a, $key_a, $aud_a) = account('A', '+2135550');
my ($acct_b, $key_b, $aud_b) = account('B', '+2135551');

# status(MSG): a broadcast's status
sub status
{
	return $q->("SELECT status FROM bar9.broadcasts WHERE broadcast_id = '$_[0]'");
}

# left_pending(MSG, SECONDS): whether MSG leaves pending within SECONDS
sub left_pending
{
	my ($msg, $secs) = @_;
	my $until = time + $secs;
	while (time < $until)
	{
		return 1 if status($msg) ne 'pending';
		usleep(100_000);
	}
	return 0;
}

# broadcast(ACCT, AUD): a new broadcast's id
sub broadcast
{
	my ($acct, $aud) = @_;
	return $q->("SELECT id FROM bar9.create_broadcast('$acct', '$aud', 'Hello')");
}

# waits_logged(MSG): how many times the log says MSG waits for a lock
sub waits_logged
{
	my $log = slurp_file($node->logfile);
	my @hits = ($log =~ /bar9 fan-out of broadcast "\Q$_[0]\E" of account "[^"]+" waits/g);
	return scalar @hits;
}

# 1. a plain login cannot lock bar9's tables or rows
my $plain = $node->background_psql('postgres', on_error_stop => 0,
	extra_params => [ '-U', 'plain' ]);
for my $sql ('LOCK TABLE bar9.broadcasts IN ACCESS SHARE MODE',
	'LOCK TABLE bar9.sms_queue IN ACCESS EXCLUSIVE MODE',
	'SELECT 1 FROM bar9.broadcasts FOR UPDATE',
	'SELECT 1 FROM bar9.accounts FOR KEY SHARE')
{
	my ($ret, $out, $err) = $node->psql('postgres', "BEGIN; $sql; COMMIT",
		extra_params => [ '-U', 'plain' ]);
	like($err, qr/permission denied/, "a plain login may not: $sql");
}

# 2. ... but it can take account A's consent lock, found in pg_locks
# after an opt-out of A left it there
my $optout = $node->background_psql('postgres');
$optout->query_safe(qq{BEGIN; SELECT bar9.add_opt_out('$acct_a', '+213555099999', 'api')});
my $key = $plain->query_safe(q{
	SELECT classid || ',' || objid FROM pg_locks
	 WHERE locktype = 'advisory' AND objsubid = 2 AND mode = 'ExclusiveLock'});
like($key, qr/^\d+,\d+$/, 'a plain login reads the consent lock key in pg_locks');
$optout->query_safe('COMMIT');
# (classid, objid) show the int4 pair as unsigned oids
my ($k1, $k2) = split /,/, $key;
$plain->query_safe(qq{SELECT pg_advisory_lock(${k1}::bigint::int4,
	(CASE WHEN ${k2}::bigint > 2147483647 THEN ${k2}::bigint - 4294967296 ELSE ${k2}::bigint END)::int4)});
is($plain->query_safe(q{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
	AND objsubid = 2 AND mode = 'ExclusiveLock' AND granted AND pid = pg_backend_pid()}),
	'1', 'the plain login holds account A\'s consent lock');

my $msg_a = broadcast($acct_a, $aud_a);
my $msg_b = broadcast($acct_b, $aud_b);
ok(left_pending($msg_b, 10), 'account B\'s broadcast fans out while A\'s consent lock is held');
is(status($msg_b), 'queued', 'B is queued');
sleep 3;    # several retries of A (poll_interval 500ms, lock timeout 1s)
is(status($msg_a), 'pending', 'A\'s broadcast waits for its consent lock');
is(waits_logged($msg_a), 1, 'the wait is logged once, not at every retry');
$plain->query_safe('SELECT pg_advisory_unlock_all()');
ok(left_pending($msg_a, 10), 'A fans out once the lock is released');
is($q->("SELECT n_queued FROM bar9.broadcasts WHERE broadcast_id = '$msg_a'"), '100',
	'with all of its 100 SMS');

# 3. the proxy's login holds an open transaction in which bar9.api added an
# opt-out of account A (consent lock exclusive, rows locked)
my $proxy = $node->background_psql('postgres', extra_params => [ '-U', 'proxy' ]);
my $st = $proxy->query_safe(qq{BEGIN; SELECT status FROM bar9.api('POST', '/v1/marketing/opt-outs',
	'{"authorization": "Bearer $key_a", "content-type": "application/json"}',
	convert_to('{"phone_number": "+213555000100"}', 'UTF8'))});
is($st, '201', 'an opt-out of A, left uncommitted');
$msg_a = broadcast($acct_a, $aud_a);
$msg_b = broadcast($acct_b, $aud_b);
ok(left_pending($msg_b, 10), 'B\'s next broadcast fans out while that transaction is open');
sleep 2;
is(status($msg_a), 'pending', 'A\'s waits');
is(waits_logged($msg_a), 1, 'logged once');
$proxy->query_safe('COMMIT');
ok(left_pending($msg_a, 10), 'A fans out once the opt-out commits');
is($q->("SELECT n_queued || '/' || suppressed_count FROM bar9.broadcasts WHERE broadcast_id = '$msg_a'"),
	'99/1', 'without the number that opted out');

$plain->quit;
$proxy->quit;
$optout->quit;
$node->stop;
done_testing();
