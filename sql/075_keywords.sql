--
-- Inbound keywords: bar9.receive_sms, bar9.match_keyword and the replies.
--
-- Rule (src/keywords.h): the WHOLE body, trimmed of Unicode white space and
-- invisible format marks, in NFC, ASCII case-folded plus ê/Ê, is compared
-- with the keyword lists; anything around the keyword ("STOP.", "stop by our
-- shop") makes it an ordinary message: no reply, no change.
--
-- inbound(n, body): the reply to a body from +2136661 followed by n on five
-- digits, and whether that number is on the opt-out list afterwards (a
-- procedure: receive_sms, run as bar9_definer, commits before is_opted_out
-- reads as the caller; on Citus one transaction may not do both).
SELECT bar9.create_account('Keywords') AS acct \gset
SELECT bar9.create_account('Keywords B') AS acct_b \gset
CREATE PROCEDURE pg_temp.inbound(n int, body text, INOUT reply text DEFAULT NULL, INOUT opted_out boolean DEFAULT NULL) LANGUAGE plpgsql AS $$ DECLARE num bar9.e164 := ('+2136661' || lpad(n::text, 5, '0'))::bar9.e164; BEGIN reply := bar9.receive_sms(current_setting('test.acct'), num, body); COMMIT; opted_out := bar9.is_opted_out(current_setting('test.acct'), num); END $$;
SELECT set_config('test.acct', :'acct', false) IS NOT NULL AS set;
--
-- opt-out keywords, in their forms
--
CALL pg_temp.inbound(1, 'stop');
CALL pg_temp.inbound(2, 'STOP');
CALL pg_temp.inbound(3, ' Stop ');
CALL pg_temp.inbound(4, E'STOP\n');
CALL pg_temp.inbound(5, E'\t sToP \r\n');
CALL pg_temp.inbound(6, 'stopall');
CALL pg_temp.inbound(7, 'unsubscribe');
CALL pg_temp.inbound(8, 'cancel');
CALL pg_temp.inbound(9, 'end');
CALL pg_temp.inbound(10, 'QUIT');
CALL pg_temp.inbound(11, 'optout');
CALL pg_temp.inbound(12, 'revoke');
CALL pg_temp.inbound(13, 'ARRET');
CALL pg_temp.inbound(14, 'arret');
CALL pg_temp.inbound(15, 'ARRÊT');
CALL pg_temp.inbound(16, 'arrêt');
CALL pg_temp.inbound(17, 'Arrêt');
-- "ê" written as e + COMBINING CIRCUMFLEX ACCENT (NFD), as some phones send it
CALL pg_temp.inbound(18, E'arre\u0302t');
CALL pg_temp.inbound(19, 'توقف');
CALL pg_temp.inbound(20, ' توقف ');
-- no-break space, right-to-left marks and an ideographic space around it
CALL pg_temp.inbound(21, E'\u00a0\u200fتوقف\u200f\u3000');
CALL pg_temp.inbound(22, 'إلغاء');
CALL pg_temp.inbound(23, 'الغاء');
-- إ written as alef + ARABIC HAMZA BELOW (NFD)
CALL pg_temp.inbound(24, E'\u0627\u0655\u0644\u063a\u0627\u0621');
--
-- near misses: the keyword is not the whole body, or not the keyword
--
CALL pg_temp.inbound(30, 'stop by our shop');
CALL pg_temp.inbound(31, 'stopp');
CALL pg_temp.inbound(32, 'STOP.');
CALL pg_temp.inbound(33, 'STOP!');
CALL pg_temp.inbound(34, '"STOP"');
CALL pg_temp.inbound(35, 'S T O P');
CALL pg_temp.inbound(36, 'please stop');
CALL pg_temp.inbound(37, 'CANCEL my order');
CALL pg_temp.inbound(38, 'the end');
CALL pg_temp.inbound(39, 'توقف الآن');
CALL pg_temp.inbound(40, 'توقفوا');
CALL pg_temp.inbound(41, 'arrèt');
CALL pg_temp.inbound(42, 'ARRÉT');
CALL pg_temp.inbound(43, 'ＳＴＯＰ');
CALL pg_temp.inbound(44, 'ST0P');
CALL pg_temp.inbound(45, '');
CALL pg_temp.inbound(46, E' \n\t ');
CALL pg_temp.inbound(47, repeat(' ', 1000) || 'STOP' || repeat(' ', 1000));
CALL pg_temp.inbound(48, repeat('STOP ', 100));
CALL pg_temp.inbound(49, E'STOP\u200bSTOP');
--
-- opt-in: START UNSTOP YES ابدأ take the number off the list
--
CALL pg_temp.inbound(1, 'Start');
CALL pg_temp.inbound(2, 'unstop');
CALL pg_temp.inbound(3, 'yes');
CALL pg_temp.inbound(19, 'ابدأ');
CALL pg_temp.inbound(4, ' YES ');
-- a number that was not opted out gets the reply too
CALL pg_temp.inbound(50, 'START');
CALL pg_temp.inbound(5, 'yes please');
CALL pg_temp.inbound(6, 'started');
CALL pg_temp.inbound(7, 'ابدا');
--
-- help: HELP INFO AIDE مساعدة change nothing
--
CALL pg_temp.inbound(51, 'HELP');
CALL pg_temp.inbound(52, 'help');
CALL pg_temp.inbound(53, 'info');
CALL pg_temp.inbound(54, 'aide');
CALL pg_temp.inbound(55, 'مساعدة');
CALL pg_temp.inbound(8, 'Help');
CALL pg_temp.inbound(56, 'help me');
CALL pg_temp.inbound(57, 'information');
--
-- the list after all that, and what a repeated STOP does
--
SELECT phone_number, source FROM bar9.list_opt_outs(:'acct', 100);
CALL pg_temp.inbound(9, 'STOP');
SELECT phone_number, source, created_at = (SELECT created_at FROM bar9.list_opt_outs(:'acct', 100) WHERE phone_number OPERATOR(bar9.=) '+213666100009') AS kept FROM bar9.list_opt_outs(:'acct', 100) WHERE phone_number OPERATOR(bar9.=) '+213666100009';
-- an opt-out made through the API keeps its source when STOP arrives
SELECT phone_number, source, created FROM bar9.add_opt_out(:'acct', '+213666100060');
CALL pg_temp.inbound(60, 'stop');
SELECT phone_number, source FROM bar9.list_opt_outs(:'acct', 1, '+213666100059');
--
-- match_keyword classifies without changing anything
--
SELECT b AS body, bar9.match_keyword(b) FROM unnest(ARRAY['stop', 'STOPALL', 'Arrêt', 'توقف', 'start', 'ابدأ', 'aide', 'مساعدة', 'stop it', 'STOP.', '']) AS b;
SELECT bar9.match_keyword(NULL);
SELECT count(*) FROM bar9.opt_outs WHERE account_id = :'acct';
--
-- per-account replies; NULL means the default
--
SELECT * FROM bar9.keyword_replies(:'acct');
SELECT bar9.set_keyword_replies(:'acct', 'Vous êtes désinscrit. / تم إلغاء اشتراكك', NULL, 'Acme: reply STOP to opt out.');
SELECT * FROM bar9.keyword_replies(:'acct');
CALL pg_temp.inbound(70, 'arrêt');
CALL pg_temp.inbound(70, 'start');
CALL pg_temp.inbound(70, 'info');
-- another account keeps the defaults
SELECT * FROM bar9.keyword_replies(:'acct_b');
SELECT bar9.receive_sms(:'acct_b', '+213666100070', 'stop');
-- all three set, then back to the defaults
SELECT bar9.set_keyword_replies(:'acct', 'Bye.', 'Welcome back.', 'Call us.');
SELECT * FROM bar9.keyword_replies(:'acct');
SELECT bar9.set_keyword_replies(:'acct', NULL, NULL, NULL);
SELECT * FROM bar9.keyword_replies(:'acct');
-- 1600 characters is the most
SELECT bar9.set_keyword_replies(:'acct', repeat('é', 1600), NULL, NULL);
SELECT length(opt_out) FROM bar9.keyword_replies(:'acct');
SELECT bar9.set_keyword_replies(:'acct', repeat('é', 1601), NULL, NULL);
SELECT bar9.set_keyword_replies(:'acct', NULL, '', NULL);
SELECT bar9.set_keyword_replies(:'acct', NULL, NULL, E' \n ');
SELECT bar9.set_keyword_replies(:'acct', NULL, NULL, E'\u00a0\u200f');
SELECT bar9.set_keyword_replies(NULL, 'x', 'y', 'z');
SELECT bar9.set_keyword_replies('acct_nope', 'x', 'y', 'z');
SELECT length(opt_out) FROM bar9.keyword_replies(:'acct');
--
-- unknown account: an error whatever the body; NULL arguments: NULL
--
SELECT bar9.receive_sms('acct_nope', '+213666100001', 'STOP');
SELECT bar9.receive_sms('acct_nope', '+213666100001', 'hello');
SELECT * FROM bar9.keyword_replies('acct_nope');
SELECT bar9.receive_sms(:'acct', '+213666100001', NULL);
SELECT bar9.receive_sms(:'acct', NULL, 'STOP');
SELECT bar9.receive_sms(current_setting('test.acct'), '+213 666 100 001', 'STOP');
