/**
 * Text for the language-modelling warm-up, read from the shared data (jsonl/json directly).
 *
 * Preset "train" (default) uses only text that no benchmark scores: PubMedQA's train split
 * (abstract + question + long answer) and the HuatuoGPT-o1 traces (question, options, reasoning,
 * response), minus the 3 traces whose questions are also in MedMCQA dev. Preset "all" adds the
 * question and option text of every benchmark file (never the answers): more vocabulary, but the
 * model will have read the evaluation questions, so results after it are contaminated; the run
 * records which preset it used.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { requireDataRoot } from "../paths";
import { ConfigError } from "../errors";

export type CorpusPreset = "train" | "all";

export interface Document {
  source: string;
  text: string;
}

function readJsonl(path: string): Record<string, unknown>[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function optionsText(o: unknown): string {
  if (!o || typeof o !== "object") return "";
  return Object.entries(o as Record<string, string>)
    .map(([k, v]) => `${k}. ${v}`)
    .join("\n");
}

/** Huatuo records whose question is also in MedMCQA dev (PROVENANCE.md). */
const HUATUO_IN_MEDMCQA = new Set([151, 154, 193]);

function trainDocs(root: string): Document[] {
  const docs: Document[] = [];
  const pq = join(root, "pubmedqa", "train.jsonl");
  for (const r of readJsonl(pq)) docs.push({ source: "pubmedqa/train.jsonl", text: `${r.question}\n${r.answer_rationale ?? ""}` });
  const hu = join(root, "huatuo-o1-traces", "demo_data.json");
  const traces = JSON.parse(readFileSync(hu, "utf8")) as Record<string, unknown>[];
  traces.forEach((r, i) => {
    if (HUATUO_IN_MEDMCQA.has(i)) return;
    // The trace in the answer format: the base reads the four tags in context, so their embedding
    // rows are trained (distinct, meaningful) before any SFT or RL writes them.
    docs.push({ source: "huatuo-o1-traces/demo_data.json", text: `${r.question}\n${optionsText(r.options)}\n<think> ${r.Complex_CoT ?? ""} </think>\n<answer> ${r.Response ?? ""} </answer>` });
  });
  return docs;
}

/** Benchmark question text (no answers, no rationales). */
function benchmarkDocs(root: string): Document[] {
  const files = ["medqa/test.jsonl", "medmcqa/dev.jsonl", "mmlu-med/test.jsonl", "medxpertqa-text/test.jsonl", "medxpertqa-mm/medxpertqa_mm_input.jsonl", "pubmedqa/test.jsonl"];
  const docs: Document[] = [];
  for (const f of files) {
    const p = join(root, f);
    if (!existsSync(p)) continue;
    for (const r of readJsonl(p)) docs.push({ source: f, text: `${r.question ?? ""}\n${optionsText(r.options)}` });
  }
  return docs;
}

export function loadCorpus(preset: CorpusPreset = "train", root?: string): Document[] {
  if (preset !== "train" && preset !== "all") {
    throw new ConfigError(`unknown corpus preset '${preset}' (train, all)`);
  }
  const dir = requireDataRoot(root);
  const docs = trainDocs(dir);
  return preset === "all" ? [...docs, ...benchmarkDocs(dir)] : docs;
}
