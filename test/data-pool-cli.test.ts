// `medvlthinker data pool`: the ablation's training pools from the command line.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { loadPath } from "../src/data/registry";
import { hasSharedData } from "../src/paths";
import { runCli } from "./helpers/run-cli";

const tmp = mkdtempSync(join(tmpdir(), "data-pool-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const cli = (args: string[]) => runCli(args, { timeoutMs: 180_000 });

test("data pool: an unknown name or output type is a message", { timeout: 60_000 }, async () => {
  const a = await cli(["data", "pool", "mixed"]);
  assert.equal(a.code, 1);
  assert.match(a.stderr, /give one pool name \(text, image-text\)/);
  const b = await cli(["data", "pool", "text", "--out", join(tmp, "x.csv")]);
  assert.match(b.stderr, /--out must end in \.parquet or \.jsonl/);
});

test("data pool image-text --out: the per-source counts, and the items written and read back", { skip: !hasSharedData() && "no shared data", timeout: 240_000 }, async () => {
  const out = join(tmp, "image-text.jsonl");
  const r = await cli(["data", "pool", "image-text", "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /pool image-text \(the paper's PMC-VQA\): 3384 closed items/);
  assert.match(r.stdout, /vqa-rad:train: 1797 loaded, 0 dropped by the loader, 773 open, 2 duplicates, 0 in an evaluation set, 591 on an evaluation image -> 1022 kept/);
  assert.equal(readFileSync(out, "utf8").trim().split("\n").length, 3384);
  const back = await loadPath(out);
  assert.equal(back.items.length, 3384);
  assert.ok(back.items.every((it) => it.images?.length === 1 && Object.keys(it.options).length >= 2));
});
