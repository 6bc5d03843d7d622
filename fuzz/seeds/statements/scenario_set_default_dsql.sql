ALTER TABLE "books" ALTER COLUMN "status" SET DEFAULT ('draft');
