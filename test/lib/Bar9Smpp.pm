# Bar9Smpp: helpers of the sender's end-to-end tests (test/t/10x_*.pl).
#
# An SMSC that is not ours (test/smpp/smsc.js on npm smpp 0.5.1, installed
# by test/run-all with `npm ci`), steered over its control port and
# recording every PDU it receives; bar9-sender started against it and a
# PostgreSQL::Test::Cluster node; an account's audiences and broadcasts on
# that node; and readers of what the SMSC recorded.
package Bar9Smpp;

use strict;
use warnings;

use Exporter qw(import);
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

use Bar9Proxy qw(bar9_root);

our @EXPORT = qw(start_smsc start_sender wait_for sender_node sms_account submits_of);

my $http = HTTP::Tiny->new(timeout => 10, keep_alive => 0);

# Fork and exec CMD with its output appended to LOG and ENV added; the pid.
sub spawn
{
	my ($log, $env, @cmd) = @_;
	my $pid = fork() // die "fork: $!";
	if ($pid == 0)
	{
		$ENV{$_} = $env->{$_} for keys %$env;
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>>', $log) or die "$log: $!";
		open(STDERR, '>&', \*STDOUT);
		exec(@cmd) or die "exec $cmd[0]: $!";
	}
	return $pid;
}

# Wait until CODE returns true, at most TIMEOUT seconds; its last value.
sub wait_for
{
	my ($code, $timeout) = @_;
	my $deadline = time + ($timeout // 60);
	my $v;
	while (!($v = $code->()) && time < $deadline)
	{
		sleep 0.1;
	}
	return $v;
}

# A node with bar9 and a login role of bar9_sender ("sender").
sub sender_node
{
	my ($name) = @_;
	BAIL_OUT('sender/bar9-sender is not built (make)')
	  unless -x bar9_root() . '/sender/bar9-sender';
	BAIL_OUT('test/smpp/node_modules is missing (test/run-all runs npm ci)')
	  unless -d bar9_root() . '/test/smpp/node_modules/smpp';
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'bar9'\nmax_connections = 50\n");
	$node->start;
	$node->safe_psql('postgres',
		'CREATE EXTENSION bar9; CREATE ROLE sender LOGIN IN ROLE bar9_sender');
	return $node;
}

# Start the SMSC (on PORT if given: a restart keeps its port and record).
sub start_smsc
{
	my ($node, %opt) = @_;
	my $self = bless {
		node => $node,
		port => $opt{port} // PostgreSQL::Test::Cluster::get_free_port(),
		record => $opt{record} // $node->basedir . '/smsc_' . time . '.jsonl',
	}, 'Bar9Smpp::Smsc';
	$self->{control} = $opt{control} // PostgreSQL::Test::Cluster::get_free_port();
	$self->{log} = $node->basedir . '/smsc.log';
	$self->{pid} = spawn($self->{log}, {}, 'node',
		bar9_root() . '/test/smpp/smsc.js', '--port' => $self->{port},
		'--control' => $self->{control}, '--record' => $self->{record},
		'--system-id' => 'bar9', '--password' => 'secret');
	die "the SMSC did not come up:\n" . slurp_file($self->{log})
	  unless wait_for(sub { $self->stats }, 20);
	return $self;
}

# Start bar9-sender against SMSC and NODE; ARGS more flags.
sub start_sender
{
	my ($node, $smsc, @args) = @_;
	my $self = bless { log => $node->basedir . '/sender.log' }, 'Bar9Smpp::Sender';
	$self->{pid} = spawn(
		$self->{log},
		{
			BAR9_SMPP_URL => "smpp://bar9:secret\@127.0.0.1:$smsc->{port}?system_type=bar9",
			BAR9_DATABASE_URL => $node->connstr('postgres') . ' user=sender',
		},
		bar9_root() . '/sender/bar9-sender', '--stats' => 1, @args);
	return $self;
}

# Account ACCT on NODE: audiences of numbers => PREFIX..., broadcasts via bar9.api with key => K, else SQL; a Bar9Smpp::Account.
sub sms_account
{
	my ($node, $acct, %opt) = @_;
	die 'sms_account: numbers => the prefix of the numbers' unless defined $opt{numbers};
	return bless { node => $node, id => $acct, numbers => $opt{numbers}, key => $opt{key} },
	  'Bar9Smpp::Account';
}

# The submit_sm PDUs of the record (only those of BODY if given), in the order received.
sub submits_of
{
	my ($smsc, $body) = @_;
	return grep {
		$_->{command} eq 'submit_sm' && (!defined $body || ($_->{message} // '') eq $body)
	} $smsc->pdus;
}

package Bar9Smpp::Account;

use Encode qw(encode_utf8);
use JSON::PP;
use Test::More;

# NODE's answer to SQL in database postgres, as safe_psql gives it.
sub sql { my ($self, $sql) = @_; return $self->{node}->safe_psql('postgres', $sql) }

# The audience NAME of N numbers from FIRST, the prefix then 5 digits (+2135551 00042); its id.
sub audience
{
	my ($self, $name, $first, $n) = @_;
	my $id = $self->sql("SELECT (bar9.create_audience('$self->{id}', '$name')).id");
	$self->sql(qq{
		SELECT bar9.add_numbers('$self->{id}', '$id',
			ARRAY(SELECT '$self->{numbers}' || lpad(g::text, 5, '0')
				    FROM generate_series($first, $first + $n - 1) g))});
	return $id;
}

# A broadcast of BODY to AUDIENCE from FROM (default sender if undef), POSTed (asserting 201) with a key, else by SQL; its id.
sub broadcast
{
	my ($self, $audience, $body, $from) = @_;
	if (!defined $self->{key})
	{
		my $as = defined $from ? qq{, "from" => '$from'} : '';
		return $self->sql(encode_utf8(
			"SELECT id FROM bar9.create_broadcast('$self->{id}', '$audience', \$b\$$body\$b\$$as)"));
	}
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $req = { body => $body };
	$req->{from} = $from if defined $from;
	my $json = JSON::PP->new->utf8->canonical;
	my $q = $self->sql(
		"SELECT status || ' ' || body FROM bar9.api('POST', "
		  . "'/v1/marketing/channels/$audience/messages', "
		  . "jsonb_build_object('authorization', 'Bearer $self->{key}', 'content-type', 'application/json'), "
		  . "convert_to(\$b\$" . $json->encode($req) . "\$b\$, 'UTF8'))");
	my ($status, $resp) = split / /, $q, 2;
	is($status, 201, 'POST .../messages: 201');
	return JSON::PP->new->utf8->decode($resp)->{id};
}

# The counts of broadcast MSG, "queued/sending/sent/delivered/failed/canceled".
sub counts
{
	my ($self, $msg) = @_;
	return $self->sql(qq{
		SELECT concat_ws('/', n_queued, n_sending, n_sent, n_delivered, n_failed, n_canceled)
		  FROM bar9.broadcasts WHERE broadcast_id = '$msg'});
}

# Wait up to TIMEOUT s until MSG has no SMS queued, sending or (unless receipts => 0) sent; true if so.
sub settled
{
	my ($self, $msg, $timeout, %opt) = @_;
	my $sent = ($opt{receipts} // 1) ? ' + n_sent' : '';
	return Bar9Smpp::wait_for(
		sub {
			$self->sql(qq{
				SELECT fanout_done AND n_queued + n_sending$sent = 0
				  FROM bar9.broadcasts WHERE broadcast_id = '$msg'}) eq 't';
		},
		$timeout);
}

# Where the SMS of broadcast MSG are, one line, for a failed test's diag.
sub whereabouts
{
	my ($self, $msg) = @_;
	return 'counts ' . $self->counts($msg) . '; ' . $self->sql(qq{
		SELECT format('rows: %s queued or sending, %s claims, %s retried, '
					  'history by state %s, %s waiting for a receipt',
					  (SELECT count(*) FROM bar9.sms_queue q
						WHERE (q.account_no, q.broadcast_no) = (b.account_no, b.broadcast_no)),
					  (SELECT count(*) FROM bar9.sms_claims c
						WHERE (c.account_no, c.broadcast_no) = (b.account_no, b.broadcast_no)),
					  (SELECT count(*) FROM bar9.sms_retry r
						WHERE (r.account_no, r.broadcast_no) = (b.account_no, b.broadcast_no)),
					  (SELECT string_agg(state || ':' || n, ' ' ORDER BY state)
						 FROM (SELECT state, count(*) AS n FROM bar9.sms_history h
								WHERE (h.account_no, h.broadcast_no) = (b.account_no, b.broadcast_no)
								GROUP BY state) s),
					  (SELECT count(*) FROM bar9.sms_receipt_wait w
						WHERE (w.account_no, w.broadcast_no) = (b.account_no, b.broadcast_no)))
		  FROM bar9.broadcasts b WHERE broadcast_id = '$msg'});
}

package Bar9Smpp::Smsc;

use JSON::PP;
use PostgreSQL::Test::Utils;

# GET /stats, or undef while it does not answer.
sub stats
{
	my ($self) = @_;
	my $r = $http->get("http://127.0.0.1:$self->{control}/stats");
	return $r->{success} ? decode_json($r->{content}) : undef;
}

# The receipts held (mode receipt "held"): [{id, destination_addr, part}].
sub held
{
	my ($self) = @_;
	my $r = $http->get("http://127.0.0.1:$self->{control}/held");
	die "SMSC control /held: $r->{status}" unless $r->{success};
	return decode_json($r->{content});
}

# POST a control request; its JSON answer.
sub control
{
	my ($self, $path, $body) = @_;
	my $r = $http->post("http://127.0.0.1:$self->{control}$path",
		{ content => encode_json($body // {}), headers => { 'content-type' => 'application/json' } });
	die "SMSC control $path: $r->{status} $r->{content}" unless $r->{success};
	return decode_json($r->{content});
}

# Every PDU recorded so far, decoded (read on from where the last call ended).
sub pdus
{
	my ($self) = @_;
	return () unless -e $self->{record};
	my $json = JSON::PP->new->utf8;
	open(my $fh, '<:raw', $self->{record}) or die "$self->{record}: $!";
	seek($fh, $self->{offset} // 0, 0);
	while (my $line = <$fh>)
	{
		last unless $line =~ /\n\z/;    # a line still being written
		push @{ $self->{parsed} }, $json->decode($line);
		$self->{offset} = tell($fh);
	}
	close($fh);
	return @{ $self->{parsed} // [] };
}

# Stop it: SIGTERM (or SIGKILL with $kill), and wait.
sub stop
{
	my ($self, $kill) = @_;
	return unless $self->{pid};
	kill($kill ? 'KILL' : 'TERM', $self->{pid});
	waitpid($self->{pid}, 0);
	$self->{pid} = undef;
}

# Kill it if the test left it running (local $?: its wait status must not
# become the test's exit status when this runs at the program's end).
sub DESTROY { local $?; $_[0]->stop(1) }

package Bar9Smpp::Sender;

use POSIX qw(WNOHANG);
use PostgreSQL::Test::Utils;
use Time::HiRes qw(time sleep);

sub log_text { return -e $_[0]{log} ? slurp_file($_[0]{log}) : '' }

# Its log's lines that say something went wrong, and its last stats line: for diag.
sub log_errors
{
	my @lines = split /\n/, $_[0]->log_text;
	my @stats = grep { /stats: / } @lines;
	return join("\n", (grep { /error|warning|stopp|bind: /i } @lines), @stats ? $stats[-1] : ());
}

# Send SIGNAL (default TERM) and wait up to TIMEOUT s; the wait status.
sub stop
{
	my ($self, $signal, $timeout) = @_;
	return $self->{status} if defined $self->{status};
	kill($signal // 'TERM', $self->{pid});
	my $deadline = time + ($timeout // 60);
	while (time < $deadline)
	{
		if (waitpid($self->{pid}, WNOHANG) == $self->{pid})
		{
			return $self->{status} = $?;
		}
		sleep 0.05;
	}
	return undef;
}

# Kill it if the test left it running (without touching the exit status).
sub DESTROY
{
	my ($self) = @_;
	local $?;
	return if defined $self->{status};
	kill 'KILL', $self->{pid};
	waitpid($self->{pid}, 0);
}

1;
