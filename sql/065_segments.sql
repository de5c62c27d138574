-- SMS encoding and segments: bar9.sms_measure, bar9.sms_encoding, bar9.sms_segments.
-- Each case carries its expected (encoding, segments, units), worked out by
-- hand from 3GPP TS 23.038 / 23.040 as docs/api.md states them: GSM-7 160 septets
-- whole or 153 per part, extension characters 2 septets, an escape pair never
-- split; UCS-2 70 UTF-16 units whole or 67 per part, a character outside the
-- BMP 2 units, a surrogate pair never split.
CREATE TEMP TABLE sms_case (n int PRIMARY KEY, label text, body text, enc text, segs int, units int);
-- GSM-7, basic table only
INSERT INTO sms_case VALUES (1, 'empty', '', 'GSM-7', 0, 0);
INSERT INTO sms_case VALUES (2, 'Hello', 'Hello', 'GSM-7', 1, 5);
INSERT INTO sms_case VALUES (3, '$5 @home', '$5 @home', 'GSM-7', 1, 8);
INSERT INTO sms_case VALUES (4, '160 a', repeat('a', 160), 'GSM-7', 1, 160);
INSERT INTO sms_case VALUES (5, '161 a', repeat('a', 161), 'GSM-7', 2, 161);
INSERT INTO sms_case VALUES (6, '306 a = 153x2', repeat('a', 306), 'GSM-7', 2, 306);
INSERT INTO sms_case VALUES (7, '307 a = 153x2+1', repeat('a', 307), 'GSM-7', 3, 307);
INSERT INTO sms_case VALUES (8, '459 a = 153x3', repeat('a', 459), 'GSM-7', 3, 459);
INSERT INTO sms_case VALUES (9, '460 a = 153x3+1', repeat('a', 460), 'GSM-7', 4, 460);
INSERT INTO sms_case VALUES (10, 'whole basic table but ESC', '@£$¥èéùìòÇ' || E'\n' || 'Øø' || E'\r' || 'ÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&''()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà', 'GSM-7', 1, 127);
INSERT INTO sms_case VALUES (11, 'Greek capitals', 'ΔΦΓΛΩΠΨΣΘΞ', 'GSM-7', 1, 10);
INSERT INTO sms_case VALUES (12, 'newline', E'line1\nline2', 'GSM-7', 1, 11);
INSERT INTO sms_case VALUES (13, 'French in GSM: é è à ù Ç', 'déjà vu où Ça très', 'GSM-7', 1, 18);
INSERT INTO sms_case VALUES (14, '160 é', repeat('é', 160), 'GSM-7', 1, 160);
INSERT INTO sms_case VALUES (15, '161 é', repeat('é', 161), 'GSM-7', 2, 161);
-- GSM-7 with the extension table (2 septets each)
INSERT INTO sms_case VALUES (16, 'whole extension table', E'\f' || '^{}\[~]|€', 'GSM-7', 1, 20);
INSERT INTO sms_case VALUES (17, '158 a + €', repeat('a', 158) || '€', 'GSM-7', 1, 160);
INSERT INTO sms_case VALUES (18, '159 a + €', repeat('a', 159) || '€', 'GSM-7', 2, 161);
INSERT INTO sms_case VALUES (19, '158 a + |', repeat('a', 158) || '|', 'GSM-7', 1, 160);
INSERT INTO sms_case VALUES (20, '152 a + € + 10 a', repeat('a', 152) || '€' || repeat('a', 10), 'GSM-7', 2, 164);
INSERT INTO sms_case VALUES (21, '152 a + € + 152 a', repeat('a', 152) || '€' || repeat('a', 152), 'GSM-7', 3, 306);
INSERT INTO sms_case VALUES (22, '151 a + € + 153 a', repeat('a', 151) || '€' || repeat('a', 153), 'GSM-7', 2, 306);
INSERT INTO sms_case VALUES (23, '153 a + € = 155: still one SMS', repeat('a', 153) || '€', 'GSM-7', 1, 155);
INSERT INTO sms_case VALUES (24, '152 a + [ + 152 a', repeat('a', 152) || '[' || repeat('a', 152), 'GSM-7', 3, 306);
INSERT INTO sms_case VALUES (25, '152 a + form feed + 152 a', repeat('a', 152) || E'\f' || repeat('a', 152), 'GSM-7', 3, 306);
INSERT INTO sms_case VALUES (26, '305 a + €', repeat('a', 305) || '€', 'GSM-7', 3, 307);
INSERT INTO sms_case VALUES (27, '80 €', repeat('€', 80), 'GSM-7', 1, 160);
INSERT INTO sms_case VALUES (28, '81 €', repeat('€', 81), 'GSM-7', 2, 162);
INSERT INTO sms_case VALUES (29, '153 € (76 per part)', repeat('€', 153), 'GSM-7', 3, 306);
-- UCS-2: one character outside GSM-7 is enough
INSERT INTO sms_case VALUES (30, 'tab', E'a\tb', 'UCS-2', 1, 3);
INSERT INTO sms_case VALUES (31, 'grave accent', '`', 'UCS-2', 1, 1);
INSERT INTO sms_case VALUES (32, 'ESC itself', E'\x1b', 'UCS-2', 1, 1);
INSERT INTO sms_case VALUES (33, 'ç lower case', 'garçon', 'UCS-2', 1, 6);
INSERT INTO sms_case VALUES (34, 'Ç upper case', 'GARÇON', 'GSM-7', 1, 6);
INSERT INTO sms_case VALUES (35, 'ê', 'fête', 'UCS-2', 1, 4);
INSERT INTO sms_case VALUES (36, 'â', 'âge', 'UCS-2', 1, 3);
INSERT INTO sms_case VALUES (37, 'î', 'île', 'UCS-2', 1, 3);
INSERT INTO sms_case VALUES (38, 'ô', 'hôtel', 'UCS-2', 1, 5);
INSERT INTO sms_case VALUES (39, 'ï', 'naïve', 'UCS-2', 1, 5);
INSERT INTO sms_case VALUES (40, 'û', 'Crème brûlée', 'UCS-2', 1, 12);
INSERT INTO sms_case VALUES (41, 'Greek small letters', 'αβγ', 'UCS-2', 1, 3);
INSERT INTO sms_case VALUES (42, 'Greek capital alpha U+0391', 'Α', 'UCS-2', 1, 1);
INSERT INTO sms_case VALUES (43, 'typographic apostrophe', 'It’s', 'UCS-2', 1, 4);
INSERT INTO sms_case VALUES (44, 'e + combining acute', 'e' || U&'\0301', 'UCS-2', 1, 2);
INSERT INTO sms_case VALUES (45, 'Arabic', 'مرحبا', 'UCS-2', 1, 5);
INSERT INTO sms_case VALUES (46, 'Latin + Arabic', 'Promo -50% مرحبا', 'UCS-2', 1, 16);
INSERT INTO sms_case VALUES (47, 'CJK', '你好', 'UCS-2', 1, 2);
INSERT INTO sms_case VALUES (48, '70 Arabic', repeat('م', 70), 'UCS-2', 1, 70);
INSERT INTO sms_case VALUES (49, '71 Arabic', repeat('م', 71), 'UCS-2', 2, 71);
INSERT INTO sms_case VALUES (50, '134 Arabic = 67x2', repeat('م', 134), 'UCS-2', 2, 134);
INSERT INTO sms_case VALUES (51, '135 Arabic = 67x2+1', repeat('م', 135), 'UCS-2', 3, 135);
INSERT INTO sms_case VALUES (52, '201 Arabic = 67x3', repeat('م', 201), 'UCS-2', 3, 201);
INSERT INTO sms_case VALUES (53, '202 Arabic = 67x3+1', repeat('م', 202), 'UCS-2', 4, 202);
INSERT INTO sms_case VALUES (54, '159 a + ç', repeat('a', 159) || 'ç', 'UCS-2', 3, 160);
INSERT INTO sms_case VALUES (55, '161 é + ê', repeat('é', 161) || 'ê', 'UCS-2', 3, 162);
-- UCS-2 outside the BMP: 2 units, a surrogate pair never split
INSERT INTO sms_case VALUES (56, 'emoji', '😀', 'UCS-2', 1, 2);
INSERT INTO sms_case VALUES (57, 'Hi + emoji', 'Hi 😀', 'UCS-2', 1, 5);
INSERT INTO sms_case VALUES (58, 'family: 3 emoji + 2 ZWJ', '👨‍👩‍👧', 'UCS-2', 1, 8);
INSERT INTO sms_case VALUES (59, 'flag: 2 regional indicators', '🇩🇿', 'UCS-2', 1, 4);
INSERT INTO sms_case VALUES (60, '35 emoji', repeat('😀', 35), 'UCS-2', 1, 70);
INSERT INTO sms_case VALUES (61, '36 emoji (33 per part)', repeat('😀', 36), 'UCS-2', 2, 72);
INSERT INTO sms_case VALUES (62, '67 emoji', repeat('😀', 67), 'UCS-2', 3, 134);
INSERT INTO sms_case VALUES (63, '68 Arabic + emoji', repeat('م', 68) || '😀', 'UCS-2', 1, 70);
INSERT INTO sms_case VALUES (64, '69 Arabic + emoji', repeat('م', 69) || '😀', 'UCS-2', 2, 71);
INSERT INTO sms_case VALUES (65, '66 Arabic + emoji + 10 Arabic', repeat('م', 66) || '😀' || repeat('م', 10), 'UCS-2', 2, 78);
INSERT INTO sms_case VALUES (66, '66 Arabic + emoji + 66 Arabic', repeat('م', 66) || '😀' || repeat('م', 66), 'UCS-2', 3, 134);
INSERT INTO sms_case VALUES (67, '67 Arabic + emoji + 65 Arabic', repeat('م', 67) || '😀' || repeat('م', 65), 'UCS-2', 2, 134);
-- 1600 characters, the longest body docs/api.md allows
INSERT INTO sms_case VALUES (68, '1600 a', repeat('a', 1600), 'GSM-7', 11, 1600);
INSERT INTO sms_case VALUES (69, '1600 €', repeat('€', 1600), 'GSM-7', 22, 3200);
INSERT INTO sms_case VALUES (70, '1600 Arabic', repeat('م', 1600), 'UCS-2', 24, 1600);
INSERT INTO sms_case VALUES (71, '1600 emoji', repeat('😀', 1600), 'UCS-2', 49, 3200);
-- computed against expected; ok must be true on every row
SELECT n, label, length(body) AS chars, m.encoding, m.segments, m.units, (m.encoding, m.segments, m.units) = (c.enc, c.segs, c.units) AS ok FROM sms_case c, bar9.sms_measure(c.body) m ORDER BY n;
-- the two single-value functions agree with sms_measure (no rows)
SELECT n, label FROM sms_case WHERE bar9.sms_encoding(body) <> enc OR bar9.sms_segments(body) <> segs;
-- direct calls
SELECT bar9.sms_encoding('Big discount this weekend!'), bar9.sms_segments('Big discount this weekend!');
SELECT bar9.sms_encoding('تخفيضات كبيرة'), bar9.sms_segments('تخفيضات كبيرة');
SELECT * FROM bar9.sms_measure('Soldes -50% ce week-end ! Réponds STOP pour arrêter');
-- STRICT: NULL in, NULL out
SELECT bar9.sms_encoding(NULL) IS NULL AS enc_null, bar9.sms_segments(NULL) IS NULL AS segs_null, (bar9.sms_measure(NULL)).encoding IS NULL AS measure_null;
-- declared IMMUTABLE STRICT PARALLEL SAFE
SELECT p.proname, p.provolatile, p.proisstrict, p.proparallel, obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented FROM pg_proc p JOIN pg_namespace ns ON ns.oid = p.pronamespace WHERE ns.nspname = 'bar9' AND p.proname IN ('sms_encoding', 'sms_measure', 'sms_segments') ORDER BY p.proname;
DROP TABLE sms_case;
