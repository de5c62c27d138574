
-- ---------------------------------------------------------------------------
-- bar9.metrics(): the database's part of the proxy's GET /metrics, in the
-- Prometheus text format (docs/proxy.md, "Metrics").
--
-- Read cheaply, whatever the number of SMS: no SMS table is scanned.  The
-- SMS by state come from the counters every broadcast keeps (n_queued …
-- n_canceled, kept exact by fan-out, claim and ack) of the unfinished
-- broadcasts only, found by the partial index broadcasts_unfinished; the
-- broadcasts to fan out by broadcasts_fanout_todo; the oldest SMS put back
-- for retry by sms_retry_due.  A finished broadcast's SMS leave these
-- gauges: their totals are in the broadcast's counts (GET …/messages/:id).
--
-- After 099_proxy_role.sql, which revokes EXECUTE from PUBLIC on what came
-- before: this file does its own REVOKE and GRANT.
-- ---------------------------------------------------------------------------

-- The database's metrics as Prometheus text exposition lines.
CREATE FUNCTION metrics() RETURNS text
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
WITH unfinished AS (
	SELECT m.status, m.n_queued, m.n_sending, m.n_sent, m.n_delivered,
		   m.n_failed, m.n_canceled, m.created_at, m.send_at
	  FROM @extschema@.broadcasts m
	 WHERE m.status IN ('pending', 'queued', 'sending')
), todo AS (
	SELECT m.status, coalesce(m.send_at, m.created_at) AS due
	  FROM @extschema@.broadcasts m
	 WHERE m.status IN ('scheduled', 'pending')
), sms AS (
	SELECT coalesce(sum(n_queued), 0) AS queued,
		   coalesce(sum(n_sending), 0) AS sending,
		   coalesce(sum(n_sent), 0) AS sent,
		   coalesce(sum(n_delivered), 0) AS delivered,
		   coalesce(sum(n_failed), 0) AS failed,
		   coalesce(sum(n_canceled), 0) AS canceled,
		   -- fanned out but not claimed yet: queued since the broadcast was due
		   min(coalesce(send_at, created_at)) FILTER (WHERE n_queued > 0) AS oldest,
		   count(*) FILTER (WHERE status = 'queued') AS b_queued,
		   count(*) FILTER (WHERE status = 'sending') AS b_sending
	  FROM unfinished
), retry AS (
	-- put back for retry, due and not claimed: queued since due_at
	SELECT min(r.due_at) AS oldest
	  FROM @extschema@.sms_retry r
	 WHERE r.claim_no IS NULL AND r.due_at <= pg_catalog.now()
), fan AS (
	SELECT count(*) FILTER (WHERE status = 'scheduled') AS scheduled,
		   count(*) FILTER (WHERE status = 'pending') AS pending,
		   min(due) FILTER (WHERE status = 'pending'
							OR due <= pg_catalog.now()) AS oldest
	  FROM todo
)
SELECT pg_catalog.concat_ws(E'\n',
	'# HELP bar9_sms SMS of the unfinished broadcasts (pending, queued, sending) by state, from the broadcasts'' counters.',
	'# TYPE bar9_sms gauge',
	pg_catalog.format('bar9_sms{status="queued"} %s', s.queued),
	pg_catalog.format('bar9_sms{status="sending"} %s', s.sending),
	pg_catalog.format('bar9_sms{status="sent"} %s', s.sent),
	pg_catalog.format('bar9_sms{status="delivered"} %s', s.delivered),
	pg_catalog.format('bar9_sms{status="failed"} %s', s.failed),
	pg_catalog.format('bar9_sms{status="canceled"} %s', s.canceled),
	'# HELP bar9_sms_oldest_queued_seconds Age of the oldest SMS waiting for a sender (0 when none).',
	'# TYPE bar9_sms_oldest_queued_seconds gauge',
	pg_catalog.format('bar9_sms_oldest_queued_seconds %s',
		pg_catalog.round(greatest(0, extract(epoch FROM pg_catalog.now()
			- least(s.oldest, r.oldest)))::numeric, 3)),
	'# HELP bar9_broadcasts Broadcasts not finished, by status.',
	'# TYPE bar9_broadcasts gauge',
	pg_catalog.format('bar9_broadcasts{status="scheduled"} %s', f.scheduled),
	pg_catalog.format('bar9_broadcasts{status="pending"} %s', f.pending),
	pg_catalog.format('bar9_broadcasts{status="queued"} %s', s.b_queued),
	pg_catalog.format('bar9_broadcasts{status="sending"} %s', s.b_sending),
	'# HELP bar9_fanout_lag_seconds How long the oldest broadcast due for fan-out has waited for it to finish (0 when none).',
	'# TYPE bar9_fanout_lag_seconds gauge',
	pg_catalog.format('bar9_fanout_lag_seconds %s',
		pg_catalog.round(greatest(0, extract(epoch FROM pg_catalog.now()
			- f.oldest))::numeric, 3))) || E'\n'
  FROM sms s, retry r, fan f
$$;
COMMENT ON FUNCTION metrics() IS
	'the database''s metrics in the Prometheus text format, for the proxy''s GET /metrics; reads no SMS table';

ALTER FUNCTION metrics() OWNER TO bar9_definer;
REVOKE EXECUTE ON FUNCTION metrics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION metrics() TO bar9_api;
