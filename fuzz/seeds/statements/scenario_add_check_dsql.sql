ALTER TABLE "books" ADD CONSTRAINT "books_pages_positive" CHECK (pages > 0) NOT VALID;
--> statement-breakpoint
ALTER TABLE ASYNC "books" VALIDATE CONSTRAINT "books_pages_positive";
