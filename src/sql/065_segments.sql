-- ---------------------------------------------------------------------------
-- SMS encoding and segments (src/segments.c)
-- ---------------------------------------------------------------------------

-- 'GSM-7' if every character is in the GSM 03.38 alphabet, else 'UCS-2'.
CREATE FUNCTION sms_encoding(body text) RETURNS text
	AS 'MODULE_PATHNAME', 'bar9_sms_encoding'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sms_encoding(text) IS
	'GSM-7 when every character is in the GSM 03.38 default alphabet or its extension table, else UCS-2';

-- Number of SMS parts the body is sent as (0 for an empty body).
CREATE FUNCTION sms_segments(body text) RETURNS integer
	AS 'MODULE_PATHNAME', 'bar9_sms_segments'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sms_segments(text) IS
	'SMS parts of the body: GSM-7 160 septets whole or 153 per part, UCS-2 70 UTF-16 units whole or 67 per part; escape and surrogate pairs never split';

-- Encoding, parts and units (septets for GSM-7, UTF-16 units for UCS-2).
CREATE FUNCTION sms_measure(body text, OUT encoding text, OUT segments integer,
							OUT units integer)
	AS 'MODULE_PATHNAME', 'bar9_sms_measure_row'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sms_measure(text) IS
	'encoding (GSM-7 or UCS-2), SMS parts, and units (septets for GSM-7, UTF-16 code units for UCS-2) of the body';
