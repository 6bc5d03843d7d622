CREATE TABLE IF NOT EXISTS "events" (
	"id" uuid DEFAULT (gen_random_uuid()) NOT NULL,
	"payload" jsonb DEFAULT ('{}'::jsonb) NOT NULL,
	CONSTRAINT "events_pkey" PRIMARY KEY ("id")
);
--> statement-breakpoint
ALTER TABLE "books" ADD COLUMN "extra" jsonb;
