# test/lib/common.sh — helpers shared by test/run-all and bench/run:
# where PostgreSQL 15 lives, who runs the server, and a throwaway cluster.

# PG_CONFIG set in the environment (a second, relocated PostgreSQL 15, one
# with Citus say) moves all of it; the Makefile builds against the same one.
if [ -n "${PG_CONFIG:-}" ]; then
	PG_BINDIR=${PG_BINDIR:-$("$PG_CONFIG" --bindir)}
	PG_PGXS_DIR=${PG_PGXS_DIR:-$("$PG_CONFIG" --pkglibdir)/pgxs}
fi
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
PG_PGXS_DIR=${PG_PGXS_DIR:-/usr/lib/postgresql/15/lib/pgxs}
PG_REGRESS=$PG_PGXS_DIR/src/test/regress/pg_regress
PG_TAP_LIB=$PG_PGXS_DIR/src/test/perl

# PostgreSQL refuses to run as root: as root we run it as "postgres".
if [ "$(id -u)" = 0 ]; then
	RUN_AS=${BAR9_RUN_AS:-postgres}
else
	RUN_AS=$(id -un)
fi

# as_server_user CMD...: run a command as the user that owns the clusters.
as_server_user() {
	if [ "$(id -un)" = "$RUN_AS" ]; then
		"$@"
	else
		runuser -u "$RUN_AS" -- "$@"
	fi
}

# as_root CMD...: run a command with the rights needed to install.
as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# free_port: print a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0) or die; print $s->sockport, "\n";'
}

# cluster_start DIR PORT [EXTRA_CONF]: initdb + start a cluster with bar9 preloaded.
cluster_start() {
	local dir=$1 port=$2 extra=${3:-}
	mkdir -p "$dir"
	chown "$RUN_AS" "$dir" 2>/dev/null || true
	as_server_user "$PG_BINDIR/initdb" -D "$dir/data" -A trust -U postgres \
		--no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; return 1; }
	cat >>"$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'bar9'
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
max_connections = 200
$extra
CONF
	as_server_user "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w start >/dev/null ||
		{ cat "$dir/postgres.log"; return 1; }
}

# cluster_stop DIR: stop a cluster started by cluster_start.
cluster_stop() {
	as_server_user "$PG_BINDIR/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1 || true
}
