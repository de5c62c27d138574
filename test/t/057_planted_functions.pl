# Functions planted by a role that can create objects in public
# (CVE-2018-1058's pattern) never run with bar9's rights: the worker pins
# its search_path to pg_catalog, pg_temp, and so does every function that
# runs with more rights than its caller (bar9.api, the sender functions,
# receive_sms, report_delivery, receive_sms_at).  A role with CREATE on public plants unnest, nextval, now
# and the like, each of which records that it ran; then a broadcast, a
# scheduled one, claims and acks (as a sender), an opt-out (route and
# keyword) and every route are used; none of the planted functions ran.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('planted');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'bar9'");
$node->start;
my $q = sub { return $node->safe_psql('postgres', $_[0]) };
$q->('CREATE EXTENSION bar9');
$q->(q{
	CREATE ROLE mallory LOGIN IN ROLE bar9_api;   -- a proxy's login, say
	GRANT CREATE ON SCHEMA public TO mallory;
	CREATE ROLE sender LOGIN IN ROLE bar9_sender;
	CREATE ROLE proxy LOGIN IN ROLE bar9_api;
});

# mallory's functions: each records its name, then does what it shadows
$node->safe_psql('postgres', q{
	CREATE TABLE public.trap (fn text);
	GRANT INSERT ON public.trap TO PUBLIC;
	CREATE FUNCTION public.unnest(bar9.e164[]) RETURNS SETOF bar9.e164 LANGUAGE sql AS
		$$ INSERT INTO public.trap VALUES ('unnest(e164[])'); SELECT pg_catalog.unnest($1) $$;
	CREATE FUNCTION public.hashtext(text) RETURNS integer LANGUAGE sql AS
		$$ INSERT INTO public.trap VALUES ('hashtext(text)'); SELECT pg_catalog.hashtext($1) $$;
	CREATE FUNCTION public.unnest(text[]) RETURNS SETOF text LANGUAGE sql AS
		$$ INSERT INTO public.trap VALUES ('unnest(text[])'); SELECT pg_catalog.unnest($1) $$;
	CREATE FUNCTION public.unnest(integer[]) RETURNS SETOF integer LANGUAGE sql AS
		$$ INSERT INTO public.trap VALUES ('unnest(integer[])'); SELECT pg_catalog.unnest($1) $$;
	CREATE FUNCTION public.unnest(bigint[]) RETURNS SETOF bigint LANGUAGE sql AS
		$$ INSERT INTO public.trap VALUES ('unnest(bigint[])'); SELECT pg_catalog.unnest($1) $$;
	CREATE FUNCTION public.nextval(text) RETURNS bigint LANGUAGE sql AS
		$$ INSERT INTO public.trap VALUES ('nextval(text)'); SELECT pg_catalog.nextval($1::regclass) $$;
	CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS
		$$ INSERT INTO public.trap VALUES ('now()'); SELECT pg_catalog.now() $$;
	CREATE FUNCTION public.power(double precision, integer) RETURNS double precision LANGUAGE sql AS
		$$ INSERT INTO public.trap VALUES ('power'); SELECT pg_catalog.power($1, $2::float8) $$;
	CREATE FUNCTION public.set_config(text, text, boolean) RETURNS text LANGUAGE sql AS
		$$ INSERT INTO public.trap VALUES ('set_config'); SELECT pg_catalog.set_config($1, $2, $3) $$;
}, extra_params => [ '-U', 'mallory' ]);

# the trap works: with public ahead of pg_catalog, a superuser springs it
$q->(q{SET search_path = public, pg_catalog;
	SELECT count(*) FROM unnest(ARRAY['+213555000001']::bar9.e164[])});
is($q->('SELECT string_agg(fn, \',\') FROM public.trap'), 'unnest(e164[])',
	'the planted unnest runs for a session whose path puts public first');
$q->('TRUNCATE public.trap');

# an account, a key, an audience of 50 numbers
my ($acct, $key, $aud) = split /\|/, $q->(q{
	WITH a AS (SELECT bar9.create_account('planted') AS id)
	SELECT a.id, bar9.create_api_key(a.id, ARRAY['marketing:channels:read','marketing:channels:write','marketing:channels:send']),
		   (bar9.create_audience(a.id, 'fifty')).id FROM a});
$q->(qq{SELECT bar9.add_numbers('$acct', '$aud',
	ARRAY(SELECT '+2135550' || lpad(g::text, 5, '0') FROM generate_series(1, 50) g))});

# call(METHOD, PATH, BODY): bar9.api as the proxy's role, whose path is
# the default one ("$user", public)
sub call
{
	my ($method, $path, $body) = @_;
	my $b = defined $body ? "convert_to('$body', 'UTF8')" : 'NULL';
	return $node->safe_psql('postgres', qq{
		SET search_path = public, pg_catalog;
		SELECT status FROM bar9.api('$method', '$path',
			'{"authorization": "Bearer $key", "content-type": "application/json"}', $b)},
		extra_params => [ '-U', 'proxy' ]);
}

# every route, through bar9.api
is(call('GET', '/v1/marketing/channels'), '200', 'GET channels');
is(call('POST', '/v1/marketing/channels', '{"name": "x"}'), '201', 'POST channels');
is(call('GET', "/v1/marketing/channels/$aud"), '200', 'GET channel');
is(call('PATCH', "/v1/marketing/channels/$aud", '{"name": "renamed"}'), '200', 'PATCH channel');
is(call('POST', "/v1/marketing/channels/$aud/numbers", '{"phone_numbers": ["+213555100001", "+213555100002"]}'), '200', 'POST numbers (bulk)');
is(call('POST', "/v1/marketing/channels/$aud/numbers", '{"phone_number": "+213555100003"}'), '201', 'POST number');
is(call('GET', "/v1/marketing/channels/$aud/numbers"), '200', 'GET numbers');
is(call('GET', "/v1/marketing/channels/$aud/numbers/%2B213555100003"), '200', 'GET number');
is(call('DELETE', "/v1/marketing/channels/$aud/numbers/%2B213555100003"), '200', 'DELETE number');
is(call('POST', '/v1/marketing/opt-outs', '{"phone_number": "+213555000050"}'), '201', 'POST opt-out');
is(call('GET', '/v1/marketing/opt-outs'), '200', 'GET opt-outs');
is(call('DELETE', '/v1/marketing/opt-outs/%2B213555000050'), '200', 'DELETE opt-out');
is(call('GET', '/v1/openapi.json'), '200', 'GET openapi.json');

# a broadcast, fanned out by the worker; a scheduled one, started by it
my $msg = $node->safe_psql('postgres', qq{
	SET search_path = public, pg_catalog;
	SELECT body::jsonb->>'id' FROM bar9.api('POST', '/v1/marketing/channels/$aud/messages',
		'{"authorization": "Bearer $key", "content-type": "application/json"}',
		convert_to('{"body": "hello"}', 'UTF8'))}, extra_params => [ '-U', 'proxy' ]);
my $later = $q->(qq{SELECT (bar9.create_broadcast('$acct', '$aud', 'later', now() + interval '1 hour')).id});
$q->(qq{UPDATE bar9.broadcasts SET send_at = now() WHERE broadcast_id = '$later';
	SELECT bar9.wake_worker()});
$node->poll_query_until('postgres', qq{
	SELECT count(*) = 2 FROM bar9.broadcasts
	 WHERE broadcast_id IN ('$msg', '$later') AND status = 'queued'})
  or die 'the broadcasts were never fanned out';
is(call('GET', "/v1/marketing/channels/$aud/messages"), '200', 'GET messages');
is(call('GET', "/v1/marketing/channels/$aud/messages/$msg"), '200', 'GET message');
is(call('GET', "/v1/marketing/channels/$aud/messages/$msg/recipients"), '200', 'GET recipients');

# a sender claims and acknowledges, retries one; an opt-out by keyword
my $sent = $node->safe_psql('postgres', q{
	SET search_path = public, pg_catalog;
	CREATE TEMP TABLE c AS SELECT * FROM bar9.claim_sms(1000);
	SELECT bar9.ack_sms(sms_id, 'retry') FROM c WHERE to_number::text = '+213555000001';
	SELECT bar9.ack_sms_batch(array_agg(sms_id), 'sent', array_agg('ref' || to_number::text)) FROM c
	 WHERE to_number::text <> '+213555000001'}, extra_params => [ '-U', 'sender' ]);
$sent = (split /\n/, $sent)[-1];
cmp_ok($sent, '>', 90, "a sender claimed and acknowledged $sent SMS");
is($node->safe_psql('postgres', q{SET search_path = public, pg_catalog;
	SELECT bar9.report_delivery('ref+213555000003', 'delivered')},
	extra_params => [ '-U', 'sender' ]), 't', 'a delivery receipt, as the sender');
$q->(qq{SELECT bar9.add_sender('$acct', '38383')});
is($node->safe_psql('postgres', q{SET search_path = public, pg_catalog;
	SELECT bar9.receive_sms_at('38383', '+213555000004', 'HELP') IS NOT NULL},
	extra_params => [ '-U', 'sender' ]), 't', 'an inbound SMS by address, as the sender');
is($node->safe_psql('postgres', qq{SET search_path = public, pg_catalog;
	SELECT bar9.receive_sms('$acct', '+213555000002', 'STOP') IS NOT NULL},
	extra_params => [ '-U', 'sender' ]), 't', 'an opt-out keyword, as the sender');
is(call('POST', "/v1/marketing/channels/$aud/messages/$msg/cancel"), '200', 'cancel');
is(call('DELETE', "/v1/marketing/channels/$aud"), '200', 'DELETE channel');

is($q->('SELECT count(*) FROM public.trap'), '0',
	'no planted function ran') or diag($q->('SELECT string_agg(fn, \',\') FROM public.trap'));

$node->stop;
done_testing();
