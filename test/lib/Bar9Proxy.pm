# Bar9Proxy: helpers of the proxy's end-to-end tests (test/t/09x_*.pl).
#
# A PostgreSQL::Test::Cluster node with bar9, the proxy's login role, the
# proxy binary (proxy/bar9-proxy) started on a free port, and small HTTP
# clients: HTTP::Tiny for well-formed requests, raw sockets for the
# misbehaving ones.
package Bar9Proxy;

use strict;
use warnings;

use Cwd qw(abs_path);
use Exporter qw(import);
use File::Basename qw(dirname);
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

our @EXPORT = qw(bar9_root bar9_node bar9_key start_proxy raw_request
  raw_connect raw_read $ALL_SCOPES);

our $ALL_SCOPES =
  "ARRAY['marketing:channels:read','marketing:channels:write','marketing:channels:send']";

# The checkout (or the copy test/run-all made of it).
sub bar9_root
{
	return $ENV{BAR9_ROOT} // abs_path(dirname(__FILE__) . '/../..');
}

# A started node with bar9 in database postgres and the proxy's login role
# bar9_proxy (member of bar9_api, which the extension creates).  A missing
# proxy binary or bar9.api fails the run (BAIL_OUT), never skips it.
sub bar9_node
{
	my ($name) = @_;
	my $bin = bar9_root() . '/proxy/bar9-proxy';
	BAIL_OUT("proxy/bar9-proxy is not built (make): the proxy's tests cannot run")
	  unless -x $bin;

	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'bar9'\nmax_connections = 50\n");
	if ($ENV{BAR9_CITUS})
	{
		bar9_citus_cluster($node, $name);
	}
	else
	{
		$node->start;
		$node->safe_psql('postgres', 'CREATE EXTENSION bar9');
	}
	my $has_api = $node->safe_psql('postgres',
		"SELECT to_regprocedure('bar9.api(text,text,jsonb,bytea)') IS NOT NULL");
	BAIL_OUT('bar9.api is missing from the extension') unless $has_api eq 't';
	$node->safe_psql('postgres',
		'CREATE ROLE bar9_proxy LOGIN; GRANT bar9_api TO bar9_proxy');
	return $node;
}

# make test-citus (BAR9_CITUS=1): NODE, not started yet, becomes the
# coordinator of a Citus cluster with two worker nodes of its own, bar9
# distributed (bar9.distribute()).  With BAR9_CITUS_PROXY=worker, the proxy
# of start_proxy connects to the first worker node instead.
my @citus_workers;

sub bar9_citus_cluster
{
	my ($coord, $name) = @_;
	my $conf = "shared_preload_libraries = 'citus,bar9'\n"
	  . "max_connections = 100\nmax_prepared_transactions = 100\n"
	  . "citus.shard_count = 8\n";
	@citus_workers = map {
		my $w = PostgreSQL::Test::Cluster->new("${name}_w$_");
		$w->init;
		$w->append_conf('postgresql.conf', $conf);
		$w->start;
		$w->safe_psql('postgres', 'CREATE EXTENSION citus');
		$w
	} (1, 2);
	$coord->append_conf('postgresql.conf', $conf);
	$coord->start;
	$coord->safe_psql('postgres', 'CREATE EXTENSION citus');
	my $host = $coord->host;
	$coord->safe_psql('postgres',
		"SELECT citus_set_coordinator_host('$host', " . $coord->port . ');'
		  . join('', map { "SELECT citus_add_node('$host', " . $_->port . ');' }
			  @citus_workers)
		  . 'CREATE EXTENSION bar9; SELECT bar9.distribute();');
	return;
}

# The worker nodes of the Citus cluster bar9_node made (BAR9_CITUS=1).
sub citus_workers { return @citus_workers }

# A new account with a key of the given scopes (default: all three).
sub bar9_key
{
	my ($node, $scopes, $account) = @_;
	$scopes //= $ALL_SCOPES;
	$account //= $node->safe_psql('postgres',
		"SELECT bar9.create_account('test account')");
	my $key = $node->safe_psql('postgres',
		"SELECT bar9.create_api_key('$account', $scopes)");
	# the proxy's tests send bursts far over the default budget (100/s,
	# 200 at once); rate limits are tested on accounts of their own
	$node->safe_psql('postgres',
		"SELECT bar9.set_account_limits('$account', 1000000, 1000000)");
	return wantarray ? ($key, $account) : $key;
}

# Starts the proxy against NODE; options: pool, timeout, pool_wait, args
# (more flags), db_node (the node it connects to, if not NODE).
# Returns a Bar9Proxy object; dies unless /healthz answers.
sub start_proxy
{
	my ($node, %opt) = @_;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $log = $node->basedir . "/proxy_$port.log";
	my $db_node = $opt{db_node} // $node;
	$db_node = $citus_workers[0]
	  if !$opt{db_node}
	  && @citus_workers
	  && ($ENV{BAR9_CITUS_PROXY} // '') eq 'worker';
	my @cmd = (
		bar9_root() . '/proxy/bar9-proxy',
		'--listen' => "127.0.0.1:$port",
		'--database-url' => $db_node->connstr('postgres') . ' user=bar9_proxy',
		'--pool-size' => $opt{pool} // 4,
		'--client-timeout' => $opt{timeout} // 30,
		'--pool-wait' => $opt{pool_wait} // 5000,
		@{ $opt{args} // [] });
	my $pid = fork() // die "fork: $!";
	if ($pid == 0)
	{
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>>', $log) or die "$log: $!";
		open(STDERR, '>&', \*STDOUT);
		exec(@cmd) or die "exec $cmd[0]: $!";
	}
	my $self = bless {
		node => $node,
		port => $port,
		url => "http://127.0.0.1:$port",
		log => $log,
		pid => $pid,
		http => HTTP::Tiny->new(timeout => 20, keep_alive => 0),
	}, __PACKAGE__;
	for (1 .. 100)
	{
		my $r = $self->{http}->get("$self->{url}/healthz");
		return $self if $r->{status} == 200;
		sleep 0.1;
	}
	die "the proxy did not come up; its log:\n" . slurp_file($log);
}

sub url { return $_[0]{url} }
sub port { return $_[0]{port} }
sub log_text { return slurp_file($_[0]{log}) }

# request(METHOD, PATH, key => K, auth => 'bearer'|'x-api-key', json => REF,
# body => BYTES, headers => {...}): the HTTP::Tiny response, plus ->{json}.
sub request
{
	my ($self, $method, $path, %o) = @_;
	my %h = %{ $o{headers} // {} };
	if (defined $o{key})
	{
		if (($o{auth} // 'bearer') eq 'bearer')
		{
			$h{Authorization} = "Bearer $o{key}";
		}
		else
		{
			$h{'X-API-Key'} = $o{key};
		}
	}
	my %args = (headers => \%h);
	if (exists $o{json})
	{
		$args{content} = encode_json($o{json});
		$h{'Content-Type'} //= 'application/json';
	}
	$args{content} = $o{body} if exists $o{body};
	my $r = $self->{http}->request($method, $self->{url} . $path, \%args);
	$r->{json} = eval { decode_json($r->{content}) } if length($r->{content} // '');
	return $r;
}

sub pid { return $_[0]{pid} }

# Sends SIGTERM (unless no_signal) and waits up to TIMEOUT seconds; returns
# the wait status ($?: 0 for exit code 0), undef while it still runs.
sub stop
{
	my ($self, $timeout, $no_signal) = @_;
	return $self->{status} if defined $self->{status};
	kill 'TERM', $self->{pid} unless $no_signal;
	my $deadline = time + ($timeout // 30);
	while (time < $deadline)
	{
		if (waitpid($self->{pid}, WNOHANG) == $self->{pid})
		{
			$self->{status} = $?;
			return $self->{status};
		}
		sleep 0.05;
	}
	return undef;
}

# Kills the proxy if a test left it running (local $?: its wait status
# must not become the test's exit status when this runs at the program's end).
sub DESTROY
{
	my ($self) = @_;
	local $?;
	return if defined $self->{status} || !$self->{pid};
	kill 'KILL', $self->{pid};
	waitpid($self->{pid}, 0);
}

# A raw TCP connection to the proxy.
sub raw_connect
{
	my ($proxy) = @_;
	my $s = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1',
		PeerPort => $proxy->port,
		Proto => 'tcp',
		Timeout => 5) or die "connect: $!";
	return $s;
}

# Reads from SOCK until EOF or TIMEOUT seconds; returns what came.
sub raw_read
{
	my ($sock, $timeout) = @_;
	my $sel = IO::Select->new($sock);
	my $deadline = time + ($timeout // 10);
	my $buf = '';
	while ((my $left = $deadline - time) > 0)
	{
		last unless $sel->can_read($left);
		my $n = sysread($sock, my $chunk, 65536);
		last unless $n;
		$buf .= $chunk;
	}
	return $buf;
}

# Sends BYTES on a new connection and reads the answer until the
# connection closes (send "Connection: close").
sub raw_request
{
	my ($proxy, $bytes, $timeout) = @_;
	my $s = raw_connect($proxy);
	print $s $bytes;
	my $out = raw_read($s, $timeout);
	close $s;
	return $out;
}

1;
