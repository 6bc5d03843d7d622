CREATE TABLE IF NOT EXISTS "authors" (
	"id" uuid DEFAULT (gen_random_uuid()) NOT NULL,
	"name" text NOT NULL,
	"email" character varying(320) NOT NULL,
	"created_at" timestamp with time zone DEFAULT (now()) NOT NULL,
	CONSTRAINT "authors_pkey" PRIMARY KEY ("id"),
	CONSTRAINT "authors_email_key" UNIQUE ("email")
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "books" (
	"id" uuid DEFAULT (gen_random_uuid()) NOT NULL,
	"title" text NOT NULL,
	"subtitle" text,
	"author_id" uuid NOT NULL,
	"price" numeric(10,2) NOT NULL,
	"pages" integer NOT NULL,
	"copies_sold" bigint NOT NULL,
	"in_print" boolean NOT NULL,
	"cover" bytea,
	"published_at" timestamp with time zone,
	CONSTRAINT "books_pkey" PRIMARY KEY ("id"),
	CONSTRAINT "books_author_id_fkey" FOREIGN KEY ("author_id") REFERENCES "authors"("id") ON DELETE CASCADE
);
--> statement-breakpoint
CREATE INDEX ASYNC IF NOT EXISTS "books_author_id_published_at_idx" ON "books" ("author_id", "published_at");
