# The proxy over real HTTP: its role's rights, /healthz, X-Request-Id,
# client mistakes (bad JSON, wrong type, unknown route, wrong method, bad
# query), misbehaving clients on raw sockets (2 MiB body, chunked body over
# 1 MiB, truncated body, a client that stalls, bad UTF-8 in headers), the
# connection limit, and an access log with neither key nor body.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Bar9Proxy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $node = bar9_node('proxy_http');
my ($key, $account) = bar9_key($node);
my $proxy = start_proxy($node, pool => 2, timeout => 2);
my $url = $proxy->url;

# ---- the role the proxy connects as may EXECUTE bar9.api, nothing else
my ($rc, $out, $err) = $node->psql('postgres',
	"SELECT bar9.create_account('x')", extra_params => [ '-U', 'bar9_proxy' ]);
like($err, qr/permission denied for function create_account/,
	'bar9_proxy cannot create accounts');
($rc, $out, $err) = $node->psql('postgres',
	'SELECT count(*) FROM bar9.api_keys', extra_params => [ '-U', 'bar9_proxy' ]);
like($err, qr/permission denied/, 'bar9_proxy cannot read tables');
($rc, $out, $err) = $node->psql('postgres',
	"SELECT status FROM bar9.api('GET', '/v1/marketing/channels', '{}', NULL)",
	extra_params => [ '-U', 'bar9_proxy' ]);
is($out, '401', 'bar9_proxy can call bar9.api');
is( $node->safe_psql(
		'postgres', q{
	SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY p.oid::regprocedure::text)
	  FROM pg_proc p
	 WHERE p.pronamespace = 'bar9'::regnamespace
	   AND has_function_privilege('bar9_api', p.oid, 'EXECUTE')
	   AND (p.prosecdef OR p.oid NOT IN (
			SELECT oprcode FROM pg_operator UNION SELECT castfunc FROM pg_cast
			UNION SELECT amproc FROM pg_amproc
			UNION SELECT unnest(ARRAY[typinput, typoutput, typreceive, typsend])
			  FROM pg_type))}),
	'bar9.api(text,text,jsonb,bytea), bar9.metrics()',
	'bar9_api may execute bar9.api, bar9.metrics and the e164 type support only');
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*) FROM pg_proc p
	 WHERE p.pronamespace = 'bar9'::regnamespace AND p.prosecdef
	   AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')}),
	'0',
	'every SECURITY DEFINER function of bar9 pins search_path');

# ---- /healthz and X-Request-Id
my $r = $proxy->request('GET', '/healthz');
is($r->{status}, 200, 'GET /healthz: 200');
is_deeply($r->{json}, { status => 'ok' }, '/healthz body');
like($r->{headers}{'x-request-id'}, qr/^req_[0-9A-Za-z]{22}$/,
	'a generated X-Request-Id');
$r = $proxy->request('POST', '/healthz');
is($r->{status}, 405, 'POST /healthz: 405');
is($r->{headers}{allow}, 'GET, HEAD', '405 of /healthz names GET and HEAD');

$r = $proxy->request('GET', '/v1/marketing/channels', key => $key,
	headers => { 'X-Request-Id' => 'client-id.42:abc_DEF' });
is($r->{headers}{'x-request-id'}, 'client-id.42:abc_DEF',
	'a sane client X-Request-Id is echoed');
$r = $proxy->request('GET', '/v1/marketing/channels', key => $key,
	headers => { 'X-Request-Id' => 'has space<script>' });
like($r->{headers}{'x-request-id'}, qr/^req_[0-9A-Za-z]{22}$/,
	'an unsafe client X-Request-Id is replaced');
$r = $proxy->request('GET', '/v1/marketing/channels', key => $key,
	headers => { 'X-Request-Id' => 'x' x 200 });
like($r->{headers}{'x-request-id'}, qr/^req_/, 'a too long one too');

# ---- client mistakes, answered by bar9.api through the proxy
$r = $proxy->request('GET', '/v1/marketing/channels');
is($r->{status}, 401, 'no key: 401');
is($r->{headers}{'www-authenticate'}, 'Bearer', '401 carries WWW-Authenticate');
like($r->{headers}{'x-request-id'}, qr/^req_/, 'and X-Request-Id');

$r = $proxy->request('GET', '/v1/nowhere', key => $key);
is($r->{status}, 404, 'unknown route: 404');
is($r->{json}{error}{code}, 'not_found', 'unknown route: not_found');

$r = $proxy->request('PUT', '/v1/marketing/channels', key => $key);
is($r->{status}, 405, 'wrong method: 405');
like($r->{headers}{allow}, qr/GET.*POST/, '405 carries Allow');

for my $q ('limit=0', 'limit=101', 'limit=abc')
{
	$r = $proxy->request('GET', "/v1/marketing/channels?$q", key => $key);
	is($r->{status}, 400, "bad query parameter $q: 400");
}

$r = $proxy->request('POST', '/v1/marketing/channels', key => $key,
	body => '{"name": "unfinished', headers => { 'Content-Type' => 'application/json' });
is($r->{status}, 400, 'malformed JSON: 400');
is($r->{json}{error}{code}, 'invalid_json', 'malformed JSON: invalid_json');

$r = $proxy->request('POST', '/v1/marketing/channels', key => $key,
	body => 'name=x', headers => { 'Content-Type' => 'application/x-www-form-urlencoded' });
is($r->{status}, 415, 'wrong content type: 415');
is($r->{json}{error}{code}, 'unsupported_media_type', '415 code');

$r = $proxy->request('POST', '/v1/marketing/channels', key => $key,
	json => { name => 'Proxy audience' });
is($r->{status}, 201, 'a JSON body goes through: 201');
is($r->{headers}{'content-type'}, 'application/json', 'response Content-Type from bar9.api');

# ---- headers: bad UTF-8 never crashes it; duplicates are joined
my $ok_get = "GET /v1/marketing/channels HTTP/1.1\r\nHost: x\r\n"
  . "Authorization: Bearer $key\r\nConnection: close\r\n";
my $resp = raw_request($proxy, $ok_get . "X-Junk: \xff\xfe\xc3(\xed\xa0\x80 \x01\r\n\r\n");
like($resp, qr{^HTTP/1\.1 200 }, 'bad UTF-8 in a header value: still 200');
$resp = raw_request($proxy, $ok_get . "X-\xff\xfe: v\r\n\r\n");
like($resp, qr{^HTTP/1\.1 (200|400) }, 'bad bytes in a header name: answered');
$resp = raw_request($proxy,
	"GET /v1/marketing/channels HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	  . "X-API-Key: $key\r\nX-API-Key: $key\r\n\r\n");
like($resp, qr{^HTTP/1\.1 401 },
	'two X-API-Key headers are joined with ", " (not a valid key)');
is($proxy->request('GET', '/healthz')->{status}, 200, 'the proxy is still up');

# ---- 413: a declared Content-Length over 1 MiB, refused before the body
my $s = raw_connect($proxy);
my $t0 = time;
print $s "POST /v1/marketing/channels HTTP/1.1\r\nHost: x\r\n"
  . "Authorization: Bearer $key\r\nContent-Type: application/json\r\n"
  . "Content-Length: 2097152\r\n\r\n";
$resp = raw_read($s, 10);
close $s;
like($resp, qr{^HTTP/1\.1 413 }, '2 MiB Content-Length: 413 with no body sent');
ok(time - $t0 < 5, '413 comes at once (not after waiting for the body)');
like($resp, qr/"payload_too_large"/, '413 code payload_too_large');
like($resp, qr/\r\nX-Request-Id: req_/i, '413 carries X-Request-Id');
like($resp, qr/\r\nConnection: close/i, '413 closes the connection');

# Expect: 100-continue gets the 413 instead of 100
$resp = raw_request($proxy,
	"POST /v1/marketing/channels HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
	  . "Content-Type: application/json\r\nContent-Length: 5000000\r\n\r\n", 5);
like($resp, qr{^HTTP/1\.1 413 }, 'Expect: 100-continue with 5 MB: 413, no 100');

# a chunked body is cut off at 1 MiB
$s = raw_connect($proxy);
print $s "POST /v1/marketing/channels HTTP/1.1\r\nHost: x\r\n"
  . "Authorization: Bearer $key\r\nContent-Type: application/json\r\n"
  . "Transfer-Encoding: chunked\r\n\r\n";
my $chunk = 'a' x 65536;
my $sent = 0;
{
	local $SIG{PIPE} = 'IGNORE';
	for (1 .. 18)
	{
		last unless print $s sprintf("%x\r\n", length $chunk) . $chunk . "\r\n";
		$sent += length $chunk;
	}
}
$resp = raw_read($s, 5);
close $s;
like($resp, qr{^HTTP/1\.1 413 }, 'chunked body over 1 MiB: 413');
like($resp, qr/"payload_too_large"/, 'chunked 413 code');

# exactly 1 MiB is allowed (bar9.api then judges the JSON)
my $name = 'n' x (1048576 - 11);
my $body = qq({"name":"$name"});
is(length $body, 1048576, 'a body of exactly 1 MiB');
$r = $proxy->request('POST', '/v1/marketing/channels', key => $key, body => $body,
	headers => { 'Content-Type' => 'application/json' });
is($r->{status}, 400, '1 MiB body reaches bar9.api (name too long: 400)');
$resp = raw_request($proxy,
	"POST /v1/marketing/channels HTTP/1.1\r\nHost: x\r\n"
	  . "Content-Type: application/json\r\nContent-Length: 1048577\r\n\r\n", 5);
like($resp, qr{^HTTP/1\.1 413 }, 'one byte more declared: 413');

# ---- a truncated body: Content-Length larger than sent, then close
my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM bar9.audiences');
$s = raw_connect($proxy);
print $s "POST /v1/marketing/channels HTTP/1.1\r\nHost: x\r\n"
  . "Authorization: Bearer $key\r\nContent-Type: application/json\r\n"
  . "Content-Length: 100\r\n\r\n{\"name\": \"trunc";
sleep 0.2;
close $s;
is($proxy->request('GET', '/healthz')->{status}, 200, 'truncated body: proxy still serves');
is($node->safe_psql('postgres', 'SELECT count(*) FROM bar9.audiences'),
	$before, 'truncated body: nothing reached bar9.api');

# ---- a client that sends headers and stalls: timed out, others served
$s = raw_connect($proxy);
$t0 = time;
print $s "POST /v1/marketing/channels HTTP/1.1\r\nHost: x\r\n"
  . "Content-Type: application/json\r\nContent-Length: 10\r\n\r\n";
my $s2 = raw_connect($proxy);
print $s2 "GET /v1/marketing/channels?limit=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
  . "Authorization: Bearer $key\r\n\r\n";
like(raw_read($s2, 5), qr{^HTTP/1\.1 200 }, 'another client is served meanwhile');
close $s2;
$resp = raw_read($s, 10);
my $waited = time - $t0;
is($resp, '', 'the stalled client gets no answer');
ok($waited >= 1.5 && $waited < 8, "and is disconnected after the timeout (${waited}s)");
close $s;

# an idle keep-alive connection is closed after the timeout too
$s = raw_connect($proxy);
print $s "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
sleep 0.3;
sysread($s, my $first, 4096);
like($first, qr{^HTTP/1\.1 200 }, 'keep-alive request answered');
$t0 = time;
$resp = raw_read($s, 10);
ok(time - $t0 < 8, 'idle keep-alive connection closed by the proxy');
close $s;

# ---- the access log: one line per request, no key, no body, no query
$r = $proxy->request('POST', '/v1/marketing/channels?secret=QUERYMARK', key => $key,
	json => { name => 'BODYMARK audience' });
is($r->{status}, 201, 'request for the log check');
my $reqid = $r->{headers}{'x-request-id'};
sleep 0.2;
my $log = $proxy->log_text;
my @lines = grep { /\Qid=$reqid\E / } split /\n/, $log;
is(scalar @lines, 1, 'one access-log line for the request');
like($lines[0] // '',
	qr/^time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z id=\Q$reqid\E method=POST path=\/v1\/marketing\/channels status=201 ms=\d+\.\d{3}$/,
	'access-log line: time, id, method, path, status, duration');
unlike($log, qr/\Q$key\E/, 'the log never holds the API key');
my ($secret) = $key =~ /([^_]+)$/;
unlike($log, qr/\Q$secret\E/, 'nor the secret part of it');
unlike($log, qr/BODYMARK/, 'nor a request body');
unlike($log, qr/QUERYMARK/, 'nor a query string');
like($log, qr/method=POST path=\/v1\/marketing\/channels status=413 /,
	'413s are logged');

is($proxy->stop, 0, 'SIGTERM: exit code 0');

# ---- the connection limit
my $small = start_proxy($node, pool => 2, args => [ '--threads', '1', '--max-connections', '3' ]);
my @held;
for (1 .. 2)
{
	my $c = raw_connect($small);
	print $c "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	push @held, $c;
}
sleep 0.3;
# the /healthz check above left no connection open: 2 held + 1 free
my $third = raw_connect($small);
print $third "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
like(raw_read($third, 3), qr{^HTTP/1\.1 200 }, 'below the limit: served');
my @more;
push @more, raw_connect($small) for 1 .. 1;
sleep 0.3;
my $over = raw_connect($small);
print $over "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
is(raw_read($over, 1.5), '', 'over the limit: not served while the others stay open');
close $_ for @held, @more;
like(raw_read($over, 5), qr{^HTTP/1\.1 200 }, 'served once connections close');
is($small->stop, 0, 'second proxy: exit code 0');

$node->stop;
done_testing();
