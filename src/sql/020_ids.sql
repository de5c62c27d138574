
-- ---------------------------------------------------------------------------
-- Identifiers (src/ids.c)
-- ---------------------------------------------------------------------------

-- A new unguessable id: prefix plus 22 random base-62 characters.
CREATE FUNCTION new_id(prefix text) RETURNS text
	AS 'MODULE_PATHNAME', 'bar9_new_id_sql'
	LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION new_id(text) IS
	'a new unguessable id: the prefix followed by 22 random base-62 characters';
