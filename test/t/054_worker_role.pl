
# The fan-out worker runs as bar9_worker, not a superuser, with rights on
# bar9's objects only (README, "Security model"):
#   - before CREATE EXTENSION only the launcher runs, and says it waits for
#     the role; after it, the worker's session is bar9_worker's;
#   - no client can open a session as bar9_worker (CONNECTION LIMIT 0);
#   - every right it holds is on an object of schema bar9, and as it no
#     secret, no other table, no role, no bar9.api can be reached;
#   - the running worker is held to its grants: without UPDATE on
#     bar9.broadcasts its fan-out fails with "permission denied" (a superuser
#     would pass) and succeeds once the grant is back;
#   - the worker owns sms_history's days, whoever made them, and drops them;
#   - after the worker or the launcher is terminated, one worker runs again.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('worker_role');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'bar9'
bar9.poll_interval = '200ms'
bar9.maintenance_interval = '1h'
});
$node->start;
my $q = sub { return $node->safe_psql('postgres', $_[0]) };

# 1. The launcher waits for the role; no fan-out worker yet.
$node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'bar9 launcher'})
  or die 'no launcher';
$node->wait_for_log(qr/bar9 launcher is waiting for role "bar9_worker"/);
is($q->(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'bar9 fan-out'}),
	'0', 'before CREATE EXTENSION: no fan-out worker');
is($q->(q{SELECT datname IS NULL FROM pg_stat_activity WHERE backend_type = 'bar9 launcher'}),
	't', 'the launcher is connected to no database (it runs no SQL)');

# 2. After it: the worker's session is bar9_worker's, which is no superuser.
$q->('CREATE EXTENSION bar9');
$node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'bar9 fan-out'})
  or die 'the fan-out worker did not start after CREATE EXTENSION';
is($q->(q{SELECT usename FROM pg_stat_activity WHERE backend_type = 'bar9 fan-out'}),
	'bar9_worker', "the worker's session user is bar9_worker");
is( $q->(q{
		SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication,
			   rolbypassrls, rolinherit, rolconnlimit, rolpassword IS NULL
		  FROM pg_authid WHERE rolname = 'bar9_worker'}),
	'f|f|f|f|f|f|0|t',
	'bar9_worker: no superuser, CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS; no password; connection limit 0');
is( $q->(q{
		SELECT count(*) FROM pg_auth_members
		 WHERE member = 'bar9_worker'::regrole OR roleid = 'bar9_worker'::regrole}),
	'0', 'bar9_worker is a member of no role and has no member');

# 3. No client can be bar9_worker, not even with trust in pg_hba.conf.
my ($rc, $out, $err) = $node->psql('postgres', 'SELECT 1',
	extra_params => [ '-U', 'bar9_worker' ]);
isnt($rc, 0, 'a client cannot connect as bar9_worker');
like($err, qr/too many connections for role "bar9_worker"/, '... refused by its connection limit');

# 4. Its rights are on bar9's objects only.
is( $q->(q{
		SELECT coalesce(string_agg(c.oid::regclass::text, ','), '') FROM pg_class c
		 WHERE c.relnamespace <> 'bar9'::regnamespace
		   -- the TOAST tables (and their indexes) of its tables are its own
		   AND NOT EXISTS (SELECT FROM pg_class t
							 LEFT JOIN pg_index i ON i.indrelid = t.reltoastrelid
							WHERE t.relnamespace = 'bar9'::regnamespace
							  AND c.oid IN (t.reltoastrelid, i.indexrelid))
		   AND (c.relowner = 'bar9_worker'::regrole
				OR EXISTS (SELECT FROM aclexplode(c.relacl) a
							WHERE a.grantee = 'bar9_worker'::regrole))}),
	'', 'it owns and is granted no relation outside schema bar9');
is( $q->(q{
		SELECT count(*) FROM pg_proc p
		 WHERE p.pronamespace <> 'bar9'::regnamespace
		   AND (p.proowner = 'bar9_worker'::regrole
				OR EXISTS (SELECT FROM aclexplode(p.proacl) a
							WHERE a.grantee = 'bar9_worker'::regrole))}),
	'0', 'it owns and is granted no function outside schema bar9');
is( $q->(q{
		SELECT string_agg(DISTINCT c.relname, ',' ORDER BY c.relname) FROM pg_class c
		 WHERE c.relowner = 'bar9_worker'::regrole AND c.relkind IN ('r', 'p')}),
	join(',', 'sms_history', map { sprintf('sms_history_%s', $_) } split /\n/,
		$q->(q{SELECT to_char((now() AT TIME ZONE 'UTC')::date + i, 'YYYYMMDD') FROM generate_series(0, 2) i})),
	'it owns sms_history and its days, nothing else');
is( $q->(q{
		SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_class c
		 WHERE c.relnamespace = 'bar9'::regnamespace AND c.relkind IN ('r', 'p', 'S')
		   AND c.relowner <> 'bar9_worker'::regrole
		   AND CASE WHEN c.relkind = 'S'
					THEN has_sequence_privilege('bar9_worker', c.oid, 'USAGE')
					ELSE has_table_privilege('bar9_worker', c.oid,
											 'SELECT, INSERT, UPDATE, DELETE') END}),
	'audience_numbers,audience_purges,audiences,broadcasts,idempotency_keys,opt_outs,sms_days,sms_queue,sms_receipt_wait,sms_retry',
	'the tables and sequences it may use: those of fan-out, cancel, purges and partitions');

# As bar9_worker: no secret, no other table, no role, no API.
$q->(q{CREATE TABLE public.secret AS SELECT 'x' AS s});
my @denied = (
	[ 'SELECT * FROM bar9.api_keys',  'permission denied for table api_keys' ],
	[ 'SELECT * FROM bar9.accounts',  'permission denied for table accounts' ],
	[ 'SELECT * FROM bar9.sms_claims', 'permission denied for table sms_claims' ],
	[ 'SELECT * FROM public.secret', 'permission denied for table secret' ],
	[ 'SELECT * FROM pg_authid',     'permission denied for table pg_authid' ],
	[ 'CREATE ROLE mallory', 'permission denied to create role' ],
	[ 'CREATE ROLE mallory SUPERUSER', 'must be superuser to create superusers' ],
	[ 'CREATE TABLE public.planted (x int)', 'permission denied for schema public' ],
	[ q{COPY bar9.broadcasts TO PROGRAM 'true'},
		'must be superuser or have privileges of the pg_execute_server_program role' ],
	[ q{SELECT bar9.api('GET', '/v1/marketing/channels', '{}', NULL)},
		'permission denied for function api' ],
	[ q{SELECT bar9.create_account('x')}, 'permission denied for function create_account' ],
	[ q{ALTER TABLE bar9.broadcasts ADD COLUMN x int}, 'must be owner of table broadcasts' ],
);
for my $d (@denied)
{
	my ($sql, $msg) = @$d;
	($rc, $out, $err) = $node->psql('postgres', "SET ROLE bar9_worker; $sql");
	like($err, qr/\Q$msg\E/, "as bar9_worker: $sql is refused");
}

# 5. The running worker is held to its grants.
my ($acct, $aud) = split /\|/, $q->(q{
	SELECT a, (bar9.create_audience(a, 'role')).id FROM bar9.create_account('role') a});
$q->(qq{SELECT bar9.add_number('$acct', '$aud', ('+12025550' || lpad(i::text, 3, '0'))::bar9.e164)
		  FROM generate_series(1, 50) i});
$q->('REVOKE UPDATE ON bar9.broadcasts FROM bar9_worker');
my $msg = $q->(qq{SELECT id FROM bar9.create_broadcast('$acct', '$aud', 'held')});
$node->wait_for_log(
	qr/ERROR:  permission denied for table broadcasts\n.*CONTEXT:  SQL statement .*\n\tfan-out of broadcast "$msg"/);
pass('without UPDATE on bar9.broadcasts the fan-out fails: "permission denied"');
is($q->(qq{SELECT status FROM bar9.broadcasts WHERE broadcast_id = '$msg'}),
	'pending', '... and the broadcast waits');
$q->('GRANT UPDATE ON bar9.broadcasts TO bar9_worker');
ok( $node->poll_query_until('postgres', qq{
		SELECT status = 'queued' AND n_queued = 50 FROM bar9.broadcasts WHERE broadcast_id = '$msg'}),
	'with the grant back it is fanned out');

# 6. Days of SMS history made by a superuser are the worker's, and it drops them.
$q->(q{SELECT bar9.sms_add_partition((now() AT TIME ZONE 'UTC')::date - 40)});
is( $q->(q{
		SELECT pg_get_userbyid(relowner) FROM pg_class
		 WHERE relname = 'sms_history_' || to_char((now() AT TIME ZONE 'UTC')::date - 40, 'YYYYMMDD')}),
	'bar9_worker', 'a day added by a superuser belongs to bar9_worker');
$q->(q{ALTER SYSTEM SET bar9.maintenance_interval = '1s'});
$q->(q{SELECT pg_reload_conf()});
ok( $node->poll_query_until('postgres', q{
		SELECT NOT EXISTS (SELECT FROM bar9.sms_days WHERE sms_day = (now() AT TIME ZONE 'UTC')::date - 40)}),
	'the worker retired that day (dropped its partition)');
$q->(q{ALTER SYSTEM RESET bar9.maintenance_interval});
$q->(q{SELECT pg_reload_conf()});

# 7. Terminated, the worker comes back as bar9_worker; so does it when its
# launcher is terminated (the worker goes with it: never two workers).
for my $who ('bar9 fan-out', 'bar9 launcher')
{
	my $old = $q->(qq{SELECT pid FROM pg_stat_activity WHERE backend_type = 'bar9 fan-out'});
	$q->(qq{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = '$who'});
	ok( $node->poll_query_until('postgres', qq{
			SELECT count(*) = 1 AND bool_and(pid <> $old AND usename = 'bar9_worker')
			  FROM pg_stat_activity WHERE backend_type = 'bar9 fan-out'}),
		"after $who was terminated, one worker runs again as bar9_worker");
	$msg = $q->(qq{SELECT id FROM bar9.create_broadcast('$acct', '$aud', 'after $who')});
	ok( $node->poll_query_until('postgres', qq{
			SELECT status = 'queued' FROM bar9.broadcasts WHERE broadcast_id = '$msg'}),
		"... and fans out");
}
sleep 1;
is($q->(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'bar9 fan-out'}),
	'1', 'one fan-out worker, not two');

$node->stop;
done_testing();
