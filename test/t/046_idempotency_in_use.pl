
# Idempotency-Key while the first request is still running: a second
# request with the same key (same account) is answered 409 at once, without
# waiting; once the first commits, the same request replays its answer;
# another key, or the same key of another account, is not held up.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('idempotency_in_use');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'bar9'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION bar9');

$node->safe_psql('postgres', q{
	CREATE TABLE public.k (n int, h jsonb);
	INSERT INTO public.k
	SELECT n, jsonb_build_object('x-api-key', bar9.create_api_key(a,
				ARRAY['marketing:channels:write']),
			'content-type', 'application/json', 'idempotency-key', 'same-key')
	  FROM (VALUES (0, bar9.create_account('first')),
				   (1, bar9.create_account('second'))) v(n, a);
	-- one POST of account n with key; returns "status replayed-header"
	CREATE FUNCTION public.post(n int, key text, name text) RETURNS text
		LANGUAGE sql AS $$
		SELECT a.status || ' ' || coalesce(a.headers->>'idempotent-replayed', '-')
			   || ' ' || coalesce(a.body::jsonb->'error'->>'code', a.body::jsonb->>'name')
		  FROM public.k, bar9.api('POST', '/v1/marketing/channels',
								  k.h || jsonb_build_object('idempotency-key', key),
								  convert_to(json_build_object('name', name)::text, 'UTF8')) a
		 WHERE k.n = post.n
	$$;
});

# the first request runs in a transaction that stays open
my $first = $node->background_psql('postgres');
$first->query_safe('BEGIN');
is($first->query_safe(q{SELECT public.post(0, 'same-key', 'one')}),
	'201 - one', 'the first request runs');

# meanwhile: the same key is 409 at once; other keys and accounts go through
my $t0 = time();
is($node->safe_psql('postgres', q{SELECT public.post(0, 'same-key', 'one')}),
	'409 - idempotency_key_in_use', 'the same request while the first runs: 409');
is($node->safe_psql('postgres', q{SELECT public.post(0, 'same-key', 'other')}),
	'409 - idempotency_key_in_use', 'another body while the first runs: 409 too');
cmp_ok(time() - $t0, '<', 10, 'the 409 did not wait for the first request');
is($node->safe_psql('postgres', q{SELECT public.post(0, 'other-key', 'two')}),
	'201 - two', 'another key is not held up');
is($node->safe_psql('postgres', q{SELECT public.post(1, 'same-key', 'three')}),
	'201 - three', 'the same key of another account is not held up');

# the first commits: the same request now replays it, another body is 422
$first->query_safe('COMMIT');
is($node->safe_psql('postgres', q{SELECT public.post(0, 'same-key', 'one')}),
	'201 true one', 'after commit the same request replays the answer');
is($node->safe_psql('postgres', q{SELECT public.post(0, 'same-key', 'other')}),
	'422 - idempotency_key_reused', 'after commit another body is 422');

# a first request that rolls back leaves the key free
$first->query_safe('BEGIN');
$first->query_safe(q{SELECT public.post(0, 'rollback-key', 'four')});
is($node->safe_psql('postgres', q{SELECT public.post(0, 'rollback-key', 'four')}),
	'409 - idempotency_key_in_use', 'still running: 409');
$first->query_safe('ROLLBACK');
is($node->safe_psql('postgres', q{SELECT public.post(0, 'rollback-key', 'four')}),
	'201 - four', 'after a rollback the request runs anew');
$first->quit;

is($node->safe_psql('postgres',
		q{SELECT count(*) FROM bar9.audiences WHERE name IN ('one', 'four')}),
	'2', 'one audience per key was created');

$node->stop;
done_testing();
