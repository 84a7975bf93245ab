/**
 * ensureInstructModel on the tiny config: the format warm-up makes a model whose sampled answers
 * pass the format gate where the base model's do not; a second call loads it; a changed base
 * checkpoint (different weights) makes it rebuild.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkpointFingerprint } from "../src/curate/policies";
import type { Item } from "../src/data/item";
import { ensureBaseModel } from "../src/stages/base";
import { ensureInstructModel, instructModelDir } from "../src/stages/instruct";
import type { EmbeddedModel } from "../src/model/model";
import { buildPrompt } from "../src/prompt";
import { computeReward } from "../src/reward";
import { loadGrpoItems } from "../src/train/grpo-data";

/** Share of sampled answers (temperature 1, as curation samples) that pass the format gate. */
async function formatRate(m: EmbeddedModel, items: Item[]): Promise<number> {
  const gens = await m.generate(items.map((it) => ({ text: buildPrompt(it), images: it.images })), { maxNewTokens: 16, temperature: 1, seed: 7, batchSize: 8 });
  return gens.filter((g, i) => computeReward(g.text, items[i]).format).length / gens.length;
}

test("the instruct model writes the answer format, is made once per base, and a new base rebuilds it", async () => {
  const root = mkdtempSync(join(tmpdir(), "instruct-"));
  try {
    const base = { out: join(root, "base"), pretrain: { steps: 3, evalEvery: 3, tokenizerChars: 50_000 } };
    const opts = { smoke: true, progress: false, out: join(root, "instruct"), base, sources: ["huatuo-o1"], limit: 64, log: () => {} };
    assert.equal(instructModelDir(opts), join(root, "instruct"));

    const baseModel = await ensureBaseModel({ ...base, smoke: true, progress: false });
    const inst = await ensureInstructModel(opts);
    assert.equal(inst.info.stage, "instruct");
    const baseFp = checkpointFingerprint(join(root, "base", "checkpoint"));
    assert.equal(inst.info.base_fingerprint, baseFp);

    // Held-out prompts: Huatuo items beyond the 64 the warm-up saw.
    const { items } = await loadGrpoItems({ sources: ["huatuo-o1"], excludeEval: [], limit: 96, realNewline: false });
    const probe = items.slice(64);
    assert.equal(probe.length, 32);
    const before = await formatRate(baseModel, probe);
    const after = await formatRate(inst, probe);
    assert.ok(before <= 0.1, `base model passes the format gate on ${before}`);
    assert.ok(after >= 0.6, `instruct model passes the format gate on only ${after}`);
    baseModel.dispose();

    // A second call loads the saved model: same weights, same fingerprint.
    const instFp = checkpointFingerprint(join(root, "instruct", "checkpoint"));
    const again = await ensureInstructModel({ ...opts, log: (m) => assert.fail(`unexpected rebuild: ${m}`) });
    assert.equal(checkpointFingerprint(join(root, "instruct", "checkpoint")), instFp);
    assert.deepEqual(again.info, inst.info);
    again.dispose();
    inst.dispose();

    // A different base (same config, new weights, still a finished warm-up): rebuilt on the new base.
    const b = await ensureBaseModel({ ...base, smoke: true, progress: false });
    const { initParams } = await import("../src/model/params");
    b.params = initParams(b.config, 123);
    await b.save(join(root, "base", "checkpoint"));
    b.dispose();
    const newFp = checkpointFingerprint(join(root, "base", "checkpoint"));
    assert.notEqual(newFp, baseFp);
    const notes: string[] = [];
    const rebuilt = await ensureInstructModel({ ...opts, log: (m) => notes.push(m) });
    assert.equal(rebuilt.info.base_fingerprint, newFp);
    assert.ok(notes.some((n) => /out of date/.test(n)), notes.join("\n"));
    assert.notEqual(checkpointFingerprint(join(root, "instruct", "checkpoint")), instFp);
    rebuilt.dispose();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
