INSERT INTO "t1" ("id", "c9", "c10") SELECT (g)::integer, CASE WHEN g % 3 = 0 THEN NULL ELSE 'v' || g END, g FROM generate_series(1, 20) g
