ALTER TABLE "books" DROP COLUMN "legacy_code";
