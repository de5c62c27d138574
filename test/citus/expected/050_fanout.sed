# The plans of the fan-out's statements.  On Citus the read of the members
# and of the opt-outs are router queries: Citus's custom scan of one task,
# on the account's shard (pg_temp.plan shows only that part: the shard
# plans the statement with the values as constants; the index range scans
# are what make test asserts on a single node).
/^SELECT pg_temp\.plan(format('EXECUTE fanout_\(read\|opt_outs\)(/{
n
:a
N
/\n([0-9]* rows\?)$/!ba
s/.*/          QUERY PLAN          \n------------------------------\n Custom Scan (Citus Adaptive)\n   Task Count: 1\n(2 rows)/
}
# The single node's insert of a batch, INSERT ... SELECT unnest($3): Citus
# cannot plan it generic, with its parameters unknown.  It is not what the
# fan-out runs on Citus: that is 'insert_citus', an INSERT ... SELECT from
# the audience's rows on one shard (test/citus/t/010_citus.pl explains it).
/^EXPLAIN (COSTS OFF) EXECUTE fanout_insert(/{
n
:b
N
/\n([0-9]* rows\?)$/!bb
N
s/.*/ERROR:  could not create distributed plan\nDETAIL:  Possibly this is caused by the use of parameters in SQL functions, which is not supported in Citus.\nHINT:  Consider using PL\/pgSQL functions instead./
}
