# The worker serves one database (bar9.database_name).  CREATE EXTENSION in
# another warns, with a hint naming the setting, and a broadcast made there
# says why it waits (status_reason); in the database served there is no
# warning and the broadcast is fanned out, with no reason given.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('worker_database');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'bar9'");
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE other');

my ($rc, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION bar9');
is($rc, 0, 'CREATE EXTENSION in the database served');
unlike($err, qr/WARNING/, '... without a warning');

($rc, $out, $err) = $node->psql('other', 'CREATE EXTENSION bar9');
is($rc, 0, 'CREATE EXTENSION in another database');
like($err, qr/WARNING:  the bar9 worker does not serve database "other"/,
	'... warns that its broadcasts will wait');
like($err, qr/HINT:  .*bar9\.database_name = 'other'/, '... with a hint naming the setting');

# broadcast(DB): a broadcast to a one-number audience; returns "key|channel|message"
sub broadcast
{
	my ($db) = @_;
	return $node->safe_psql($db, q{
		WITH a AS (SELECT bar9.create_account('worker database') AS id),
			 c AS (SELECT a.id AS acct, (bar9.create_audience(a.id, 'one')).id AS ch FROM a),
			 n AS (SELECT c.*, bar9.add_number(c.acct, c.ch, '+213555000001') FROM c)
		SELECT bar9.create_api_key(n.acct, ARRAY['marketing:channels:read']),
			   n.ch, (bar9.create_broadcast(n.acct, n.ch, 'hello')).id
		  FROM n});
}

# get(DB, KEY, CHANNEL, MESSAGE): GET of the broadcast through bar9.api
sub get
{
	my ($db, $key, $ch, $msg) = @_;
	return $node->safe_psql($db, qq{
		SELECT body FROM bar9.api('GET',
			'/v1/marketing/channels/$ch/messages/$msg',
			jsonb_build_object('authorization', 'Bearer $key'), NULL)});
}

my ($key, $ch, $msg) = split /\|/, broadcast('other');
sleep 2;
my $body = get('other', $key, $ch, $msg);
like($body, qr/"status":"pending"/, 'the broadcast of the other database stays pending');
like($body, qr/"status_reason":"the bar9 worker serves database \\"postgres\\", not \\"other\\"/,
	'... and says why');

($key, $ch, $msg) = split /\|/, broadcast('postgres');
$node->poll_query_until('postgres',
	"SELECT status <> 'pending' FROM bar9.broadcasts WHERE broadcast_id = '$msg'")
  or die 'the broadcast of the database served was never fanned out';
$body = get('postgres', $key, $ch, $msg);
like($body, qr/"status":"queued"/, 'the broadcast of the database served is fanned out');
unlike($body, qr/status_reason/, '... with no reason to give');

$node->stop;
done_testing();
