ALTER TABLE "book" RENAME TO "books";
--> statement-breakpoint
ALTER TABLE "books" RENAME CONSTRAINT "book_pkey" TO "books_pkey";
--> statement-breakpoint
DROP INDEX IF EXISTS "book_title_idx";
--> statement-breakpoint
CREATE INDEX ASYNC IF NOT EXISTS "books_title_idx" ON "books" ("title");
