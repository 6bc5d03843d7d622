ALTER TABLE "tickets" ALTER COLUMN "id" DROP IDENTITY IF EXISTS;
--> statement-breakpoint
ALTER TABLE "tickets" ALTER COLUMN "id" SET DEFAULT (0);
