ALTER TABLE "books" ALTER COLUMN "author_id" DROP NOT NULL;
--> statement-breakpoint
ALTER TABLE "books" ADD CONSTRAINT "books_author_id_fkey" FOREIGN KEY ("author_id") REFERENCES "authors"("id") ON DELETE SET NULL NOT VALID;
--> statement-breakpoint
ALTER TABLE ASYNC "books" VALIDATE CONSTRAINT "books_author_id_fkey";
