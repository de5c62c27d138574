# GET /metrics on the proxy: no key, the Prometheus text format as parsed by
# the Prometheus client's own parser (Debian's python3-prometheus-client),
# requests by route template, method and status, the latency histogram, the
# pool, and the database's figures (bar9.metrics()) following a broadcast;
# no id or number in any label; --no-metrics turns it off; without the
# database's figures the proxy's are still served.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Bar9Proxy;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

my $python = '/usr/bin/python3';
BAIL_OUT('python3-prometheus-client is missing (scripts/install-deps installs it)')
  unless system($python, '-c', 'import prometheus_client.parser') == 0;

# parse(TEXT): {families => {name => type}, samples => [[name, labels, value]]},
# by prometheus_client.parser; dies when the parser refuses the text
sub parse
{
	my ($text) = @_;
	my $prog = <<'PY';
import json, sys
from prometheus_client.parser import text_string_to_metric_families
fams, samples = {}, []
for f in text_string_to_metric_families(sys.stdin.read()):
    fams[f.name] = f.type
    for s in f.samples:
        samples.append([s.name, s.labels, s.value])
print(json.dumps({"families": fams, "samples": samples}))
PY
	my ($out, $err) = ('', '');
	IPC::Run::run([ $python, '-c', $prog ], '<', \$text, '>', \$out, '2>', \$err)
	  or die "the Prometheus parser refused the text: $err";
	return decode_json($out);
}

# value(PARSED, NAME, LABELS): the sample's value, undef when absent
sub value
{
	my ($p, $name, %labels) = @_;
	for my $s (@{ $p->{samples} })
	{
		next unless $s->[0] eq $name;
		next if grep { ($s->[1]{$_} // '') ne $labels{$_} } keys %labels;
		return $s->[2];
	}
	return undef;
}

my $node = bar9_node('proxy_metrics');
my ($key, $account) = bar9_key($node);
my $proxy = start_proxy($node, pool => 3);

my $r = $proxy->request('POST', '/v1/marketing/channels', key => $key, json => { name => 'm' });
my $cid = $r->{json}{id};
$proxy->request('POST', "/v1/marketing/channels/$cid/numbers", key => $key,
	json => { phone_numbers => [ '+213555123456', '+33612345678', '+447911123456' ] });
$proxy->request('GET', "/v1/marketing/channels/$cid", key => $key) for 1 .. 3;
$proxy->request('GET', "/v1/marketing/channels/$cid");    # 401
$proxy->request('GET', '/v1/marketing/channels/mkt_AAAAAAAAAAAAAAAAAAAAAA', key => $key,
	auth => 'x-api-key');                                  # 404
my $other = $proxy->request('GET', '/nowhere/+213555123456', key => $key);    # route "other"
$r = $proxy->request('POST', "/v1/marketing/channels/$cid/messages", key => $key,
	json => { body => 'hello' });
is($r->{status}, 201, 'a broadcast');

# the worker fans it out: three SMS queued, waiting for a sender
my $p;
for (1 .. 100)
{
	$r = $proxy->request('GET', '/metrics');
	$p = parse($r->{content});
	last if (value($p, 'bar9_sms', status => 'queued') // 0) == 3;
	sleep 0.1;
}
is($r->{status}, 200, 'GET /metrics without a key: 200');
like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'Prometheus text format 0.0.4');
is($p->{families}{bar9_http_requests}, 'counter', 'bar9_http_requests_total is a counter');
is($p->{families}{bar9_http_request_duration_seconds}, 'histogram', 'latency is a histogram');
is($p->{families}{$_}, 'gauge', "$_ is a gauge")
  for qw(bar9_pool_connections bar9_pool_waiting bar9_sms bar9_broadcasts
  bar9_sms_oldest_queued_seconds bar9_fanout_lag_seconds bar9_database_metrics_up);

my $one = '/v1/marketing/channels/{channel_id}';
is(value($p, 'bar9_http_requests_total', route => $one, method => 'GET', status => '200'), 3,
	'3 GET of an audience, 200');
is(value($p, 'bar9_http_requests_total', route => $one, method => 'GET', status => '401'), 1,
	'1 without a key, 401');
is(value($p, 'bar9_http_requests_total', route => $one, method => 'GET', status => '404'), 1,
	'1 of another id, 404');
is(value($p, 'bar9_http_requests_total', route => '/v1/marketing/channels', method => 'POST', status => '201'), 1,
	'1 POST of an audience, 201');
is(value($p, 'bar9_http_requests_total', route => '/v1/marketing/channels/{channel_id}/messages',
	method => 'POST', status => '201'), 1, '1 broadcast, 201');
is($other->{status}, 404, 'an unknown path: 404');
is(value($p, 'bar9_http_requests_total', route => 'other', method => 'GET', status => '404'), 1,
	'an unknown path counts as route "other"');
is(value($p, 'bar9_http_request_duration_seconds_count', route => $one), 5,
	'the histogram counts the 5 requests of the route');
is(value($p, 'bar9_http_request_duration_seconds_bucket', route => $one, le => '+Inf'), 5,
	'its +Inf bucket too');
cmp_ok(value($p, 'bar9_http_request_duration_seconds_bucket', route => $one, le => '10'), '<=', 5,
	'buckets are cumulative');
cmp_ok(value($p, 'bar9_http_request_duration_seconds_sum', route => $one), '>', 0, 'a sum of seconds');
unlike($r->{content}, qr/mkt_|msg_|\+213|nowhere/, 'no id, number or raw path in any label');

is(value($p, 'bar9_pool_connections', state => 'configured'), 3, 'pool: 3 connections configured');
cmp_ok(value($p, 'bar9_pool_connections', state => 'open'), '>=', 1, 'pool: open ones');
is(value($p, 'bar9_pool_waiting'), 0, 'pool: nothing waiting');
is(value($p, 'bar9_database_metrics_up'), 1, 'the database answered');
is(value($p, 'bar9_sms', status => 'queued'), 3, 'database: 3 SMS queued');
is(value($p, 'bar9_broadcasts', status => 'queued'), 1, 'database: 1 broadcast queued');
is(value($p, 'bar9_broadcasts', status => 'pending'), 0, 'database: none pending');
is(value($p, 'bar9_fanout_lag_seconds'), 0, 'no fan-out lag left');
cmp_ok(value($p, 'bar9_sms_oldest_queued_seconds'), '>', 0, 'the oldest queued SMS has an age');

$r = $proxy->request('POST', '/metrics');
is($r->{status}, 405, 'POST /metrics: 405');
$r = $proxy->request('GET', '/metrics?x=1');
is($r->{status}, 200, 'GET /metrics?x=1: 200 too');

# the database's part refused (its EXECUTE revoked): still 200, up 0
$node->safe_psql('postgres', 'REVOKE EXECUTE ON FUNCTION bar9.metrics() FROM bar9_api');
$r = $proxy->request('GET', '/metrics');
is($r->{status}, 200, 'bar9.metrics() refused: still 200');
$p = parse($r->{content});
is(value($p, 'bar9_database_metrics_up'), 0, 'bar9_database_metrics_up 0');
ok(!defined value($p, 'bar9_sms', status => 'queued'), 'and no database figure');
$node->safe_psql('postgres', 'GRANT EXECUTE ON FUNCTION bar9.metrics() TO bar9_api');

# --no-metrics: /metrics is an unknown path of the API
my $off = start_proxy($node, args => ['--no-metrics']);
$r = $off->request('GET', '/metrics', key => $key);
is($r->{status}, 404, '--no-metrics: GET /metrics is 404');
is($r->{json}{error}{code}, 'not_found', 'the API\'s not_found');
$r = $off->request('GET', '/metrics');
is($r->{status}, 401, '--no-metrics: without a key, 401 like any API path');

$_->stop for $off, $proxy;
$? = 0;
done_testing();
