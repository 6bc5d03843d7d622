CREATE TABLE IF NOT EXISTS "order_items" (
	"order_id" uuid NOT NULL,
	"line" integer NOT NULL,
	"quantity" integer NOT NULL,
	CONSTRAINT "order_items_pkey" PRIMARY KEY ("order_id", "line")
);
