#!/usr/bin/env python3
"""Whole-process `tablewright generate` at 100, 1,000 and 10,000 tables, against
drizzle-kit on the same schema.

Each table has 10 columns (uuid key with a default, text, varchar(64) unique, integer,
bigint, numeric(12,2), boolean, timestamptz with a default, jsonb, nullable text) and a
two-column index. Two runs per size:

  scratch  the first migration, from an empty migrations folder;
  change   one more column and one more index on every table, on top of `scratch`.

Every figure is the median of --rounds runs of the whole process (start to exit), with
the process's peak resident memory (wait4's ru_maxrss). tablewright and drizzle-kit take
turns within a round, so they share the machine's state. drizzle-kit runs only where
node and npm are found (or --no-drizzle); it is installed once into --drizzle-dir.

Usage (from the repository root, after `cargo build --release -p cli`):
  benches/generate.py [--bin target/release/tablewright] [--sizes 100,1000,10000]
                      [--rounds 5] [--no-drizzle]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

DRIZZLE_KIT = "0.31.11"
DRIZZLE_ORM = "0.45.4"


def rust_source(n, changed):
    out = ["use tablewright_derive::Table;\n"]
    for i in range(n):
        extra_index = f'#[index(columns(extra_{i}))]\n' if changed else ""
        extra_col = f"    pub extra_{i}: Option<i64>,\n" if changed else ""
        out.append(
            f"""
#[derive(Table)]
#[table(name = "t{i}")]
#[index(columns(c3_{i}, c4_{i}))]
{extra_index}pub struct T{i} {{
    #[column(primary_key, default = "gen_random_uuid()")]
    pub id: uuid::Uuid,
    pub c1_{i}: String,
    #[column(sql_type = "varchar(64)", unique)]
    pub c2_{i}: String,
    pub c3_{i}: i32,
    pub c4_{i}: i64,
    #[column(sql_type = "numeric(12,2)")]
    pub c5_{i}: rust_decimal::Decimal,
    pub c6_{i}: bool,
    #[column(default = "now()")]
    pub c7_{i}: chrono::DateTime<chrono::Utc>,
    pub c8_{i}: serde_json::Value,
    pub c9_{i}: Option<String>,
{extra_col}}}
"""
        )
    return "".join(out)


def drizzle_source(n, changed):
    out = [
        'import { pgTable, uuid, text, varchar, integer, bigint, numeric, boolean, timestamp, jsonb, index } from "drizzle-orm/pg-core";\n'
        'import { sql } from "drizzle-orm";\n'
    ]
    for i in range(n):
        extra_col = f'  extra_{i}: bigint("extra_{i}", {{ mode: "number" }}),\n' if changed else ""
        extra_index = f'  index("t{i}_extra_{i}_idx").on(t.extra_{i}),\n' if changed else ""
        out.append(
            f"""
export const t{i} = pgTable("t{i}", {{
  id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
  c1_{i}: text("c1_{i}").notNull(),
  c2_{i}: varchar("c2_{i}", {{ length: 64 }}).notNull().unique(),
  c3_{i}: integer("c3_{i}").notNull(),
  c4_{i}: bigint("c4_{i}", {{ mode: "number" }}).notNull(),
  c5_{i}: numeric("c5_{i}", {{ precision: 12, scale: 2 }}).notNull(),
  c6_{i}: boolean("c6_{i}").notNull(),
  c7_{i}: timestamp("c7_{i}", {{ withTimezone: true }}).notNull().default(sql`now()`),
  c8_{i}: jsonb("c8_{i}").notNull(),
  c9_{i}: text("c9_{i}"),
{extra_col}}}, (t) => [
  index("t{i}_c3_{i}_c4_{i}_idx").on(t.c3_{i}, t.c4_{i}),
{extra_index}]);
"""
        )
    return "".join(out)


def run(cmd, cwd):
    """Wall seconds and peak RSS (MiB) of one whole process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} in {cwd} exited {proc.returncode}:\n{stderr}")
    return wall, usage.ru_maxrss / 1024


def tablewright_project(root, n, dialect):
    os.makedirs(os.path.join(root, "src"))
    with open(os.path.join(root, "tablewright.toml"), "w") as f:
        f.write(f'dialect = "{dialect}"\nschema = ["src/**/*.rs"]\nout = "migrations"\npermissions = "permissions.sql"\n')


def drizzle_project(root, modules):
    os.makedirs(root)
    os.symlink(modules, os.path.join(root, "node_modules"))
    with open(os.path.join(root, "drizzle.config.ts"), "w") as f:
        f.write('import { defineConfig } from "drizzle-kit";\nexport default defineConfig({ dialect: "postgresql", schema: "./schema.ts", out: "./drizzle" });\n')


def install_drizzle(path):
    if os.path.exists(os.path.join(path, "node_modules", "drizzle-kit")):
        return os.path.join(path, "node_modules")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "package.json"), "w") as f:
        f.write(f'{{"private": true, "dependencies": {{"drizzle-kit": "{DRIZZLE_KIT}", "drizzle-orm": "{DRIZZLE_ORM}"}}}}\n')
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=path, check=True)
    return os.path.join(path, "node_modules")


def measure(size, dialect, args, modules, work):
    """{(tool, run): [(wall, rss)]} for one size."""
    results = {}
    tw = os.path.abspath(args.bin)
    for r in range(args.rounds):
        base = os.path.join(work, f"{size}-{dialect}-{r}")
        # tablewright: scratch, then change on top.
        p = os.path.join(base, "tw")
        tablewright_project(p, size, dialect)
        src = os.path.join(p, "src", "entities.rs")
        with open(src, "w") as f:
            f.write(rust_source(size, False))
        results.setdefault(("tablewright", "scratch"), []).append(run([tw, "generate", "--name", "init"], p))
        with open(src, "w") as f:
            f.write(rust_source(size, True))
        results.setdefault(("tablewright", "change"), []).append(run([tw, "generate", "--name", "more"], p))
        if modules:
            d = os.path.join(base, "drizzle")
            drizzle_project(d, modules)
            kit = [os.path.join(modules, ".bin", "drizzle-kit"), "generate"]
            with open(os.path.join(d, "schema.ts"), "w") as f:
                f.write(drizzle_source(size, False))
            results.setdefault(("drizzle-kit", "scratch"), []).append(run(kit + ["--name", "init"], d))
            with open(os.path.join(d, "schema.ts"), "w") as f:
                f.write(drizzle_source(size, True))
            results.setdefault(("drizzle-kit", "change"), []).append(run(kit + ["--name", "more"], d))
        shutil.rmtree(base)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/tablewright")
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-drizzle", action="store_true")
    ap.add_argument("--drizzle-dir", default=os.path.join(tempfile.gettempdir(), "tablewright-bench-drizzle"))
    args = ap.parse_args()
    modules = None
    if not args.no_drizzle and shutil.which("node") and shutil.which("npm"):
        modules = install_drizzle(args.drizzle_dir)
    print("| tables | dialect | run | tablewright | peak RSS | drizzle-kit | peak RSS | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="tw-bench-generate-") as work:
        for size in [int(s) for s in args.sizes.split(",")]:
            # DSQL allows 1,000 tables per cluster; the largest size is PostgreSQL's.
            dialect = "dsql" if size <= 1000 else "postgres"
            results = measure(size, dialect, args, modules, work)
            for what in ("scratch", "change"):
                tw = results[("tablewright", what)]
                tw_ms = statistics.median(w for w, _ in tw) * 1000
                tw_mb = max(m for _, m in tw)
                if ("drizzle-kit", what) in results:
                    dk = results[("drizzle-kit", what)]
                    dk_ms = statistics.median(w for w, _ in dk) * 1000
                    dk_mb = max(m for _, m in dk)
                    print(f"| {size:,} | {dialect} | {what} | {tw_ms:.0f} ms | {tw_mb:.0f} MiB | {dk_ms:.0f} ms | {dk_mb:.0f} MiB | {dk_ms / tw_ms:.1f}× |", flush=True)
                else:
                    print(f"| {size:,} | {dialect} | {what} | {tw_ms:.0f} ms | {tw_mb:.0f} MiB | — | — | — |", flush=True)


if __name__ == "__main__":
    main()
