CREATE INDEX books_title_idx ON books (title);
--> statement-breakpoint
CREATE UNIQUE INDEX CONCURRENTLY books_isbn_key ON books (isbn);
