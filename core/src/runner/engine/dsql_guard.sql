-- tablewright DSQL guard: makes a PostgreSQL database reject what Aurora DSQL rejects, so
-- that a runner (or hand-written SQL) that breaks a DSQL rule fails under test exactly as
-- it would fail on DSQL, with DSQL's SQLSTATEs (0A000 unsupported, 54000 limit).
--
-- Install as a superuser into a test database; run the code under test as a role that is
-- NOT a superuser (superusers bypass the revoked advisory-lock functions).
--
-- Enforced:
--   * at most one DDL statement per transaction (GRANT/REVOKE included);
--   * never DDL and DML in the same transaction;
--   * at most 3,000 changed rows per transaction;
--   * no advisory locks, no TRUNCATE;
--   * no ALTER COLUMN .. TYPE, SET NOT NULL, ADD COLUMN with a constraint or default,
--     ADD UNIQUE / PRIMARY KEY, ADD CONSTRAINT without NOT VALID, SERIAL types,
--     CREATE INDEX CONCURRENTLY, ALTER INDEX;
--   * no CREATE TYPE / EXTENSION / TRIGGER / POLICY / MATERIALIZED VIEW / RULE.
-- Not enforced: the 10 MiB and 5 minute transaction limits, the 60 minute connection limit,
-- SAVEPOINT and session SET (PostgreSQL fires no trigger for them).

CREATE SCHEMA IF NOT EXISTS dsql_guard;
GRANT USAGE ON SCHEMA dsql_guard TO PUBLIC;

-- Advisory locks do not exist on DSQL. (Before the event triggers below: once they exist,
-- each further DDL of this script, sent as one transaction, would count against the rule.)
REVOKE EXECUTE ON FUNCTION
    pg_advisory_lock(bigint), pg_advisory_lock(integer, integer),
    pg_try_advisory_lock(bigint), pg_try_advisory_lock(integer, integer),
    pg_advisory_xact_lock(bigint), pg_advisory_xact_lock(integer, integer),
    pg_try_advisory_xact_lock(bigint), pg_try_advisory_xact_lock(integer, integer),
    pg_advisory_lock_shared(bigint), pg_try_advisory_lock_shared(bigint),
    pg_advisory_unlock(bigint), pg_advisory_unlock(integer, integer), pg_advisory_unlock_all()
FROM PUBLIC;

-- Transaction-local counters live in custom settings set with is_local = true, so they
-- vanish at COMMIT or ROLLBACK.
CREATE OR REPLACE FUNCTION dsql_guard.counter(name text) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('dsql_guard.' || name, true), ''), '0')::integer
$$;

CREATE OR REPLACE FUNCTION dsql_guard.bump(name text, amount integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    total integer := dsql_guard.counter(name) + amount;
BEGIN
    PERFORM set_config('dsql_guard.' || name, total::text, true);
    RETURN total;
END
$$;

-- The guard's own DDL (attaching triggers to new tables) must not count as the user's.
CREATE OR REPLACE FUNCTION dsql_guard.internal() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('dsql_guard.internal', true), '') = 'on'
$$;

CREATE OR REPLACE FUNCTION dsql_guard.reject(message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'dsql guard: %', message USING ERRCODE = '0A000';
END
$$;

CREATE OR REPLACE FUNCTION dsql_guard.on_ddl_start() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
    q text;
BEGIN
    IF dsql_guard.internal() THEN
        RETURN;
    END IF;
    -- Blank out string literals and quoted identifiers so names cannot match keywords.
    q := lower(current_query());
    q := regexp_replace(q, '''([^'']|'''')*''', '''''', 'g');
    q := regexp_replace(q, '"([^"]|"")*"', '""', 'g');
    q := regexp_replace(q, '--[^\n]*', '', 'g');
    q := regexp_replace(q, '/\*.*?\*/', '', 'g');

    IF tg_tag IN ('CREATE TYPE', 'CREATE EXTENSION', 'CREATE TRIGGER', 'CREATE POLICY',
                  'CREATE MATERIALIZED VIEW', 'CREATE RULE', 'ALTER INDEX') THEN
        PERFORM dsql_guard.reject(tg_tag || ' is not supported');
    END IF;
    IF tg_tag = 'CREATE INDEX' AND q ~ '\mconcurrently\M' THEN
        PERFORM dsql_guard.reject('unsupported mode. please use CREATE INDEX ASYNC');
    END IF;
    IF q ~ '\malter\s+column\s+\S+\s+(set\s+data\s+)?type\M' THEN
        PERFORM dsql_guard.reject('unsupported ALTER TABLE ALTER COLUMN ... SET DATA TYPE statement');
    END IF;
    IF q ~ '\mset\s+not\s+null\M' THEN
        PERFORM dsql_guard.reject('unsupported ALTER TABLE ALTER COLUMN ... SET NOT NULL statement');
    END IF;
    IF tg_tag = 'ALTER TABLE' AND q ~ '\madd\s+column\M'
       AND q ~ '\madd\s+column\M.*\m(not\s+null|default|unique|primary\s+key|check|references|generated)\M' THEN
        PERFORM dsql_guard.reject('ALTER TABLE ADD COLUMN with constraint not supported');
    END IF;
    IF tg_tag = 'ALTER TABLE' AND (q ~ '\madd\s+(constraint\s+\S+\s+)?(unique|primary\s+key)\M') THEN
        PERFORM dsql_guard.reject('unsupported ALTER TABLE ADD CONSTRAINT statement (UNIQUE / PRIMARY KEY)');
    END IF;
    IF tg_tag = 'ALTER TABLE' AND q ~ '\madd\s+(constraint\s+\S+\s+)?(check|foreign\s+key)\M'
       AND q !~ '\mnot\s+valid\M' THEN
        PERFORM dsql_guard.reject('unsupported ALTER TABLE ADD CONSTRAINT statement (add NOT VALID)');
    END IF;
    IF q ~ '\m(small|big)?serial[248]?\M' THEN
        PERFORM dsql_guard.reject('type "serial" does not exist');
    END IF;

    IF dsql_guard.counter('dml') > 0 THEN
        PERFORM dsql_guard.reject('ddl and dml are not supported in the same transaction');
    END IF;
    IF dsql_guard.bump('ddl', 1) > 1 THEN
        PERFORM dsql_guard.reject('multiple ddl statements not supported in a transaction');
    END IF;
END
$$;

-- Counts changed rows (statement-level, from transition tables) and DML statements.
CREATE OR REPLACE FUNCTION dsql_guard.on_dml() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed integer;
BEGIN
    IF dsql_guard.counter('ddl') > 0 THEN
        PERFORM dsql_guard.reject('ddl and dml are not supported in the same transaction');
    END IF;
    PERFORM dsql_guard.bump('dml', 1);
    IF tg_op = 'DELETE' THEN
        SELECT count(*) INTO changed FROM old_rows;
    ELSE
        SELECT count(*) INTO changed FROM new_rows;
    END IF;
    IF dsql_guard.bump('rows', changed) > 3000 THEN
        RAISE EXCEPTION 'transaction row limit exceeded' USING ERRCODE = '54000';
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION dsql_guard.on_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dsql_guard.reject('TRUNCATE is not supported: delete in batches of at most 3,000 rows');
    RETURN NULL;
END
$$;

-- Every new table gets the DML and TRUNCATE triggers.
CREATE OR REPLACE FUNCTION dsql_guard.on_ddl_end() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
    created record;
BEGIN
    IF dsql_guard.internal() THEN
        RETURN;
    END IF;
    PERFORM set_config('dsql_guard.internal', 'on', true);
    FOR created IN
        SELECT objid::regclass AS rel FROM pg_event_trigger_ddl_commands()
        WHERE command_tag = 'CREATE TABLE' AND object_type = 'table'
    LOOP
        EXECUTE format('CREATE TRIGGER dsql_guard_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dsql_guard.on_dml()', created.rel);
        EXECUTE format('CREATE TRIGGER dsql_guard_update AFTER UPDATE ON %s REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dsql_guard.on_dml()', created.rel);
        EXECUTE format('CREATE TRIGGER dsql_guard_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION dsql_guard.on_dml()', created.rel);
        EXECUTE format('CREATE TRIGGER dsql_guard_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION dsql_guard.on_truncate()', created.rel);
    END LOOP;
    PERFORM set_config('dsql_guard.internal', 'off', true);
END
$$;

DROP EVENT TRIGGER IF EXISTS dsql_guard_ddl_start;
DROP EVENT TRIGGER IF EXISTS dsql_guard_ddl_end;
CREATE EVENT TRIGGER dsql_guard_ddl_start ON ddl_command_start EXECUTE FUNCTION dsql_guard.on_ddl_start();
CREATE EVENT TRIGGER dsql_guard_ddl_end ON ddl_command_end EXECUTE FUNCTION dsql_guard.on_ddl_end();
