CREATE TABLE counters (id serial PRIMARY KEY, name text NOT NULL);
