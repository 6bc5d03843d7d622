DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app') THEN
        CREATE ROLE app; -- a semicolon inside the block does not split it
    END IF;
END
$$;
CREATE TABLE IF NOT EXISTS events (id bigint PRIMARY KEY, payload jsonb);
