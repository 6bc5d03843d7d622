DROP INDEX IF EXISTS "books_author_id_published_at_idx";
--> statement-breakpoint
DROP INDEX IF EXISTS "books_title_uq";
