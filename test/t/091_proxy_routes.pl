# Every route of docs/api.md over real HTTP through the proxy, with both ways of
# passing the key (Authorization: Bearer and X-API-Key); each scope refused
# where it should be; another account's ids answer 404.  Every route
# exists: none is skipped.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Bar9Proxy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = bar9_node('proxy_routes');
my ($key, $account) = bar9_key($node);
my $read_key = bar9_key($node, "ARRAY['marketing:channels:read']", $account);
my $write_key = bar9_key($node, "ARRAY['marketing:channels:write']", $account);
my $send_key = bar9_key($node, "ARRAY['marketing:channels:send']", $account);
my $other_key = bar9_key($node);    # another account, every scope
my $proxy = start_proxy($node, pool => 3);


# call(AUTH, METHOD, PATH, [JSON]) with the all-scopes key
sub call
{
	my ($auth, $method, $path, $json, $k) = @_;
	return $proxy->request($method, $path,
		key => $k // $key,
		auth => $auth,
		defined $json ? (json => $json) : ());
}

for my $auth ('bearer', 'x-api-key')
{
	note "---- key passed as $auth";
	my $r = call($auth, 'POST', '/v1/marketing/channels', { name => "Audience $auth" });
	is($r->{status}, 201, "$auth: POST /v1/marketing/channels: 201");
	my $id = $r->{json}{id} // 'mkt_missing';
	like($id, qr/^mkt_[0-9A-Za-z]{22}$/, "$auth: audience id");
	is($r->{json}{object}, 'marketing_channel', "$auth: object");

	$r = call($auth, 'GET', '/v1/marketing/channels');
	is($r->{status}, 200, "$auth: GET /v1/marketing/channels: 200");
	is($r->{json}{object}, 'list', "$auth: a list");
	ok((grep { $_->{id} eq $id } @{ $r->{json}{data} // [] }), "$auth: list holds it");

	$r = call($auth, 'GET', "/v1/marketing/channels/$id");
	is($r->{status}, 200, "$auth: GET /v1/marketing/channels/:id: 200");
	is($r->{json}{name}, "Audience $auth", "$auth: its name");

	$r = call($auth, 'PATCH', "/v1/marketing/channels/$id", { name => 'Renamed' });
	is($r->{status}, 200, "$auth: PATCH /v1/marketing/channels/:id: 200");
	is($r->{json}{name}, 'Renamed', "$auth: renamed");

	$r = call($auth, 'POST', "/v1/marketing/channels/$id/numbers",
		{ phone_number => '+213555123456' });
	is($r->{status}, 201, "$auth: POST …/numbers: 201");
	is($r->{json}{phone_number}, '+213555123456', "$auth: the number");
	$r = call($auth, 'POST', "/v1/marketing/channels/$id/numbers",
		{ phone_number => '+213555123456' });
	is($r->{status}, 200, "$auth: POST …/numbers again: 200");
	$r = call($auth, 'POST', "/v1/marketing/channels/$id/numbers",
		{ phone_numbers => [ '+33612345678', '+44 7911 123456' ] });
	is($r->{status}, 200, "$auth: bulk POST …/numbers: 200");
	is($r->{json}{added}, 1, "$auth: bulk added 1");
	is(scalar @{ $r->{json}{invalid} // [] }, 1, "$auth: bulk invalid 1");

	$r = call($auth, 'GET', "/v1/marketing/channels/$id/numbers");
	is($r->{status}, 200, "$auth: GET …/numbers: 200");
	is_deeply([ map { $_->{phone_number} } @{ $r->{json}{data} // [] } ],
		[ '+213555123456', '+33612345678' ], "$auth: numbers in e164 order");

	# the path goes through still percent-encoded; bar9.api decodes it
	$r = call($auth, 'DELETE', "/v1/marketing/channels/$id/numbers/%2B213555123456");
	is($r->{status}, 200, "$auth: DELETE …/numbers/%2B…: 200");
	is_deeply($r->{json}, { phone_number => '+213555123456', deleted => JSON::PP::true },
		"$auth: deleted number");
	call($auth, 'POST', "/v1/marketing/channels/$id/numbers", { phone_number => '+213555123456' });
	$r = call($auth, 'DELETE', "/v1/marketing/channels/$id/numbers/+213555123456");
	is($r->{status}, 200, "$auth: DELETE …/numbers/+…: 200");
	{
		$r = call($auth, 'POST', "/v1/marketing/channels/$id/messages",
			{ body => 'Big discount this weekend!' });
		is($r->{status}, 201, "$auth: POST …/messages: 201");
		my $msg = $r->{json}{id} // 'msg_missing';
		like($msg, qr/^msg_/, "$auth: message id");
		is($r->{json}{object}, 'marketing_message', "$auth: message object");

		$r = call($auth, 'GET', "/v1/marketing/channels/$id/messages");
		is($r->{status}, 200, "$auth: GET …/messages: 200");
		ok((grep { $_->{id} eq $msg } @{ $r->{json}{data} // [] }), "$auth: listed");

		$r = call($auth, 'GET', "/v1/marketing/channels/$id/messages/$msg");
		is($r->{status}, 200, "$auth: GET …/messages/:id: 200");
		{
			$r = call($auth, 'POST', "/v1/marketing/channels/$id/messages/$msg/cancel");
			is($r->{status}, 200, "$auth: POST …/cancel: 200");
			is($r->{json}{status}, 'canceled', "$auth: canceled");
		}
	}
	{
		my $n = $auth eq 'bearer' ? '+213555000111' : '+213555000222';
		$r = call($auth, 'POST', '/v1/marketing/opt-outs', { phone_number => $n });
		is($r->{status}, 201, "$auth: POST /v1/marketing/opt-outs: 201");
		$r = call($auth, 'POST', '/v1/marketing/opt-outs', { phone_number => $n });
		is($r->{status}, 200, "$auth: again: 200");
		$r = call($auth, 'GET', '/v1/marketing/opt-outs');
		is($r->{status}, 200, "$auth: GET /v1/marketing/opt-outs: 200");
		ok((grep { $_->{phone_number} eq $n } @{ $r->{json}{data} // [] }),
			"$auth: listed");
		(my $enc = $n) =~ s/\+/%2B/;
		$r = call($auth, 'DELETE', "/v1/marketing/opt-outs/$enc");
		is($r->{status}, 200, "$auth: DELETE /v1/marketing/opt-outs/:n: 200");
	}

	$r = call($auth, 'DELETE', "/v1/marketing/channels/$id");
	is($r->{status}, 200, "$auth: DELETE /v1/marketing/channels/:id: 200");
	is($r->{json}{deleted}, JSON::PP::true, "$auth: deleted");
	$r = call($auth, 'GET', "/v1/marketing/channels/$id");
	is($r->{status}, 404, "$auth: deleted audience: 404");
}

note '---- scopes';
my $r = call('bearer', 'POST', '/v1/marketing/channels', { name => 'Scoped' });
my $id = $r->{json}{id};
call('bearer', 'POST', "/v1/marketing/channels/$id/numbers", { phone_number => '+213555123456' });

my @write_routes = (
	[ 'POST', '/v1/marketing/channels', { name => 'x' } ],
	[ 'PATCH', "/v1/marketing/channels/$id", { name => 'x' } ],
	[ 'DELETE', "/v1/marketing/channels/$id" ],
	[ 'POST', "/v1/marketing/channels/$id/numbers", { phone_number => '+213555999999' } ],
	[ 'DELETE', "/v1/marketing/channels/$id/numbers/%2B213555123456" ]);
push @write_routes, [ 'POST', '/v1/marketing/opt-outs', { phone_number => '+213555999999' } ],
  [ 'DELETE', '/v1/marketing/opt-outs/%2B213555999999' ];
my @read_routes = (
	[ 'GET', '/v1/marketing/channels' ],
	[ 'GET', "/v1/marketing/channels/$id" ],
	[ 'GET', "/v1/marketing/channels/$id/numbers" ]);
push @read_routes, [ 'GET', "/v1/marketing/channels/$id/messages" ];
push @read_routes, [ 'GET', '/v1/marketing/opt-outs' ];
my @send_routes;
push @send_routes, [ 'POST', "/v1/marketing/channels/$id/messages", { body => 'Hi' } ];

for my $case ([ $read_key, 'read', \@write_routes, 'write' ],
	[ $read_key, 'read', \@send_routes, 'send' ],
	[ $write_key, 'write', \@read_routes, 'read' ],
	[ $write_key, 'write', \@send_routes, 'send' ],
	[ $send_key, 'send', \@read_routes, 'read' ],
	[ $send_key, 'send', \@write_routes, 'write' ])
{
	my ($k, $has, $routes, $needs) = @$case;
	for my $rt (@$routes)
	{
		my ($m, $p, $j) = @$rt;
		$r = call('x-api-key', $m, $p, $j, $k);
		is($r->{status}, 403, "$has-only key, $m $p: 403");
		like($r->{json}{error}{message} // '', qr/marketing:channels:$needs/,
			"  the message names marketing:channels:$needs");
	}
}
# and each scope is enough for its own routes
is(call('bearer', 'GET', "/v1/marketing/channels/$id", undef, $read_key)->{status},
	200, 'read key reads');
is(call('bearer', 'POST', "/v1/marketing/channels/$id/numbers",
		{ phone_number => '+33612345678' }, $write_key)->{status},
	201, 'write key writes');
{
	is(call('bearer', 'POST', "/v1/marketing/channels/$id/messages",
			{ body => 'Hello' }, $send_key)->{status},
		201, 'send key sends');
}

note "---- another account's ids: 404, never 403";
$r = call('bearer', 'POST', "/v1/marketing/channels/$id/messages", { body => 'Mine' });
my $msg = $r->{json}{id};
my @foreign = (
	[ 'GET', "/v1/marketing/channels/$id" ],
	[ 'PATCH', "/v1/marketing/channels/$id", { name => 'stolen' } ],
	[ 'DELETE', "/v1/marketing/channels/$id" ],
	[ 'POST', "/v1/marketing/channels/$id/numbers", { phone_number => '+213555777777' } ],
	[ 'GET', "/v1/marketing/channels/$id/numbers" ],
	[ 'DELETE', "/v1/marketing/channels/$id/numbers/%2B213555123456" ]);
push @foreign, [ 'POST', "/v1/marketing/channels/$id/messages", { body => 'x' } ],
  [ 'GET', "/v1/marketing/channels/$id/messages" ],
  [ 'GET', "/v1/marketing/channels/$id/messages/$msg" ];
push @foreign, [ 'POST', "/v1/marketing/channels/$id/messages/$msg/cancel" ],
  [ 'GET', "/v1/marketing/channels/$id/messages/$msg/recipients" ],
  [ 'GET', "/v1/marketing/channels/$id/numbers/%2B213555123456" ];
for my $rt (@foreign)
{
	my ($m, $p, $j) = @$rt;
	$r = call('bearer', $m, $p, $j, $other_key);
	is($r->{status}, 404, "other account: $m $p: 404");
}
$r = call('bearer', 'GET', '/v1/marketing/channels', undef, $other_key);
ok(!(grep { $_->{id} eq $id } @{ $r->{json}{data} // [] }),
	"other account's list does not show it");
is(call('bearer', 'GET', "/v1/marketing/channels/$id")->{status}, 200,
	'and it is still there for its owner');

note '---- response headers of bar9.api pass through';
my @idem = map {
	$proxy->request('POST', '/v1/marketing/channels', key => $key,
		json => { name => 'Idempotent' },
		headers => { 'Idempotency-Key' => 'proxy-test-key-1' })
} 1 .. 2;
is($idem[0]{status}, 201, 'POST with Idempotency-Key: 201');
ok(!exists $idem[0]{headers}{'idempotent-replayed'}, 'first: not replayed');
is($idem[1]{status}, 201, 'same again: 201 replayed');
is($idem[1]{headers}{'idempotent-replayed'}, 'true', 'Idempotent-Replayed: true passes through');
is($idem[1]{json}{id}, $idem[0]{json}{id}, 'the same audience');

note '---- revoked key';
$node->safe_psql('postgres', "SELECT bar9.revoke_api_key('$read_key')");
is(call('bearer', 'GET', '/v1/marketing/channels', undef, $read_key)->{status},
	401, 'revoked key: 401');

is($proxy->stop, 0, 'SIGTERM: exit code 0');
$node->stop;
done_testing();
