CREATE INDEX ASYNC IF NOT EXISTS "books_author_id_published_at_idx" ON "books" ("author_id", "published_at");
--> statement-breakpoint
CREATE UNIQUE INDEX ASYNC IF NOT EXISTS "books_title_uq" ON "books" ("title");
