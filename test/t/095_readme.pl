# README.md can be pasted from top to bottom: every fenced sql and sh
# example runs, in document order, against a server and proxy started here
# as `make up` starts them (DATABASE_URL, BAR9_URL, BAR9_API_KEY and
# BAR9_ACCOUNT_ID set).  The sql examples run in one psql session, as a
# reader pastes them; an error is a failure unless the example shows it
# ("-- ERROR:  …"), and an error an example shows must happen.  The sh
# examples run with bash -e, the variables they set kept for the next.  A
# block after "<!-- readme-test: skip … -->" is not run (it is for another
# server); text blocks are output or commands that start servers.
use strict;
use warnings;

use IPC::Run qw(start pump finish timeout);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use Bar9Proxy;

my $node = bar9_node('readme');
my ($key, $account) = bar9_key($node);
my $proxy = start_proxy($node);
my $user = $node->safe_psql('postgres', 'SELECT current_user');
my $host = $node->host;
my $port = $node->port;
$ENV{DATABASE_URL} = "postgresql://$user\@/postgres?host=$host&port=$port";
$ENV{BAR9_URL} = $proxy->url;
$ENV{BAR9_API_KEY} = $key;
$ENV{BAR9_ACCOUNT_ID} = $account;
$ENV{PGOPTIONS} = '-c lc_messages=C';

# The fenced blocks of README.md: [language, text, first line], in order.
sub blocks
{
	my @lines = split /\n/, slurp_file(bar9_root() . '/README.md');
	my (@blocks, $cur, $indent, $skip);
	for my $i (0 .. $#lines)
	{
		my $l = $lines[$i];
		if (!$cur && $l =~ /^(\s*)```(\w*)\s*$/)
		{
			$cur = { lang => $2, text => '', line => $i + 2, skip => $skip };
			$indent = length $1;
			next;
		}
		if ($cur && $l =~ /^\s*```\s*$/)
		{
			push @blocks, $cur unless $cur->{skip};
			undef $cur;
			$skip = 0;
			next;
		}
		if ($cur)
		{
			$cur->{text} .= substr($l, $indent > length($l) ? length($l) : $indent) . "\n";
			next;
		}
		$skip = 1 if $l =~ /<!-- readme-test: skip/;
		$skip = 0 if $l =~ /\S/ && $l !~ /<!-- readme-test: skip/;
	}
	return grep { $_->{lang} eq 'sql' || $_->{lang} eq 'sh' } @blocks;
}

my ($in, $out, $err) = ('', '', '');
my $psql = start([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=0', '-d', $ENV{DATABASE_URL} ],
	'<', \$in, '>', \$out, '2>', \$err, timeout(120));

# Run a sql block in the session; returns its error messages.
sub run_sql
{
	my ($n, $text) = @_;
	my $mark = "\@\@block $n done\@\@";
	($out, $err) = ('', '');
	$in .= "$text\n\\echo $mark\n\\warn $mark\n";
	pump $psql until $out =~ /\Q$mark\E/ && $err =~ /\Q$mark\E/;
	return map { /ERROR:  (.*)$/ ? $1 : () } split /\n/, $err;
}

my $state = PostgreSQL::Test::Utils::tempdir . '/sh.state';
open(my $fh, '>', $state) or die;
close $fh;

# Run a sh block with bash -e, restoring and saving its variables.
sub run_sh
{
	my ($text) = @_;
	my $script = qq{set -euo pipefail
__before=\$(compgen -v)
. '$state'
$text
for __v in \$(compgen -v); do
	case "\$__v" in [A-Z]*) ;; *) continue ;; esac
	grep -qx "\$__v" <<<"\$__before" || declare -p "\$__v"
done >'$state.new'
mv '$state.new' '$state'
};
	my ($o, $e) = ('', '');
	my $ok = IPC::Run::run([ 'bash', '-c', $script ], '>', \$o, '2>', \$e, timeout(120));
	return ($ok, "$o$e");
}

my @blocks = blocks();
cmp_ok(scalar(grep { $_->{lang} eq 'sql' } @blocks), '>=', 15, 'README has its sql examples');
cmp_ok(scalar(grep { $_->{lang} eq 'sh' } @blocks), '>=', 5, 'README has its sh examples');
my $n = 0;
for my $b (@blocks)
{
	$n++;
	my $what = "README line $b->{line} ($b->{lang})";
	if ($b->{lang} eq 'sh')
	{
		my ($ok, $output) = run_sh($b->{text});
		ok($ok, "$what runs") or diag($output);
		next;
	}
	my @errors = run_sql($n, $b->{text});
	my @shown = map { /^\s*--\s*ERROR:  (.*)$/ ? $1 : () } split /\n/, $b->{text};
	my @unexpected = grep { my $e = $_; !grep { $_ eq $e } @shown } @errors;
	my @missing = grep { my $s = $_; !grep { $_ eq $s } @errors } @shown;
	ok(!@unexpected && !@missing, "$what runs, with the errors it shows")
	  or diag("errors not shown: @unexpected; shown, not raised: @missing\n$err");
}

$in .= "\\q\n";
finish $psql;
$node->stop;
done_testing();
