/**
 * The ablation's wiring in the smoke preset (tiny model): every row of the paper's table is
 * trained from the one instruct model and evaluated with and without images; results.json has the
 * promised fields; the two-stage rows start from their first stage's checkpoint; a second call
 * reuses every stage (no training, no new answers) and gives the same results.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ABLATION_ROWS, runAblation, type AblationResults } from "../src/stages/ablation";

test("smoke ablation: seven rows from one instruct model, blind runs, p-values, resumable", { timeout: 900_000 }, async () => {
  const prev = process.env.MEDVLTHINKER_SMOKE;
  process.env.MEDVLTHINKER_SMOKE = "1";
  const out = mkdtempSync(join(tmpdir(), "ablation-"));
  try {
    const r = await runAblation("smoke", { out, progress: false, log: () => {} });
    const onDisk = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as AblationResults;
    assert.deepEqual(onDisk.rows.map((x) => x.name), [...ABLATION_ROWS]);
    for (const row of onDisk.rows) {
      assert.equal(row.seed, 42);
      assert.ok(existsSync(join(row.checkpoint, "config.json")) || existsSync(join(`${row.checkpoint}.prev`, "config.json")), `${row.name}: ${row.checkpoint}`);
      for (const id of ["slake", "vqa-rad"]) {
        const b = row.benchmarks[id];
        assert.ok(b, `${row.name} lacks ${id}`);
        assert.equal(b.items, 8);
        assert.ok(b.accuracy >= 0 && b.accuracy <= 100);
        assert.equal(typeof b.blind_accuracy, "number");
        assert.ok(b.p_vs_blind! >= 0 && b.p_vs_blind! <= 1);
        if (row.name === "base") assert.equal(b.p_vs_base, null);
        else assert.ok(b.p_vs_base! >= 0 && b.p_vs_base! <= 1);
        assert.ok(b.p_vs_constant >= 0 && b.p_vs_constant <= 1);
        assert.ok(b.constant_accuracy >= b.chance - 1e-9 || b.constant_accuracy > 0);
      }
      assert.equal(row.benchmarks.medqa.blind_accuracy, null);
    }
    // Each pool has its own curated set.
    assert.notEqual(onDisk.pools.text.curatedFile, onDisk.pools["image-text"].curatedFile);
    const rlData = (name: string) => (JSON.parse(readFileSync(join(onDisk.rows.find((x) => x.name === name)!.checkpoint, "..", "..", "config.json"), "utf8")) as { data: { sources: string[] } }).data.sources[0];
    assert.equal(rlData("RL(text)"), onDisk.pools.text.curatedFile);
    assert.equal(rlData("RL(image-text)"), onDisk.pools["image-text"].curatedFile);
    // Every row starts from the instruct model; the two-stage rows from their first stage.
    const initOf = (name: string) => {
      const ck = onDisk.rows.find((x) => x.name === name)!.checkpoint;
      return (JSON.parse(readFileSync(join(ck, "..", "..", "config.json"), "utf8")) as { model: { init: string } }).model.init;
    };
    for (const name of ["SFT(text)", "SFT(image-text)", "RL(text)", "RL(image-text)"]) assert.equal(initOf(name), onDisk.instruct, name);
    assert.equal(initOf("RL(text)+RL(image-text)"), onDisk.rows.find((x) => x.name === "RL(text)")!.checkpoint);
    assert.equal(initOf("SFT(text)+RL(image-text)"), onDisk.rows.find((x) => x.name === "SFT(text)")!.checkpoint);
    // The base row is the instruct model itself.
    assert.equal(onDisk.rows[0].checkpoint, onDisk.instruct);

    // Resumed: nothing retrained, the same figures.
    const again = await runAblation("smoke", { out, progress: false, log: () => {} });
    assert.deepEqual(again.rows.map((x) => [x.name, x.checkpoint, x.benchmarks]), r.rows.map((x) => [x.name, x.checkpoint, x.benchmarks]));
    const trained = Object.entries(again.timings).filter(([k]) => k.startsWith("train ")).reduce((a, [, v]) => a + v, 0);
    assert.ok(trained < Object.entries(r.timings).filter(([k]) => k.startsWith("train ")).reduce((a, [, v]) => a + v, 0) / 3, JSON.stringify(again.timings));
  } finally {
    rmSync(out, { recursive: true, force: true });
    if (prev === undefined) delete process.env.MEDVLTHINKER_SMOKE;
    else process.env.MEDVLTHINKER_SMOKE = prev;
  }
});
