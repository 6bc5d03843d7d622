INSERT INTO "t8" ("a", "b", "c2", "c3", "c4") SELECT (g)::integer, (g % 7)::smallint, timestamptz '2026-01-01 00:00:00+00' + (g) * interval '1 second', CASE WHEN g % 4 = 0 THEN NULL ELSE (g % 30000)::smallint END, (g)::integer FROM generate_series(36, 40) g;
INSERT INTO "t5" ("a", "b", "c6", "c7") SELECT (g)::integer, (g % 7)::smallint, (g)::bigint, (g % 2 = 0) FROM generate_series(36, 40) g;
INSERT INTO "t9" ("a", "b", "c10") SELECT (g)::integer, (g % 7)::smallint, (g % 30000)::smallint FROM generate_series(26, 30) g;
INSERT INTO "t12" ("a", "b", "c13") SELECT (g)::integer, (g % 7)::smallint, (g % 30000)::smallint FROM generate_series(21, 25) g;
INSERT INTO "t15" ("a", "b", "c16") SELECT (g)::integer, (g % 7)::smallint, (g % 30000)::smallint FROM generate_series(1, 20) g