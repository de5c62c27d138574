# No tenant starves another, and no request does work in proportion to an
# audience's size:
#   - accounts take turns at the worker: while account A's 1M-recipient
#     broadcast fans out and 2,000 more of A's broadcasts wait, account B's
#     100-number broadcast leaves 'pending' (first in, first out it would
#     wait for all of A's);
#   - deleting a 1M-number audience reads a few pages, not its numbers, the
#     audience is gone from every route at once, and the worker then removes
#     its numbers in batches.
# Both are asserted by what happened, not by the clock: on a loaded machine
# a wall-clock bound fails without anything being wrong.  The times are
# printed as notes.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('fairness');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'bar9'
bar9.poll_interval = '1h'
});
$node->start;
my $q = sub { return $node->safe_psql('postgres', $_[0]) };
$q->('CREATE EXTENSION bar9');

# audience(ACCT, NAME, N, PREFIX): an audience of N numbers (inserted directly)
sub audience
{
	my ($acct, $name, $n, $prefix) = @_;
	my $aud = $q->("SELECT (bar9.create_audience('$acct', '$name')).id");
	$q->(qq{
		INSERT INTO bar9.audience_numbers (account_id, audience_id, phone_number)
			SELECT '$acct', '$aud', ('$prefix' || lpad(i::text, 7, '0'))::bar9.e164
			  FROM generate_series(1, $n) i;
		UPDATE bar9.audiences SET subscriber_count = $n
		 WHERE account_id = '$acct' AND audience_id = '$aud'});
	return $aud;
}

my $acct_a = $q->("SELECT bar9.create_account('A')");
my $acct_b = $q->("SELECT bar9.create_account('B')");
my $key_a = $q->(qq{SELECT bar9.create_api_key('$acct_a',
	ARRAY['marketing:channels:read','marketing:channels:write','marketing:channels:send'])});
my $big = audience($acct_a, 'big', 1_000_000, '+1202');
my $small = audience($acct_a, 'small', 5, '+1303');
my $other = audience($acct_b, 'hundred', 100, '+1404');

# 1. A's big broadcast and 2,000 small ones, in one transaction; then B's
my $msg_big = $q->(qq{
	SELECT id FROM bar9.create_broadcast('$acct_a', '$big', 'big one');
	SELECT count(bar9.create_broadcast('$acct_a', '$small', 'small ' || i))
	  FROM generate_series(1, 2000) i;
	});
($msg_big) = split /\n/, $msg_big;
$node->poll_query_until('postgres', qq{
	SELECT n_queued > 0 FROM bar9.broadcasts WHERE broadcast_id = '$msg_big'})
  or die 'the big fan-out did not start';
my $t0 = time;
my $msg_b = $q->("SELECT id FROM bar9.create_broadcast('$acct_b', '$other', 'B''s turn')");
my $took;
while (time - $t0 < 120)
{
	if ($q->("SELECT status FROM bar9.broadcasts WHERE broadcast_id = '$msg_b'") ne 'pending')
	{
		$took = time - $t0;
		last;
	}
	usleep(20_000);
}
my ($big_status, $waiting) = split /\|/, $q->(qq{
	SELECT (SELECT status FROM bar9.broadcasts WHERE broadcast_id = '$msg_big'),
		   (SELECT count(*) FROM bar9.broadcasts WHERE account_id = '$acct_a' AND status = 'pending')});
ok(defined $took, 'B\'s broadcast left pending');
note(sprintf('after %.2f s; then A\'s big broadcast was %s, %d of A\'s broadcasts pending',
	$took // -1, $big_status, $waiting));
ok($waiting > 100, "while $waiting of A's broadcasts still wait (it jumped the queue)");
is($q->("SELECT n_queued FROM bar9.broadcasts WHERE broadcast_id = '$msg_b'"), '100',
	'B\'s 100 SMS queued');
$node->poll_query_until('postgres', qq{
	SELECT count(*) = 0 FROM bar9.broadcasts WHERE status = 'pending'})
  or die 'the fan-outs did not finish';
is($q->("SELECT n_queued FROM bar9.broadcasts WHERE broadcast_id = '$msg_big'"), '1000000',
	'A\'s big broadcast is whole in the end');

# 2. deleting a 1M-number audience (another one, with no broadcast)
my $gone = audience($acct_a, 'to delete', 1_000_000, '+1505');
my $h = qq{'{"authorization": "Bearer $key_a", "content-type": "application/json"}'};
# api(METHOD, PATH[, BODY]): the status of one bar9.api call
sub api
{
	my ($method, $path, $body) = @_;
	my $b = defined $body ? "convert_to('$body', 'UTF8')" : 'NULL';
	return $q->("SELECT status FROM bar9.api('$method', '$path', $h, $b)");
}
# api_pages(METHOD, PATH): the status of one bar9.api call and the shared
# pages it touched (EXPLAIN's buffer counts take in the function's queries)
sub api_pages
{
	my ($method, $path) = @_;
	my $out = $q->(qq{
		EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON)
		CREATE TEMP TABLE answer AS SELECT status FROM bar9.api('$method', '$path', $h, NULL);
		SELECT status FROM answer});
	my ($plan, $status) = $out =~ /\A(.*\])\s*\n(\d+)\s*\z/s
	  or die "unexpected EXPLAIN output: $out";
	my $top = decode_json($plan)->[0]{Plan};
	return ($status, $top->{'Shared Hit Blocks'} + $top->{'Shared Read Blocks'});
}
# a small audience's DELETE, for scale
my $few = audience($acct_a, 'few to delete', 5, '+1606');
my ($few_status, $few_pages) = api_pages('DELETE', "/v1/marketing/channels/$few");
is($few_status, '200', 'DELETE of a 5-number audience: 200');
my $t1 = time;
my ($status, $pages) = api_pages('DELETE', "/v1/marketing/channels/$gone");
note(sprintf('DELETE of 1M numbers: %d pages in %.0f ms; of 5 numbers: %d pages',
	$pages, (time - $t1) * 1000, $few_pages));
is($status, '200', 'DELETE of a 1M-number audience: 200');
ok($pages < $few_pages + 100,
	"and it touches no more pages than that of 5 numbers ($pages against $few_pages)");
is(api('GET', "/v1/marketing/channels/$gone"), '404',
	'the audience is 404 at once');
is(api('GET', "/v1/marketing/channels/$gone/numbers"), '404',
	'its numbers are 404 at once');
is(api('GET', "/v1/marketing/channels/$gone/numbers/%2B15050000001"), '404',
	'one of its numbers is 404 at once');
is(api('POST', "/v1/marketing/channels/$gone/messages", '{"body": "hi"}'), '404',
	'a broadcast to it is 404 at once');
$node->poll_query_until('postgres', qq{
	SELECT count(*) = 0 FROM bar9.audience_numbers WHERE audience_id = '$gone'})
  or die 'the numbers of the deleted audience were not removed';
# the batch that removes the last numbers may be full: the audience leaves
# the to-do list on the worker's next turn, which finds none left
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM bar9.audience_purges'),
	'the worker removed its numbers, and the audience left the to-do list');
is($q->("SELECT count(*) FROM bar9.audience_numbers WHERE audience_id = '$big'"), '1000000',
	'the numbers of the other audiences are all there');

$node->stop;
done_testing();
