# bar9-sender against an SMSC that is not ours (npm smpp 0.5.1): a
# 10,000-number broadcast from POST to every SMS delivered; each PDU's
# destination, source TON/NPI, data_coding, UDH parts and text checked
# against the body (GSM-7 with extension characters, Arabic UCS-2, emoji,
# 1,600-character bodies); receipts in the TLVs or the text, delivered or
# failed; a split SMS whose parts' receipts come in any order, one of them
# failed; throttling; a permanent error; SIGTERM drains the window; an
# inbound STOP opts the number out, cancels its queued SMS and the
# confirmation goes back as a submit_sm.
use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Bar9Proxy qw(bar9_root);
use Bar9Smpp;
use Encode qw(decode_utf8);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $node = sender_node('sender_delivery');
my $acct = $node->safe_psql('postgres', "SELECT bar9.create_account('smpp')");
my $key = $node->safe_psql('postgres',
	"SELECT bar9.create_api_key('$acct', ARRAY['marketing:channels:read','marketing:channels:write','marketing:channels:send'])");
$node->safe_psql('postgres', qq{
	SELECT bar9.set_account_limits('$acct', 100000, 100000);
	SELECT bar9.add_sender('$acct', '38383', true);
	SELECT bar9.add_sender('$acct', '+213555000001');
	SELECT bar9.add_sender('$acct', 'BAR9')});

# Audiences of the numbers +2135551NNNNN; broadcasts POSTed through bar9.api.
my $account = sms_account($node, $acct, numbers => '+2135551', key => $key);

# ---- the bodies, and what the SMSC must receive for each
my $gsm_ext = 'Sale [50%] {today} ~ only €5 | ^_^ \\o/ ' x 6;    # escapes across parts
my $arabic = 'تخفيضات كبيرة هذا الأسبوع في كل المتاجر! ' x 4;
my $emoji = 'Party 🎉 tonight 😀! ' x 12;                            # surrogate pairs
my $long_gsm = join('', map { chr(ord('a') + $_ % 26) } 0 .. 1599);
my $long_ucs = join('', map { chr(0x0430 + $_ % 32) } 0 .. 1599);   # Cyrillic
my $big = $account->audience('big', 0, 10000);
my $small = $account->audience('small', 20000, 3);

my %sent;    # message id -> [body, from, kind]
my $m_big = $account->broadcast($big, 'Big discount this weekend!');
$sent{$m_big} = [ 'Big discount this weekend!', '38383' ];
for my $case ([ $gsm_ext, '+213555000001' ], [ $arabic, 'BAR9' ],
	[ $emoji, undef ], [ $long_gsm, '38383' ], [ $long_ucs, 'BAR9' ])
{
	my $m = $account->broadcast($small, @$case);
	$sent{$m} = [ $case->[0], $case->[1] // '38383' ];
}

my $smsc = start_smsc($node);
my $sender = start_sender($node, $smsc, '--window' => 50, '--lease' => 10);

ok($account->settled($_, 300), "broadcast $_ settled") for sort keys %sent;
is($account->counts($m_big), '0/0/0/10000/0/0',
	'10,000-number broadcast: every SMS delivered, by receipts');
for my $m (sort keys %sent)
{
	next if $m eq $m_big;
	is($account->counts($m), '0/0/0/3/0/0', "broadcast $m: 3 delivered");
}
is($node->safe_psql('postgres', 'SELECT count(*) FROM bar9.sms_receipt_wait'),
	'0', 'no SMS waits for a receipt any more');

# ---- every PDU checked against its broadcast
my @submits = submits_of($smsc);
my %segments = map { $_->[0] => $_->[1] } map { [ split /\|/ ] } split /\n/,
  $node->safe_psql('postgres',
	"SELECT broadcast_id || '|' || segments || '|' || encoding FROM bar9.broadcasts");
my %encoding = map { $_->[0] => $_->[2] } map { [ split /\|/ ] } split /\n/,
  $node->safe_psql('postgres',
	"SELECT broadcast_id || '|' || segments || '|' || encoding FROM bar9.broadcasts");

# the big one: one PDU per number, no duplicate in a run without faults
my @big = submits_of($smsc, 'Big discount this weekend!');
my %dest = map { $_->{destination_addr} => 1 } @big;
is(scalar(@big), 10000, '10,000 submit_sm for the big broadcast');
is(scalar(keys %dest), 10000, 'to 10,000 distinct numbers');
is(scalar(grep { $_->{data_coding} != 0 || $_->{esm_class} != 0 || $_->{udh} } @big),
	0, 'all GSM-7 (data_coding 0), whole, no UDH');
is(scalar(grep { $_->{source_addr} ne '38383' || $_->{source_addr_ton} != 3
	  || $_->{source_addr_npi} != 0 } @big), 0,
	'from the default sender, a short code: TON 3, NPI 0');
is(scalar(grep { $_->{dest_addr_ton} != 1 || $_->{dest_addr_npi} != 1
	  || $_->{destination_addr} !~ /^2135551\d{5}$/ } @big), 0,
	'to international numbers: TON 1, NPI 1, digits without +');
is(scalar(grep { $_->{registered_delivery} != 1 } @big), 0,
	'every submit_sm asks for a delivery receipt');

# the small ones: reassemble each SMS from its parts, by UDH reference
my %sms;    # "dest ref" -> parts
for my $p (grep { $_->{destination_addr} =~ /^21355512000[0-2]$/ } @submits)
{
	my ($iei, $len, $ref, $total, $seq) =
	  $p->{udh} ? unpack('C5', pack('H*', $p->{udh}[0])) : (0, 0, 'whole', 1, 1);
	push @{ $sms{"$p->{destination_addr} $ref $p->{source_addr}"} },
	  { %$p, total => $total, seqno => $seq, iei => $iei };
}
for my $m (sort keys %sent)
{
	next if $m eq $m_big;
	my ($body, $from) = @{ $sent{$m} };
	my $want_dc = $encoding{$m} eq 'GSM-7' ? 0 : 8;
	my @mine = grep {
		my $t = join '', map { $_->{message} } sort { $a->{seqno} <=> $b->{seqno} } @$_;
		$t eq $body
	} values %sms;
	is(scalar(@mine), 3, "$m ($encoding{$m}, $segments{$m} parts): 3 SMS whose parts give the body back");
	my @parts = map { @$_ } @mine;
	is(scalar(grep { $_->{total} != $segments{$m} } @parts), 0,
		"$m: every UDH says $segments{$m} parts, as the message's segments");
	is(scalar(@parts), 3 * $segments{$m}, "$m: 3 x $segments{$m} submit_sm");
	is(scalar(grep { $_->{data_coding} != $want_dc } @parts), 0,
		"$m: data_coding $want_dc");
	is(scalar(grep { $_->{total} > 1 && ($_->{iei} != 0 || !($_->{esm_class} & 0x40)) } @parts),
		0, "$m: parts carry UDHI and the 8-bit reference IE");
	my ($ton, $npi, $addr) = $from =~ /^\+(\d+)$/ ? (1, 1, $1)
	  : $from =~ /^\d+$/ ? (3, 0, $from) : (5, 0, $from);
	is(scalar(grep { $_->{source_addr} ne $addr || $_->{source_addr_ton} != $ton
		  || $_->{source_addr_npi} != $npi } @parts), 0,
		"$m: source $from as TON $ton NPI $npi");
}

# ---- receipts in the text only, and failed ones
$smsc->control('/mode', { receipt => 'failed', receipt_form => 'text' });
my $third = $account->audience('third', 30000, 20);
my $m_fail = $account->broadcast($third, 'Receipts say undelivered');
ok($account->settled($m_fail, 60), 'failed receipts settle');
is($account->counts($m_fail), '0/0/0/0/20/0', 'receipts UNDELIV (text only): 20 failed');
is($node->safe_psql('postgres',
	"SELECT DISTINCT error FROM bar9.sms WHERE broadcast_id = '$m_fail'"),
	'stat:UNDELIV err:034', 'the error names the receipt state and error');
$smsc->control('/mode', { receipt => 'delivered', receipt_form => 'both' });

# ---- throttling: the SMSC refuses 7 submits; they go again later
$smsc->control('/mode', { throttle => 7 });
my $m_thr = $account->broadcast($third, 'After a slow down');
ok($account->settled($m_thr, 60), 'throttled broadcast settles');
is($account->counts($m_thr), '0/0/0/20/0/0', 'throttling: all 20 delivered, none failed');
my @thr = submits_of($smsc, 'After a slow down');
is(scalar(@thr), 27, '20 accepted + 7 throttled submit_sm');
like($sender->log_text, qr/SMSC throttling: ESME_RTHROTTLED \(0x00000058\); pausing/,
	'the throttling is logged');

# ---- a permanent error fails that SMS with the status code and name
$smsc->control('/mode', { fail => { '213555130003' => 11 } });
my $m_perm = $account->broadcast($third, 'One bad number');
ok($account->settled($m_perm, 60), 'permanent error settles');
is($account->counts($m_perm), '0/0/0/19/1/0', 'a permanent error: 1 failed, 19 delivered');
is($node->safe_psql('postgres',
	"SELECT to_number::text || ' ' || error FROM bar9.sms WHERE broadcast_id = '$m_perm' AND status = 'failed'"),
	'+213555130003 ESME_RINVDSTADR (0x0000000b)', 'failed with the status name and code');
$smsc->control('/mode', { fail => {} });

# ---- a split SMS: a receipt per part, in any order; delivered when every
# part is, failed as soon as one part fails
$smsc->control('/mode', { receipt => 'held' });
my $three = join('', map { chr(ord('a') + $_ % 26) } 0 .. 399);    # 3 parts
my $m_split = $account->broadcast($account->audience('split', 60000, 3), $three);
my $held;
ok(wait_for(sub { $held = $smsc->held; @$held == 9 }, 60),
	'split SMS: 3 x 3 parts submitted, their receipts held');
ok(wait_for(sub { $account->counts($m_split) eq '0/0/3/0/0/0' }, 30), 'the 3 SMS are sent');
my %part;    # digits -> part -> message id
$part{ $_->{destination_addr} }{ $_->{part} } = $_->{id} for @$held;
my ($pa, $pb, $pc) = map { $part{"21355516000$_"} } 0 .. 2;
is(scalar(grep { keys %{ $part{"21355516000$_"} } == 3 } 0 .. 2), 3,
	'each SMS has 3 parts with their own message ids');
my $waiting = sub { $node->safe_psql('postgres', 'SELECT count(*) FROM bar9.sms_receipt_wait') };
is($waiting->(), 12, 'each SMS waits for 3 receipts (and counts them: 4 rows)');
my $sms_of = sub {
	$node->safe_psql('postgres', qq{
		SELECT status || ' ' || coalesce(provider_ref, '-') || ' ' || coalesce(error, '-')
		  FROM bar9.sms WHERE broadcast_id = '$m_split' AND to_number::text = '+21355516000$_[0]'});
};
my $release = sub {
	$smsc->control('/release', { receipts => [ map { { id => $_->[0], receipt => $_->[1] } } @_ ] });
};
my $w = $waiting->();
$release->([ $pa->{3}, 'delivered' ], [ $pa->{1}, 'delivered' ]);
ok(wait_for(sub { $waiting->() == $w - 2 }, 30), 'A: the receipts of parts 3 and 1 are taken');
is($sms_of->(0), "sent $pa->{1} -", 'A: still sent while part 2 is not delivered');
$release->([ $pb->{2}, 'failed' ]);
ok(wait_for(sub { $sms_of->(1) =~ /^failed/ }, 30), 'B: failed by its part 2, first to come');
is($sms_of->(1), "failed $pb->{1} stat:UNDELIV err:034",
	'B: the error of the failed part, its provider_ref the first part\'s id');
$release->([ $pa->{2}, 'delivered' ], [ $pb->{1}, 'delivered' ], [ $pb->{3}, 'delivered' ],
	[ $pc->{2}, 'delivered' ], [ $pc->{3}, 'delivered' ]);
ok(wait_for(sub { $sms_of->(0) =~ /^delivered/ }, 30), 'A: delivered with its last part');
ok(wait_for(sub { $waiting->() == 2 }, 30), 'every receipt released so far is taken (C waits for part 1)');
is($sms_of->(1), "failed $pb->{1} stat:UNDELIV err:034",
	'B: stays failed when its other parts are delivered');
is($sms_of->(2), "sent $pc->{1} -", 'C: sent while part 1 is not delivered');
$release->([ $pc->{1}, 'delivered' ]);
ok(wait_for(sub { $sms_of->(2) =~ /^delivered/ }, 30), 'C: delivered by its first part, the last to come');
is($sms_of->(0), "delivered $pa->{1} -", 'A: delivered, provider_ref the first part\'s id');
is($account->counts($m_split), '0/0/0/2/1/0', 'split SMS: 2 delivered, 1 failed');
is($waiting->(), 0, 'no part waits for a receipt any more');
$smsc->control('/mode', { receipt => 'delivered' });

# ---- SIGTERM: the window finishes, what it knows is acked, exit 0
$smsc->control('/mode', { resp_delay_ms => 1000 });
my $before = $smsc->stats->{submits};
my $m_term = $account->broadcast($account->audience('term', 50000, 300), 'Stopping midway');
ok(wait_for(sub { $smsc->stats->{submits} > $before }, 30), 'submits started');
is($sender->stop('TERM', 30), 0, 'SIGTERM: exit status 0');
my $submitted = () = submits_of($smsc, 'Stopping midway');
ok($submitted > 0 && $submitted <= 100, "stopped midway ($submitted of 300 submitted)");
is($node->safe_psql('postgres',
	"SELECT n_sent + n_delivered FROM bar9.broadcasts WHERE broadcast_id = '$m_term'"),
	$submitted, 'every SMS the SMSC accepted is acknowledged');
like($sender->log_text, qr/stopping: finishing the window.*\n.*stats: submitted=/s,
	'the drain and the counters are logged');
unlike($sender->log_text, qr/Stopping midway|Big discount/, 'no body in the log');

# the rest goes out after a restart (the receipts the SMSC kept too)
$smsc->control('/mode', { resp_delay_ms => 0 });
$sender = start_sender($node, $smsc, '--window' => 50, '--lease' => 10);
ok($account->settled($m_term, 60), 'the rest of the stopped broadcast goes out after a restart');
is($account->counts($m_term), '0/0/0/300/0/0', 'all 300 delivered');
is($sender->stop('TERM', 30), 0, 'stopped again');

# ---- inbound STOP: opt-out, queued SMS canceled, confirmation submitted
$sender = start_sender($node, $smsc, '--window' => 1, '--rate' => 2);
my $stop = $account->audience('stop', 40000, 30);
my $m_stop = $account->broadcast($stop, 'Slowly, number by number');
ok(wait_for(sub { submits_of($smsc, 'Slowly, number by number') }, 30),
	'the slow broadcast started');
$smsc->control('/inbound', { from => '213555140029', to => '38383', text => 'STOP' });
ok(wait_for(sub {
	$node->safe_psql('postgres',
		"SELECT count(*) FROM bar9.opt_outs WHERE phone_number::text = '+213555140029' AND source = 'keyword'") eq '1' }, 30),
	'the STOP opted the number out (source keyword)');
is($node->safe_psql('postgres',
	"SELECT status FROM bar9.sms WHERE broadcast_id = '$m_stop' AND to_number::text = '+213555140029'"),
	'canceled', 'its queued SMS is canceled');
my $confirm = decode_utf8($node->safe_psql('postgres',
	"SELECT opt_out FROM bar9.keyword_replies('$acct')"));
ok(wait_for(sub { grep { $_->{destination_addr} eq '213555140029' && $_->{source_addr} eq '38383' }
	  submits_of($smsc, $confirm) }, 30),
	'the confirmation went back as a submit_sm from 38383');
is($sender->stop('TERM', 60), 0, 'stopped');
like($sender->log_text, qr/inbound=1/, 'the inbound SMS is counted');

done_testing();
