
# Audiences and numbers under concurrency, through bar9.api with real libpq
# clients: 8 pgbench processes (4 per account, 2 accounts) add overlapping
# numbers to their account's shared audience, one by one and in bulk, remove
# numbers, create / fill / delete audiences of their own, and list
# audiences and numbers.  Every answer is logged to a table.  Afterwards:
#   - no request failed or answered 5xx (no deadlock between writers);
#   - every audience's subscriber_count equals a fresh COUNT(*);
#   - deleted audiences have no numbers and are answered 404;
#   - no client ever saw an object of the other account (lists hold only its
#     own audiences and numbers; the other account's audience is 404).

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $clients = 8;
my $transactions = 250;

my $node = PostgreSQL::Test::Cluster->new('concurrent_audiences');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'bar9'");
$node->append_conf('postgresql.conf', "max_connections = 50");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION bar9');

# two accounts, a key each, a shared audience each; client i uses account i % 2
$node->safe_psql('postgres', qq{
	CREATE TABLE public.accts (n int, acct text, api_key text, shared_id text);
	INSERT INTO public.accts (n, acct) VALUES
		(0, bar9.create_account('zero')), (1, bar9.create_account('one'));
	UPDATE public.accts SET api_key = bar9.create_api_key(acct,
		ARRAY['marketing:channels:read', 'marketing:channels:write']),
		shared_id = (bar9.create_audience(acct, 'shared ' || n)).id;
	-- the clients call far faster than the default budget (100/s)
	SELECT bar9.set_account_limits(acct, 1000000, 1000000) FROM public.accts;
	CREATE TABLE public.clients AS
		SELECT c AS client, a.acct, a.api_key, a.shared_id,
			   (SELECT shared_id FROM public.accts o WHERE o.n <> a.n) AS other_id
		  FROM generate_series(0, $clients - 1) c JOIN public.accts a ON a.n = c % 2;
	CREATE TABLE public.seen (client int, acct text, op text, status int, body text);
	-- one request of client cl, logged
	CREATE FUNCTION public.req(cl int, op text, method text, path text, body text)
		RETURNS text LANGUAGE sql AS \$\$
		INSERT INTO public.seen
		SELECT c.client, c.acct, op, a.status, a.body
		  FROM public.clients c,
			   bar9.api(method, replace(replace(path, '{shared}', c.shared_id),
										'{other}', c.other_id),
						jsonb_build_object('x-api-key', c.api_key,
										   'content-type', 'application/json'),
						convert_to(body, 'UTF8')) a
		 WHERE c.client = cl
		RETURNING seen.body
	\$\$;
	-- a phone number of the overlapping pool of 400
	CREATE FUNCTION public.num(i int) RETURNS text LANGUAGE sql IMMUTABLE AS
		\$\$ SELECT '+1202555' || lpad((i % 400)::text, 4, '0') \$\$;
});

my $script = q{
\set r random(1, 20)
\set a random(0, 399)
\if :r <= 7
SELECT public.req(:cl, 'bulk', 'POST', '/v1/marketing/channels/{shared}/numbers',
	json_build_object('phone_numbers',
		(SELECT json_agg(public.num(:a + g * 13)) FROM generate_series(0, 24) g))::text);
\elif :r <= 10
SELECT public.req(:cl, 'add', 'POST', '/v1/marketing/channels/{shared}/numbers',
	json_build_object('phone_number', public.num(:a))::text);
\elif :r <= 13
SELECT public.req(:cl, 'remove', 'DELETE',
	'/v1/marketing/channels/{shared}/numbers/' || replace(public.num(:a), '+', '%2B'), NULL);
\elif :r <= 15
SELECT public.req(:cl, 'create', 'POST', '/v1/marketing/channels', '{"name": "churn"}')::jsonb->>'id' AS nid \gset
SELECT public.req(:cl, 'fill', 'POST', '/v1/marketing/channels/:nid/numbers',
	json_build_object('phone_numbers',
		(SELECT json_agg(public.num(:a + g)) FROM generate_series(0, 9) g))::text);
SELECT public.req(:cl, 'delete', 'DELETE', '/v1/marketing/channels/:nid', NULL);
SELECT public.req(:cl, 'deleted', 'GET', '/v1/marketing/channels/:nid', NULL);
\elif :r <= 17
SELECT public.req(:cl, 'list_channels', 'GET', '/v1/marketing/channels?limit=100', NULL);
\elif :r <= 19
SELECT public.req(:cl, 'list_numbers', 'GET',
	'/v1/marketing/channels/{shared}/numbers?limit=100&starting_after=' || replace(public.num(:a), '+', '%2B'), NULL);
\else
SELECT public.req(:cl, 'peek', 'GET', '/v1/marketing/channels/{other}', NULL);
SELECT public.req(:cl, 'peek', 'POST', '/v1/marketing/channels/{other}/numbers', '{"phone_number": "+12025550001"}');
\endif
};

my $dir = PostgreSQL::Test::Utils::tempdir;
my $file = "$dir/mix.sql";
open(my $fh, '>', $file) or die "could not write $file: $!";
print $fh $script;
close($fh);

# 8 libpq clients at once, each its own pgbench process
my @runs;
for my $cl (0 .. $clients - 1)
{
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'pgbench', '-n', '-c', '1', '-t', $transactions,
			'-D', "cl=$cl", '-f', $file,
			'-h', $node->host, '-p', $node->port, 'postgres'
		],
		'>', \$out, '2>', \$err);
	push @runs, [ $h, \$out, \$err, $cl ];
}
for my $r (@runs)
{
	my ($h, $out, $err, $cl) = @$r;
	$h->finish;
	is($h->result(0), 0, "client $cl finished without error")
	  or diag("stdout:\n$$out\nstderr:\n$$err");
}

my $total = $node->safe_psql('postgres', 'SELECT count(*) FROM public.seen');
cmp_ok($total, '>=', $clients * $transactions, "every request was answered ($total)");

# statuses: only the expected ones, and never a 5xx
is( $node->safe_psql(
		'postgres', q{
	SELECT coalesce(string_agg(DISTINCT op || ' ' || status, ', '), '')
	  FROM public.seen
	 WHERE (op, status) NOT IN (('bulk', 200), ('add', 200), ('add', 201),
		   ('remove', 200), ('remove', 404), ('create', 201), ('fill', 200),
		   ('delete', 200), ('deleted', 404), ('list_channels', 200),
		   ('list_numbers', 200), ('peek', 404))}),
	'',
	'every answer has an expected status');

# every kind of request happened
is( $node->safe_psql(
		'postgres', q{SELECT count(DISTINCT op) FROM public.seen}),
	'10', 'all ten kinds of request were made');

# counts are exact
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*) FROM bar9.audiences c
	 WHERE c.subscriber_count <> (SELECT count(*) FROM bar9.audience_numbers n
								   WHERE n.account_id = c.account_id
									 AND n.audience_id = c.audience_id)}),
	'0',
	'subscriber_count equals a fresh COUNT(*) for every audience');
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*) FROM bar9.audiences c
	 WHERE c.deleted_at IS NOT NULL
	   AND (c.subscriber_count <> 0 OR EXISTS (SELECT 1 FROM bar9.audience_numbers n
			WHERE n.account_id = c.account_id AND n.audience_id = c.audience_id))}),
	'0',
	'deleted audiences keep no numbers');
my $shared = $node->safe_psql(
	'postgres', q{
	SELECT string_agg(c.subscriber_count::text, ',' ORDER BY a.n)
	  FROM public.accts a JOIN bar9.audiences c ON c.audience_id = a.shared_id});
note("shared audiences end with $shared numbers");
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*) FROM bar9.audiences c JOIN public.accts a ON a.shared_id = c.audience_id
	 WHERE c.subscriber_count <> (SELECT count(DISTINCT n.phone_number)
									FROM bar9.audience_numbers n
								   WHERE n.audience_id = c.audience_id)}),
	'0',
	'the API agrees with the membership table for the shared audiences');

# no client saw the other account's data
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*) FROM public.seen s, jsonb_array_elements(s.body::jsonb->'data') e
	 WHERE s.op = 'list_channels'
	   AND NOT EXISTS (SELECT 1 FROM bar9.audiences c
					   WHERE c.account_id = s.acct AND c.audience_id = e->>'id')}),
	'0',
	'audience lists hold only the account\'s own audiences');
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*) FROM public.seen s JOIN public.clients c USING (client),
		   jsonb_array_elements(s.body::jsonb->'data') e
	 WHERE s.op = 'list_numbers' AND e->>'channel_id' <> c.shared_id}),
	'0',
	'number lists hold only the account\'s own audience');
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*) FROM public.seen s JOIN public.clients c USING (client)
	 WHERE position(c.other_id IN s.body) > 0 AND s.op <> 'peek'}),
	'0',
	'no answer names the other account\'s audience');
cmp_ok(
	$node->safe_psql(
		'postgres', q{SELECT count(*) FROM public.seen WHERE op = 'list_channels'
				AND jsonb_array_length(body::jsonb->'data') > 0}),
	'>', 0, 'the lists were not all empty');

$node->stop;
done_testing();
