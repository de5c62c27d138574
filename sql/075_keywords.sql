--
-- Inbound keywords: bar9.receive_sms, bar9.match_keyword and the replies.
--
-- Rule (src/keywords.h): the WHOLE body, trimmed of Unicode white space and
-- invisible format marks, in NFC, ASCII case-folded plus ê/Ê, is compared
-- with the keyword lists; anything around the keyword ("STOP.", "stop by our
-- shop") makes it an ordinary message: no reply, no change.
--
-- inbound(n, body): the reply to a body from +2136661 followed by n on five
-- digits, and whether that number is on the opt-out list afterwards.
SELECT bar9.create_account('Keywords') AS acct \gset
SELECT bar9.create_account('Keywords B') AS acct_b \gset
CREATE FUNCTION pg_temp.inbound(n int, body text) RETURNS TABLE (reply text, opted_out boolean) LANGUAGE plpgsql AS $$ DECLARE num bar9.e164 := ('+2136661' || lpad(n::text, 5, '0'))::bar9.e164; r text; BEGIN r := bar9.receive_sms(current_setting('test.acct'), num, body); RETURN QUERY SELECT r, bar9.is_opted_out(current_setting('test.acct'), num); END $$;
SELECT set_config('test.acct', :'acct', false) IS NOT NULL AS set;
--
-- opt-out keywords, in their forms
--
SELECT * FROM pg_temp.inbound(1, 'stop');
SELECT * FROM pg_temp.inbound(2, 'STOP');
SELECT * FROM pg_temp.inbound(3, ' Stop ');
SELECT * FROM pg_temp.inbound(4, E'STOP\n');
SELECT * FROM pg_temp.inbound(5, E'\t sToP \r\n');
SELECT * FROM pg_temp.inbound(6, 'stopall');
SELECT * FROM pg_temp.inbound(7, 'unsubscribe');
SELECT * FROM pg_temp.inbound(8, 'cancel');
SELECT * FROM pg_temp.inbound(9, 'end');
SELECT * FROM pg_temp.inbound(10, 'QUIT');
SELECT * FROM pg_temp.inbound(11, 'optout');
SELECT * FROM pg_temp.inbound(12, 'revoke');
SELECT * FROM pg_temp.inbound(13, 'ARRET');
SELECT * FROM pg_temp.inbound(14, 'arret');
SELECT * FROM pg_temp.inbound(15, 'ARRÊT');
SELECT * FROM pg_temp.inbound(16, 'arrêt');
SELECT * FROM pg_temp.inbound(17, 'Arrêt');
-- "ê" written as e + COMBINING CIRCUMFLEX ACCENT (NFD), as some phones send it
SELECT * FROM pg_temp.inbound(18, E'arre\u0302t');
SELECT * FROM pg_temp.inbound(19, 'توقف');
SELECT * FROM pg_temp.inbound(20, ' توقف ');
-- no-break space, right-to-left marks and an ideographic space around it
SELECT * FROM pg_temp.inbound(21, E'\u00a0\u200fتوقف\u200f\u3000');
SELECT * FROM pg_temp.inbound(22, 'إلغاء');
SELECT * FROM pg_temp.inbound(23, 'الغاء');
-- إ written as alef + ARABIC HAMZA BELOW (NFD)
SELECT * FROM pg_temp.inbound(24, E'\u0627\u0655\u0644\u063a\u0627\u0621');
--
-- near misses: the keyword is not the whole body, or not the keyword
--
SELECT * FROM pg_temp.inbound(30, 'stop by our shop');
SELECT * FROM pg_temp.inbound(31, 'stopp');
SELECT * FROM pg_temp.inbound(32, 'STOP.');
SELECT * FROM pg_temp.inbound(33, 'STOP!');
SELECT * FROM pg_temp.inbound(34, '"STOP"');
SELECT * FROM pg_temp.inbound(35, 'S T O P');
SELECT * FROM pg_temp.inbound(36, 'please stop');
SELECT * FROM pg_temp.inbound(37, 'CANCEL my order');
SELECT * FROM pg_temp.inbound(38, 'the end');
SELECT * FROM pg_temp.inbound(39, 'توقف الآن');
SELECT * FROM pg_temp.inbound(40, 'توقفوا');
SELECT * FROM pg_temp.inbound(41, 'arrèt');
SELECT * FROM pg_temp.inbound(42, 'ARRÉT');
SELECT * FROM pg_temp.inbound(43, 'ＳＴＯＰ');
SELECT * FROM pg_temp.inbound(44, 'ST0P');
SELECT * FROM pg_temp.inbound(45, '');
SELECT * FROM pg_temp.inbound(46, E' \n\t ');
SELECT * FROM pg_temp.inbound(47, repeat(' ', 1000) || 'STOP' || repeat(' ', 1000));
SELECT * FROM pg_temp.inbound(48, repeat('STOP ', 100));
SELECT * FROM pg_temp.inbound(49, E'STOP\u200bSTOP');
--
-- opt-in: START UNSTOP YES ابدأ take the number off the list
--
SELECT * FROM pg_temp.inbound(1, 'Start');
SELECT * FROM pg_temp.inbound(2, 'unstop');
SELECT * FROM pg_temp.inbound(3, 'yes');
SELECT * FROM pg_temp.inbound(19, 'ابدأ');
SELECT * FROM pg_temp.inbound(4, ' YES ');
-- a number that was not opted out gets the reply too
SELECT * FROM pg_temp.inbound(50, 'START');
SELECT * FROM pg_temp.inbound(5, 'yes please');
SELECT * FROM pg_temp.inbound(6, 'started');
SELECT * FROM pg_temp.inbound(7, 'ابدا');
--
-- help: HELP INFO AIDE مساعدة change nothing
--
SELECT * FROM pg_temp.inbound(51, 'HELP');
SELECT * FROM pg_temp.inbound(52, 'help');
SELECT * FROM pg_temp.inbound(53, 'info');
SELECT * FROM pg_temp.inbound(54, 'aide');
SELECT * FROM pg_temp.inbound(55, 'مساعدة');
SELECT * FROM pg_temp.inbound(8, 'Help');
SELECT * FROM pg_temp.inbound(56, 'help me');
SELECT * FROM pg_temp.inbound(57, 'information');
--
-- the list after all that, and what a repeated STOP does
--
SELECT phone_number, source FROM bar9.list_opt_outs(:'acct', 100);
SELECT * FROM pg_temp.inbound(9, 'STOP');
SELECT phone_number, source, created_at = (SELECT created_at FROM bar9.list_opt_outs(:'acct', 100) WHERE phone_number OPERATOR(bar9.=) '+213666100009') AS kept FROM bar9.list_opt_outs(:'acct', 100) WHERE phone_number OPERATOR(bar9.=) '+213666100009';
-- an opt-out made through the API keeps its source when STOP arrives
SELECT phone_number, source, created FROM bar9.add_opt_out(:'acct', '+213666100060');
SELECT * FROM pg_temp.inbound(60, 'stop');
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
SELECT * FROM pg_temp.inbound(70, 'arrêt');
SELECT * FROM pg_temp.inbound(70, 'start');
SELECT * FROM pg_temp.inbound(70, 'info');
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
