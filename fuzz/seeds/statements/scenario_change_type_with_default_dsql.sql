-- tablewright:recreate "books" 1/6: create the new table
CREATE TABLE IF NOT EXISTS "books__tw_new" (
	"id" bigint NOT NULL,
	"title" character varying(200) DEFAULT ('untitled') NOT NULL,
	CONSTRAINT "books_pkey__tw_new" PRIMARY KEY ("id")
);
--> statement-breakpoint
-- tablewright:recreate "books" 2/6: copy the rows in batches, check the counts, copy the grants
-- tablewright:copy "books" -> "books__tw_new"
INSERT INTO "books__tw_new" ("id", "title") SELECT "id", "title"::character varying(200) FROM "books";
--> statement-breakpoint
-- tablewright:recreate "books" 3/6: swap: move the old table aside
ALTER TABLE "books" RENAME TO "books__tw_old";
--> statement-breakpoint
-- tablewright:recreate "books" 4/6: swap: put the new table in its place
ALTER TABLE "books__tw_new" RENAME TO "books";
--> statement-breakpoint
-- tablewright:recreate "books" 5/6: drop the old table
DROP TABLE IF EXISTS "books__tw_old";
--> statement-breakpoint
-- tablewright:recreate "books" 6/6: give the key or a unique its name
ALTER TABLE "books" RENAME CONSTRAINT "books_pkey__tw_new" TO "books_pkey";
