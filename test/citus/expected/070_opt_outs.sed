# The plan of the opt-out's cancel of an SMS.  On Citus it is a router
# query: Citus's custom scan of one task, on the account's shard
# (pg_temp.plan shows only that part: the shard plans the statement itself;
# the probe of the queue's primary key is what make test asserts on a
# single node).
/^SELECT pg_temp\.plan(\$\$DELETE FROM bar9\.sms_queue /{
n
:a
N
/\n([0-9]* rows\?)$/!ba
s/.*/          QUERY PLAN          \n------------------------------\n Custom Scan (Citus Adaptive)\n   Task Count: 1\n(2 rows)/
}
