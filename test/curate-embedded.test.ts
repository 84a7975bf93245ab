/** Curation with the embedded model on real items (text and VQA-RAD images): the Policy path end to end. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { curate, loadCurationSources } from "../src/curate/curate";
import { parseCurateConfig } from "../src/curate/config";
import { checkpointFingerprint, embeddedCurationPolicy, embeddedPolicyName } from "../src/curate/policies";
import { initEngine } from "../src/model/engine";
import { EmbeddedModel } from "../src/model/model";
import { TextTokenizer } from "../src/model/tokenizer";
import { dataRoot } from "../src/paths";

const tmp = mkdtempSync(join(tmpdir(), "curate-embedded-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

test("embedded model: k samples per item on text and image items, resumable, run folder follows the weights", async () => {
  await initEngine();
  const lines = readFileSync(join(dataRoot(), "medqa", "test.jsonl"), "utf8").split("\n").filter(Boolean).slice(0, 20);
  const tok = TextTokenizer.fit(lines, 400);
  const ckA = join(tmp, "a", "checkpoint");
  const ckB = join(tmp, "b", "checkpoint");
  for (const [dir, seed] of [[ckA, 1], [ckB, 2]] as const) {
    const m = await EmbeddedModel.create("tiny", tok, seed, { maxSeq: 128 });
    await m.save(dir);
    m.dispose();
  }
  assert.notEqual(checkpointFingerprint(ckA), checkpointFingerprint(ckB));
  assert.match(embeddedPolicyName(ckA), /^embedded-a-[0-9a-f]{10}$/);

  const base = parseCurateConfig({ data: ["huatuo-o1", "vqa-rad"], split: "train", limit: 2, k: 3, out: join(tmp, "runs"), concurrency: 1, batchSize: 2, sampling: { max_tokens: 6 } });
  const { sources } = await loadCurationSources(base);
  assert.ok(sources[1].items.every((it) => it.images?.length === 1));
  const policy = await embeddedCurationPolicy({ checkpoint: ckA, batchSize: 4 });
  const r1 = await curate(base, policy, { sources, progress: false, log: () => {} });
  assert.equal(r1.scored.length, 4);
  assert.equal(r1.records.length, 12);
  assert.ok(r1.records.every((r) => typeof r.response === "string" && (r.finish_reason === "stop" || r.finish_reason === "length")));
  for (const it of r1.scored) assert.equal(it.misc!.pass_k, 3);
  const r2 = await curate(base, policy, { sources, progress: false, log: () => {} });
  assert.equal(r2.sent, 0);
  assert.equal(r2.dir, r1.dir);
  await policy.close();
  const other = await embeddedCurationPolicy({ checkpoint: ckB, batchSize: 4 });
  const r3 = await curate({ ...base, limit: 1 }, other, { progress: false, log: () => {} });
  assert.notEqual(r3.dir, r1.dir, "other weights, other run folder");
  assert.equal(r3.sent, 1);
  await other.close();
});
