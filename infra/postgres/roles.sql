-- The store's roles and what each may do, in FerretDB's database `ferretdb` (each MongoDB
-- database is a schema there, each collection a table). infra/stack.sh runs this as the
-- superuser on every start of PostgreSQL (idempotent), with each role's password from
-- .local/store/credentials in a psql variable (pw_<role>, dashes as underscores).
--
-- FerretDB 1.24 authorises nothing itself: a client logs in with PLAIN and FerretDB runs its
-- commands as the PostgreSQL role of that name, so PostgreSQL's rights are the store's rights.
--   svc-<service>  owns its service's schema (and what is in it); may create a schema (a test
--                  namespace's database); may not use any other role's schema.
--   admin          the operators (tests, chaos, the restore drill's counts, reset-local): a
--                  member of every service's role, so it may read and write every service's
--                  database; not a superuser.
--   ferretdb       FerretDB's own role (its --postgresql-url): loads every database's metadata
--                  at start; a member of admin. infra/ferretdb/store-auth.patch keeps clients
--                  that have not logged in from ever running as it.
--   storewatch     the watchdog's ping: may connect, may use nothing.
-- docs/security.md, "The local stores", has the same as a table.

SELECT format('CREATE ROLE %I LOGIN', r)
  FROM unnest(ARRAY['ferretdb', 'admin', 'storewatch', 'svc-proposals', 'svc-approvals',
                    'svc-notifications', 'svc-console']) AS r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)
\gexec

ALTER ROLE ferretdb LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'pw_ferretdb';
ALTER ROLE admin LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'pw_admin';
ALTER ROLE storewatch LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'pw_storewatch';
ALTER ROLE "svc-proposals" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'pw_svc_proposals';
ALTER ROLE "svc-approvals" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'pw_svc_approvals';
ALTER ROLE "svc-notifications" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'pw_svc_notifications';
ALTER ROLE "svc-console" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'pw_svc_console';

-- Only the store's roles connect; the services and the operators may create schemas.
REVOKE ALL ON DATABASE ferretdb FROM PUBLIC;
REVOKE ALL ON DATABASE postgres FROM PUBLIC;
REVOKE ALL ON DATABASE template1 FROM PUBLIC;
GRANT CONNECT ON DATABASE ferretdb
  TO ferretdb, admin, storewatch, "svc-proposals", "svc-approvals", "svc-notifications", "svc-console";
GRANT CREATE ON DATABASE ferretdb
  TO admin, "svc-proposals", "svc-approvals", "svc-notifications", "svc-console";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

GRANT "svc-proposals", "svc-approvals", "svc-notifications", "svc-console" TO admin;
GRANT admin TO ferretdb;

-- Each service's database (its default MONGO_DB) exists from the start, owned by its role, so
-- that no other role can take the name first; a store made before the roles existed (everything
-- the superuser's) is handed over, tables and all.
CREATE TEMPORARY TABLE smartcity_owners (schema_name name, owner name);
INSERT INTO smartcity_owners VALUES
  ('smartcity_proposals', 'svc-proposals'), ('smartcity_approvals', 'svc-approvals'),
  ('smartcity_notifications', 'svc-notifications'), ('smartcity_console', 'svc-console');

SELECT format('CREATE SCHEMA %I AUTHORIZATION %I', schema_name, owner)
  FROM smartcity_owners
 WHERE NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = schema_name)
\gexec

SELECT format('ALTER SCHEMA %I OWNER TO %I', o.schema_name, o.owner)
  FROM smartcity_owners o JOIN pg_namespace n ON n.nspname = o.schema_name
 WHERE pg_get_userbyid(n.nspowner) <> o.owner
\gexec

SELECT format('ALTER TABLE %I.%I OWNER TO %I', t.schemaname, t.tablename, o.owner)
  FROM smartcity_owners o JOIN pg_tables t ON t.schemaname = o.schema_name
 WHERE t.tableowner <> o.owner
\gexec

-- A table is its schema's owner's, whoever created it: the operators (members of the services'
-- roles) may add a collection to a service's database, and the service must still own it.
CREATE OR REPLACE FUNCTION smartcity_table_owner() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS tbl, pg_get_userbyid(n.nspowner) AS owner
             FROM pg_event_trigger_ddl_commands() d
             JOIN pg_class c ON c.oid = d.objid
             JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE d.command_tag = 'CREATE TABLE' AND d.object_type = 'table'
              AND c.relowner <> n.nspowner
  LOOP
    EXECUTE format('ALTER TABLE %s OWNER TO %I', r.tbl, r.owner);
  END LOOP;
END $$;

DROP EVENT TRIGGER IF EXISTS smartcity_table_owner;
CREATE EVENT TRIGGER smartcity_table_owner ON ddl_command_end
  WHEN TAG IN ('CREATE TABLE')
  EXECUTE FUNCTION smartcity_table_owner();

-- A database named after a service (`smartcity_proposals`, a test namespace's
-- `t<run>_proposals`) is that service's, whoever created it: an operator (a member of every
-- service's role) may create one before the service first uses it. Another service cannot
-- hand a schema to a role it is not a member of, so its own schemas stay its own.
CREATE OR REPLACE FUNCTION smartcity_schema_owner() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT n.nspname, 'svc-' || substring(n.nspname FROM '_([a-z]+)$') AS owner
             FROM pg_event_trigger_ddl_commands() d
             JOIN pg_namespace n ON n.oid = d.objid
            WHERE d.command_tag = 'CREATE SCHEMA'
  LOOP
    IF r.owner IN ('svc-proposals', 'svc-approvals', 'svc-notifications', 'svc-console')
       AND pg_has_role(current_user, r.owner, 'MEMBER')
       AND (SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = r.nspname) <> r.owner
    THEN
      EXECUTE format('ALTER SCHEMA %I OWNER TO %I', r.nspname, r.owner);
    END IF;
  END LOOP;
END $$;

DROP EVENT TRIGGER IF EXISTS smartcity_schema_owner;
CREATE EVENT TRIGGER smartcity_schema_owner ON ddl_command_end
  WHEN TAG IN ('CREATE SCHEMA')
  EXECUTE FUNCTION smartcity_schema_owner();
