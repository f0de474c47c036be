-- FerretDB 1.24 on PostgreSQL filters an equality as `_jsonb -> 'field' @> value` (also for
-- `_id`), but the indexes it creates are btree indexes on `(_jsonb -> 'field')`, which `@>`
-- cannot use: every find, update or delete by `_id` reads the whole table (743 ms for one
-- delivery commit among 30,000 here; 0.15 ms with a GIN index). So every btree index FerretDB
-- creates on `_jsonb -> ...` gets a GIN "twin" on the same expression, which the planner uses
-- for those `@>` filters. Applied by infra/stack.sh to FerretDB's database on every start:
-- idempotent, and it gives existing tables their twins too. docs/architecture.md explains it.

CREATE OR REPLACE FUNCTION smartcity_gin_twins(idx regclass) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  tbl regclass;
  method text;
  name text;
  columns integer;
  expr text;
  made integer := 0;
BEGIN
  SELECT i.indrelid::regclass, a.amname, c.relname, i.indnatts
    INTO tbl, method, name, columns
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_am a ON a.oid = c.relam
   WHERE i.indexrelid = idx;
  IF method IS DISTINCT FROM 'btree' THEN
    RETURN 0;  -- a twin itself, or not an index of FerretDB's
  END IF;
  FOR k IN 1..columns LOOP
    expr := pg_get_indexdef(idx, k, true);
    IF expr ~ '^\(?_jsonb (->|#>) ' THEN
      EXECUTE format(
        'CREATE INDEX IF NOT EXISTS %I ON %s USING gin ((%s) jsonb_path_ops)',
        left(name, 54) || '_gin' || k, tbl, expr
      );
      made := made + 1;
    END IF;
  END LOOP;
  RETURN made;
END $$;

CREATE OR REPLACE FUNCTION smartcity_on_create_index() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT objid FROM pg_event_trigger_ddl_commands()
            WHERE command_tag = 'CREATE INDEX' AND object_type = 'index'
  LOOP
    PERFORM smartcity_gin_twins(r.objid::regclass);
  END LOOP;
END $$;

DROP EVENT TRIGGER IF EXISTS smartcity_gin_twins;
CREATE EVENT TRIGGER smartcity_gin_twins ON ddl_command_end
  WHEN TAG IN ('CREATE INDEX')
  EXECUTE FUNCTION smartcity_on_create_index();

-- The tables that exist already.
SELECT coalesce(sum(smartcity_gin_twins(i.indexrelid::regclass)), 0) AS twins
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast');
