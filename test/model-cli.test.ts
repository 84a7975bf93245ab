/** `medvlthinker model pretrain|sample|info` end to end on the tiny config. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const cli = (args: string[]) => spawnSync(process.execPath, ["bin/medvlthinker.js", "model", ...args], { encoding: "utf8" });

test("pretrain writes metrics and a checkpoint; sample loads it; bad input exits 1 with a message", () => {
  const out = join(mkdtempSync(join(tmpdir(), "cli-")), "pre");
  const r = cli(["pretrain", "--size", "tiny", "--out", out, "--steps", "12"]);
  assert.equal(r.status, 0, r.stderr);
  const lines = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 12);
  assert.ok(lines[11].loss < lines[0].loss, `loss ${lines[0].loss} -> ${lines[11].loss}`);
  assert.ok(lines.some((l) => typeof l.held_out_loss === "number"));
  const run = JSON.parse(readFileSync(join(out, "run.json"), "utf8"));
  assert.equal(run.corpus, "train");
  assert.equal(run.contaminated, false);
  const s = cli(["sample", "--checkpoint", join(out, "checkpoint"), "--prompt", "Fever and", "--max-tokens", "5", "--n", "2"]);
  assert.equal(s.status, 0, s.stderr);
  assert.equal((s.stdout.match(/--- sample/g) ?? []).length, 2);
  const bad = cli(["sample", "--checkpoint", join(out, "nope"), "--prompt", "x"]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /no config\.json/);
  const info = cli(["info", "--size", "workshop"]);
  assert.equal(info.status, 0);
  assert.ok(JSON.parse(info.stdout).params > 500_000);
});
