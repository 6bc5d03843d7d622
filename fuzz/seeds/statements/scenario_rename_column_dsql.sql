ALTER TABLE "books" RENAME COLUMN "subtitle_text" TO "subtitle";
--> statement-breakpoint
ALTER TABLE "books" RENAME COLUMN "isbn_code" TO "isbn";
--> statement-breakpoint
ALTER TABLE "books" RENAME CONSTRAINT "books_isbn_code_key" TO "books_isbn_key";
