ALTER TABLE "books" ADD COLUMN "subtitle" text;
