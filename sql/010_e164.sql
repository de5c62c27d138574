-- bar9.e164: strict input, output, country codes, order, indexes, binary I/O
\set VERBOSITY default
-- the operators live in schema bar9, like the type; tables go to public
SET search_path = public, bar9;
-- valid numbers: input and output
SELECT '+213555123456'::e164;
SELECT '+12025550123'::e164;
SELECT '+33612345678'::e164;
SELECT '+447911123456'::e164;
SELECT '+79161234567'::e164;
SELECT '+12425551234'::e164;
SELECT '+4201234567'::e164;
SELECT '+8613800138000'::e164;
SELECT '+88213412345678'::e164;
SELECT '+80012345678'::e164;
SELECT '+97912345678'::e164;
-- 7 digits, the fewest allowed, and 15, the most
SELECT '+2901234'::e164;
SELECT '+123456789012345'::e164;
-- too short, too long
SELECT '+213555'::e164;
SELECT '+1234567890123456'::e164;
SELECT '+'::e164;
SELECT ''::e164;
-- no "+", letters, multiple "+", other characters
SELECT '213555123456'::e164;
SELECT '+21355512345a'::e164;
SELECT 'abc'::e164;
SELECT '++213555123456'::e164;
SELECT '+213+555123456'::e164;
SELECT '+213555123456#'::e164;
SELECT '+213555123456/7'::e164;
-- "+0...": no country calling code starts with 0
SELECT '+0213555123456'::e164;
SELECT '+00213555123456'::e164;
-- unassigned country calling codes
SELECT '+2105551234'::e164;
SELECT '+2805551234'::e164;
SELECT '+4225551234'::e164;
SELECT '+8015551234'::e164;
SELECT '+8795551234'::e164;
SELECT '+9995551234'::e164;
SELECT '+3845551234'::e164;
-- full-width characters
SELECT '＋２１３５５５１２３４５６'::e164;
SELECT '+２１３５５５１２３４５６'::e164;
SELECT '２１３'::e164;
-- spaces, dashes, dots, brackets, leading 00: the hint shows the E.164 form
SELECT '+213 555-123-456'::e164;
SELECT '+213-555-123-456'::e164;
SELECT '(+213) 555.123.456'::e164;
SELECT '00213555123456'::e164;
SELECT '00 213 555 123 456'::e164;
SELECT '+1 (202) 555-0123'::e164;
-- a bracketed trunk prefix (0) is left out of the hint, as it is not dialled from abroad
SELECT '+44 (0)20 7946 0958'::e164;
SELECT '0044 (0) 20 7946 0958'::e164;
-- leading and trailing white space: the hint shows the trimmed form
SELECT ' +213555123456'::e164;
SELECT '+213555123456 '::e164;
SELECT E'\t+213555123456\n'::e164;
-- dressed up but still not valid: no hint
SELECT '+213 555'::e164;
SELECT '00 280 555 1234'::e164;
SELECT '213 555 123 456'::e164;
-- the cast from text uses the same parser and gives the same errors
SELECT '+213555123456'::text::e164;
SELECT '+213 555 123 456'::text::e164;
SELECT CAST('+213555123456'::e164 AS text) || '!';
SELECT pg_typeof('+213555123456'::text::e164), pg_typeof('+213555123456'::e164::text);
-- e164_valid never raises
SELECT s, e164_valid(s) FROM unnest(ARRAY['+213555123456', '+12025550123', '+213 555 123 456', '00213555123456', '', '+', '+0123456789', '+2805551234', '+1234567890123456', '＋２１３５５５１２３４５６', 'hello', NULL]) AS s;
-- country calling codes of one, two and three digits
SELECT n, e164_country_code(n) FROM unnest(ARRAY['+12025550123', '+79161234567', '+33612345678', '+447911123456', '+213555123456', '+4201234567', '+88213412345678', '+97912345678']::e164[]) AS n;
-- order is the text's, digit by digit: +1... < +1242... < +213... < +33... < +44... < +7...
SELECT n FROM unnest(ARRAY['+79161234567', '+447911123456', '+33612345678', '+213555123456', '+12425551234', '+12025550123', '+2135551234', '+21355512345', '+4420712345678', '+971501234567', '+8613800138000']::e164[]) AS n ORDER BY n;
SELECT n FROM unnest(ARRAY['+79161234567', '+447911123456', '+33612345678', '+213555123456', '+12425551234', '+12025550123']::e164[]) AS n ORDER BY n DESC;
-- a shorter number sorts before a longer one it is a prefix of
SELECT '+2135551234'::e164 < '+21355512340'::e164, '+21355512340'::e164 < '+2135551235'::e164;
-- every operator
SELECT a, b, a = b AS eq, a <> b AS ne, a < b AS lt, a <= b AS le, a > b AS gt, a >= b AS ge FROM (VALUES ('+213555123456'::e164, '+213555123456'::e164), ('+213555123456', '+33612345678'), ('+33612345678', '+213555123456')) AS v(a, b);
-- the order agrees with the text's (byte order) for 20000 numbers of many codes and lengths
SELECT count(*), count(DISTINCT n), array_agg(n ORDER BY n)::text[] = array_agg(n::text ORDER BY n::text COLLATE "C") AS same_order FROM (SELECT ('+' || (ARRAY['1', '7', '20', '27', '33', '44', '49', '86', '213', '242', '420', '880', '971', '998'])[1 + g % 14] || left(lpad(abs(hashint4(g))::text, 10, '0') || lpad(abs(hashint4(-g))::text, 10, '0'), 6 + g % 7))::e164 AS n FROM generate_series(1, 20000) g) s;
-- and each pair compares as its text does
SELECT count(*) FROM (SELECT n AS a, lead(n) OVER (ORDER BY g) AS b FROM (SELECT g, ('+' || (ARRAY['1', '7', '213', '21', '2135', '9', '98', '998', '99'])[1 + g % 9] || left(lpad(abs(hashint4(g))::text, 10, '0') || '00000', 5 + g % 6))::text AS n FROM generate_series(1, 5000) g) s WHERE e164_valid(n)) p WHERE b IS NOT NULL AND ((a::e164 < b::e164) <> (a COLLATE "C" < b COLLATE "C") OR (a::e164 = b::e164) <> (a = b));
-- btree index
CREATE TABLE e164_t (id int, phone e164);
INSERT INTO e164_t SELECT g, ('+21355' || lpad(g::text, 7, '0'))::e164 FROM generate_series(1, 10000) g;
CREATE INDEX e164_t_phone ON e164_t (phone);
VACUUM ANALYZE e164_t;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM e164_t WHERE phone = '+213550004242';
SELECT id FROM e164_t WHERE phone = '+213550004242';
EXPLAIN (COSTS OFF) SELECT phone FROM e164_t WHERE phone >= '+213550009998' ORDER BY phone;
SELECT phone FROM e164_t WHERE phone >= '+213550009998' ORDER BY phone;
SELECT count(*) FROM e164_t WHERE phone < '+213550001000';
SELECT min(phone), max(phone) FROM e164_t;
EXPLAIN (COSTS OFF) SELECT max(phone) FROM e164_t;
-- hash index
DROP INDEX e164_t_phone;
CREATE INDEX e164_t_phone_hash ON e164_t USING hash (phone);
EXPLAIN (COSTS OFF) SELECT id FROM e164_t WHERE phone = '+213550004242';
SELECT id FROM e164_t WHERE phone = '+213550004242';
SELECT id FROM e164_t WHERE phone = '+213550010001';
RESET enable_seqscan;
RESET enable_bitmapscan;
-- hash join, merge join
CREATE TABLE e164_u (phone e164);
INSERT INTO e164_u SELECT ('+21355' || lpad((g * 3)::text, 7, '0'))::e164 FROM generate_series(1, 5000) g;
ANALYZE e164_u;
SET enable_mergejoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM e164_t t JOIN e164_u u ON t.phone = u.phone;
SELECT count(*) FROM e164_t t JOIN e164_u u ON t.phone = u.phone;
RESET enable_mergejoin;
SET enable_hashjoin = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM e164_t t JOIN e164_u u ON t.phone = u.phone;
SELECT count(*) FROM e164_t t JOIN e164_u u ON t.phone = u.phone;
RESET enable_hashjoin;
RESET enable_nestloop;
-- hash aggregate and the unique index
SELECT count(DISTINCT phone) FROM (SELECT phone FROM e164_t UNION ALL SELECT phone FROM e164_u) s;
CREATE UNIQUE INDEX e164_u_phone ON e164_u (phone);
INSERT INTO e164_u VALUES ('+213550000003');
-- hash functions: the extended hash with seed 0 agrees with the 32-bit one
SELECT count(*) FROM e164_t WHERE (e164_hash(phone) & x'ffffffff'::bigint) <> (e164_hash_extended(phone, 0) & x'ffffffff'::bigint);
SELECT count(*) FROM e164_t WHERE e164_hash_extended(phone, 0) = e164_hash_extended(phone, 1);
SELECT count(DISTINCT e164_hash(phone)) > 9990 FROM e164_t;
-- binary round trip through COPY, via files in this cluster's data directory
SELECT current_setting('data_directory') || '/bar9_e164_copy.bin' AS copy_file, current_setting('data_directory') || '/bar9_e164_bits.bin' AS bits_file \gset
COPY e164_t TO :'copy_file' (FORMAT binary);
CREATE TABLE e164_t2 (id int, phone e164);
COPY e164_t2 FROM :'copy_file' (FORMAT binary);
SELECT count(*) FROM e164_t t JOIN e164_t2 t2 USING (id) WHERE t.phone = t2.phone;
SELECT count(*) FROM e164_t2;
-- the binary form is the 8-byte encoding: the digits + 1 as nibbles, then the count
SELECT e164_send('+213555123456');
SELECT e164_send('+971501234567');
-- binary input is validated: an int8 written by COPY is read back as e164
CREATE TABLE e164_one (phone e164);
COPY (SELECT x'324666234567000c'::bigint) TO :'bits_file' (FORMAT binary);
COPY e164_one FROM :'bits_file' (FORMAT binary);
COPY (SELECT x'a82612345678000c'::bigint) TO :'bits_file' (FORMAT binary);
COPY e164_one FROM :'bits_file' (FORMAT binary);
SELECT phone FROM e164_one ORDER BY phone;
-- zero
COPY (SELECT 0::bigint) TO :'bits_file' (FORMAT binary);
COPY e164_one FROM :'bits_file' (FORMAT binary);
-- wrong digit count in the low nibble
COPY (SELECT x'324666234567000b'::bigint) TO :'bits_file' (FORMAT binary);
COPY e164_one FROM :'bits_file' (FORMAT binary);
-- a nibble that is no digit
COPY (SELECT x'32466623456b000c'::bigint) TO :'bits_file' (FORMAT binary);
COPY e164_one FROM :'bits_file' (FORMAT binary);
-- a digit after the end of the number
COPY (SELECT x'324666234567010d'::bigint) TO :'bits_file' (FORMAT binary);
COPY e164_one FROM :'bits_file' (FORMAT binary);
-- a leading zero digit
COPY (SELECT x'132466623456700d'::bigint) TO :'bits_file' (FORMAT binary);
COPY e164_one FROM :'bits_file' (FORMAT binary);
-- well formed, but +280 is not assigned
COPY (SELECT x'391666234500000a'::bigint) TO :'bits_file' (FORMAT binary);
COPY e164_one FROM :'bits_file' (FORMAT binary);
-- four bytes where eight are due
COPY (SELECT 1::int) TO :'bits_file' (FORMAT binary);
COPY e164_one FROM :'bits_file' (FORMAT binary);
SELECT phone FROM e164_one ORDER BY phone;
-- assignment casts: text into an e164 column, e164 into a text column
INSERT INTO e164_one SELECT '+33612345678'::text;
INSERT INTO e164_one SELECT ' +33612345678'::text;
CREATE TABLE e164_txt (t text);
INSERT INTO e164_txt SELECT phone FROM e164_one;
SELECT t FROM e164_txt ORDER BY t COLLATE "C";
SELECT NULL::e164 IS NULL, e164_country_code(NULL), e164_valid(NULL);
-- the type is 8 bytes, by value
SELECT typlen, typbyval, typalign FROM pg_type WHERE oid = 'e164'::regtype;
SELECT pg_column_size('+213555123456'::e164), pg_column_size('+213555123456'::text);
DROP TABLE e164_t, e164_t2, e164_u, e164_one, e164_txt;
