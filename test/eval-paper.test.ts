import { test } from "node:test";
import assert from "node:assert/strict";
import { findPaperRow, loadPaperResults, trainingFromName } from "../src/eval/paper";

const rows = loadPaperResults();

test("the reference table loads: 25 rows with the six benchmark columns", () => {
  assert.equal(rows.length, 25);
  const q = rows.find((r) => r.model === "Qwen2.5-VL-7B-Instruct")!;
  assert.deepEqual(q.scores, { pmc_vqa: 49.3, mmmu_med: 52.94, medxpertqa_mm: 18.89, pathvqa: 65.39, slake: 65.71, vqa_rad: 68.75, avg: 53.5 });
});

test("served names map to paper rows", () => {
  const f = (name: string, explicit?: string) => {
    const r = findPaperRow(name, rows, explicit);
    return r ? `${r.model}|${r.training}` : null;
  };
  assert.equal(f("Qwen/Qwen2.5-VL-7B-Instruct"), "Qwen2.5-VL-7B-Instruct|base");
  assert.equal(f("/models/qwen2.5-vl-3b-instruct"), "Qwen2.5-VL-3B-Instruct|base");
  assert.equal(f("gpt-4o-mini"), "GPT-4o-mini|base");
  assert.equal(f("google/medgemma-4b-it"), "MedGemma-4B|base");
  assert.equal(f("google/gemma-3-4b-it"), "Gemma-3-4B|base");
  assert.equal(f("UCSC-VLAA/MedVLThinker-7B-RL_m23k"), "MedVLThinker-7B|RL(m23k)");
  assert.equal(f("UCSC-VLAA/MedVLThinker-3B-SFT_m23k-RL_pmc_vqa"), "MedVLThinker-3B|SFT(m23k)+RL(PMC-VQA)");
  assert.equal(f("MedVLThinker-32B-RL_m23k"), "MedVLThinker-32B|RL(m23k)");
  assert.equal(f("MedVLThinker-7B"), null); // which training? ambiguous
  assert.equal(f("my-model"), null);
  assert.equal(f("anything", "MedVLThinker-7B RL(PMC-VQA)"), "MedVLThinker-7B|RL(PMC-VQA)");
  assert.equal(f("anything", "GPT-4o"), "GPT-4o|base");
  assert.equal(trainingFromName("-sft-pmc"), "SFT(PMC-VQA)");
});
