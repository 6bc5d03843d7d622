CREATE EXTENSION IF NOT EXISTS pgcrypto;
SELECT gen_random_uuid();
