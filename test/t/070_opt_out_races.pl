
# Opt-outs racing with everything else that writes SMS of the account: the
# worker fanning out new broadcasts, senders claiming and acknowledging, other
# opt-outs (by API and by keyword) and re-subscribes.  Afterwards:
#   - no transaction failed (no deadlock between opt-out cancel, claim/ack
#     and fan-out: they lock in the orders of optouts.h and queue.h), and no
#     bar9.api call answered 300 or more (a race-induced 500 fails its
#     pgbench client); the server log has no ERROR at all;
#   - no SMS to a number on the opt-out list is left 'queued';
#   - no SMS was created (by a broadcast made after the opt-out committed)
#     or claimed (by a claim that began after it committed) for a number on
#     the list: commit timestamps are tracked for this;
#   - every broadcast's counters equal the states of its SMS.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('opt_out_races');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'bar9'");
$node->append_conf('postgresql.conf', "max_connections = 50");
$node->append_conf('postgresql.conf', "track_commit_timestamp = on");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION bar9');

# an audience id as the API accepts it: mkt_ and 22 base-62 characters
my $channel = 'mkt_races' . ('0' x 17);

# an account, a key, an audience of 10,000 numbers
$node->safe_psql('postgres', qq{
	CREATE TABLE public.races (acct text, api_key text);
	INSERT INTO public.races SELECT a, bar9.create_api_key(a,
		ARRAY['marketing:channels:read', 'marketing:channels:write',
			  'marketing:channels:send'])
	  FROM bar9.create_account('races') a;
	-- pgbench calls far faster than the default budget
	SELECT bar9.set_account_limits(acct, 1000000, 1000000) FROM public.races;
	INSERT INTO bar9.audiences (account_id, audience_id, name, subscriber_count)
		SELECT acct, '$channel', 'races', 10000 FROM public.races;
	INSERT INTO bar9.audience_numbers (account_id, audience_id, phone_number)
		SELECT acct, '$channel', ('+2135510' || lpad(i::text, 5, '0'))::bar9.e164
		  FROM public.races, generate_series(1, 10000) i;
	-- every number claimed, with when its claim began
	CREATE TABLE public.claimed (to_number bar9.e164, at timestamptz);
	CREATE FUNCTION public.races_claim() RETURNS bigint LANGUAGE plpgsql AS \$\$
	DECLARE ids text[];
	BEGIN
		WITH c AS (SELECT * FROM bar9.claim_sms(50)),
		logged AS (INSERT INTO public.claimed SELECT to_number, now() FROM c)
		SELECT array_agg(sms_id) INTO ids FROM c;
		IF ids IS NULL THEN RETURN 0; END IF;
		RETURN bar9.ack_sms_batch(ids, 'sent');
	END \$\$;
	-- an answer of bar9.api of 300 or more fails the pgbench transaction
	CREATE FUNCTION public.must_succeed(status int, body text) RETURNS int
	LANGUAGE plpgsql AS \$\$
	BEGIN
		IF status >= 300 THEN
			RAISE EXCEPTION 'bar9.api answered %: %', status, body;
		END IF;
		RETURN status;
	END \$\$;
});

# pgbench scripts, one per kind of client
my $dir = PostgreSQL::Test::Utils::tempdir;
my %scripts = (
	broadcast => qq{SELECT public.must_succeed(a.status, a.body) FROM public.races r, bar9.api('POST',
  '/v1/marketing/channels/$channel/messages',
  jsonb_build_object('authorization', 'Bearer ' || r.api_key,
                     'content-type', 'application/json'),
  convert_to('{"body": "hello"}', 'UTF8')) a;
\\sleep 300 ms
},
	claim => "SELECT public.races_claim();\n",
	optout_api => q{\set n random(1, 10000)
SELECT public.must_succeed(a.status, a.body) FROM public.races r, bar9.api('POST', '/v1/marketing/opt-outs',
  jsonb_build_object('authorization', 'Bearer ' || r.api_key,
                     'content-type', 'application/json'),
  convert_to('{"phone_number": "+2135510' || lpad(:n::text, 5, '0') || '"}', 'UTF8')) a;
},
	optout_keyword => q{\set n random(1, 10000)
SELECT bar9.receive_sms(r.acct, ('+2135510' || lpad(:n::text, 5, '0'))::bar9.e164, ' stop ')
  FROM public.races r;
},
	resubscribe => q{\set n random(1, 10000)
SELECT bar9.receive_sms(r.acct, ('+2135510' || lpad(:n::text, 5, '0'))::bar9.e164, 'START')
  FROM public.races r;
\sleep 50 ms
},);
my %clients = (broadcast => 1, claim => 3, optout_api => 2,
	optout_keyword => 2, resubscribe => 1);

my @runs;
foreach my $name (sort keys %scripts)
{
	my $file = "$dir/$name.sql";
	open my $fh, '>', $file or die "could not write $file: $!";
	print $fh $scripts{$name};
	close $fh;

	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'pgbench', '-n', '-T', '15', '-c', $clients{$name},
			'-j', $clients{$name}, '-f', $file,
			'-h', $node->host, '-p', $node->port, 'postgres'
		],
		'>', \$out, '2>', \$err);
	push @runs, [ $name, $h, \$out, \$err ];
}
foreach my $run (@runs)
{
	my ($name, $h, $out, $err) = @$run;
	$h->finish;
	is($h->result(0), 0, "pgbench $name exited 0")
	  or diag($$err);
	like($$out, qr/number of failed transactions: 0 /,
		"pgbench $name: no failed transaction");
	my ($n) = $$out =~ /number of transactions actually processed: (\d+)/;
	ok(defined $n && $n > 0, "pgbench $name did some work")
	  or diag($$out . $$err);
}

# let the worker finish every fan-out
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM bar9.broadcasts WHERE status IN ('scheduled', 'pending')")
  or die "fan-out did not finish";

my $broadcasts = $node->safe_psql('postgres', 'SELECT count(*) FROM bar9.broadcasts');
my $opted_out = $node->safe_psql('postgres', 'SELECT count(*) FROM bar9.opt_outs');
my $canceled = $node->safe_psql('postgres',
	"SELECT count(*) FROM bar9.sms WHERE status = 'canceled'");
note("$broadcasts broadcasts, $opted_out numbers opted out, $canceled SMS canceled");
ok($broadcasts > 5 && $opted_out > 50 && $canceled > 0,
	'the race really happened');

is( $node->safe_psql(
		'postgres', q{
	SELECT count(*) FROM bar9.sms s
	  JOIN bar9.opt_outs o ON o.account_id = s.account_id
	   AND o.phone_number OPERATOR(bar9.=) s.to_number
	 WHERE s.status = 'queued'}),
	'0',
	'no SMS to an opted-out number is left queued');

my $claims = $node->safe_psql('postgres', 'SELECT count(*) FROM public.claimed');
ok($claims > 1000, "senders claimed ($claims SMS)");
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*) FROM public.claimed c
	  JOIN bar9.opt_outs o ON o.phone_number OPERATOR(bar9.=) c.to_number
	 WHERE c.at > pg_xact_commit_timestamp(o.xmin)}),
	'0',
	'no number was claimed by a claim that began after its opt-out committed');
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*) FROM bar9.sms s
	  JOIN bar9.broadcasts m USING (account_id, broadcast_id)
	  JOIN bar9.opt_outs o ON o.account_id = s.account_id
	   AND o.phone_number OPERATOR(bar9.=) s.to_number
	 WHERE m.created_at > pg_xact_commit_timestamp(o.xmin)}),
	'0',
	'no broadcast made after an opt-out committed has an SMS to its number');
my $later = $node->safe_psql('postgres', q{
	SELECT count(*) FROM bar9.broadcasts m JOIN bar9.opt_outs o
	  ON o.account_id = m.account_id
	 WHERE m.created_at > pg_xact_commit_timestamp(o.xmin)});
ok($later > 0, "broadcasts were made after opt-outs ($later pairs)");

is( $node->safe_psql(
		'postgres', q{
	SELECT count(*) FROM bar9.broadcasts m,
	  LATERAL (SELECT count(*) FILTER (WHERE status = 'queued') AS q,
					  count(*) FILTER (WHERE status = 'sending') AS s,
					  count(*) FILTER (WHERE status = 'sent') AS st,
					  count(*) FILTER (WHERE status = 'canceled') AS c
				 FROM bar9.sms x
				WHERE x.account_id = m.account_id
				  AND x.broadcast_id = m.broadcast_id) k
	 WHERE (m.n_queued, m.n_sending, m.n_sent, m.n_canceled)
		   <> (k.q, k.s, k.st, k.c)}),
	'0',
	'every broadcast counts its SMS exactly');

my $log = slurp_file($node->logfile);
unlike($log, qr/deadlock detected/, 'no deadlock in the server log');
unlike($log, qr/\bERROR:/, 'no ERROR in the server log (no internal error)')
  or diag(join "\n", grep { /ERROR:/ } split /\n/, $log);

$node->stop;
done_testing();
