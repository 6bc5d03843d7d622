BEGIN;
CREATE TABLE a (id bigint PRIMARY KEY);
CREATE TABLE b (id bigint PRIMARY KEY, a_id bigint REFERENCES a (id));
COMMIT;
