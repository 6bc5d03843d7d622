ALTER TABLE "books" ADD COLUMN "format" character varying(16);
--> statement-breakpoint
ALTER TABLE "books" ALTER COLUMN "format" SET DEFAULT ('paperback');
--> statement-breakpoint
-- tablewright:backfill "books"."format"
UPDATE "books" SET "format" = ('paperback') WHERE "format" IS NULL;
