/**
 * The paper's published accuracies (shared/reference/medvlthinker_results.csv) and the mapping
 * from a served model name ("UCSC-VLAA/MedVLThinker-7B-RL_m23k", "Qwen/Qwen2.5-VL-7B-Instruct",
 * "gpt-4o-mini") to the row of that table.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { referenceRoot } from "../paths";

export interface PaperRow {
  model: string;
  training: string;
  /** Benchmark column (pmc_vqa, mmmu_med, ...) -> accuracy in percent. */
  scores: Record<string, number>;
}

export const PAPER_COLUMNS = ["pmc_vqa", "mmmu_med", "medxpertqa_mm", "pathvqa", "slake", "vqa_rad"];

/** Parse the results CSV (plain comma-separated, no quoted fields). */
export function parsePaperCsv(text: string): PaperRow[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim());
  const header = lines[0].split(",");
  return lines.slice(1).map((line) => {
    const cells = line.split(",");
    const get = (k: string) => cells[header.indexOf(k)] ?? "";
    const scores: Record<string, number> = {};
    for (const c of [...PAPER_COLUMNS, "avg"]) {
      const v = Number(get(c));
      if (get(c) !== "" && Number.isFinite(v)) scores[c] = v;
    }
    return { model: get("model"), training: get("training"), scores };
  });
}

export function loadPaperResults(file = join(referenceRoot(), "medvlthinker_results.csv")): PaperRow[] {
  return existsSync(file) ? parsePaperCsv(readFileSync(file, "utf8")) : [];
}

function norm(s: string): string {
  return s
    .toLowerCase()
    .replace(/[-_](instruct|it|hf|chat)$/g, "")
    .replace(/[^a-z0-9.]/g, "");
}

/** The training label of a MedVLThinker checkpoint name, from its words (SFT/RL, m23k/PMC). */
export function trainingFromName(name: string): string | null {
  const s = name.toLowerCase();
  const sft = /sft/.test(s);
  const rl = /(^|[^a-z])(rl|grpo|rlvr)([^a-z]|$)/.test(s);
  const m23k = /m23k/.test(s);
  const pmc = /pmc/.test(s);
  if (sft && rl && m23k && pmc) return "SFT(m23k)+RL(PMC-VQA)";
  if (rl && m23k && pmc) return "RL(m23k)+RL(PMC-VQA)";
  if (sft && m23k) return "SFT(m23k)";
  if (sft && pmc) return "SFT(PMC-VQA)";
  if (rl && m23k) return "RL(m23k)";
  if (rl && pmc) return "RL(PMC-VQA)";
  return null;
}

/**
 * The paper row for a model. `explicit` is "MODEL" or "MODEL TRAINING" / "MODEL,TRAINING"
 * ("MedVLThinker-7B RL(m23k)"); otherwise the served name is matched (org prefix and an
 * -Instruct/-it suffix ignored; MedVLThinker checkpoints by size and training words).
 */
export function findPaperRow(model: string, rows: PaperRow[], explicit?: string | null): PaperRow | null {
  if (explicit) {
    const m = explicit.match(/^\s*([^\s,]+)[\s,]*(.*)$/);
    const name = m?.[1] ?? explicit;
    const training = (m?.[2] ?? "").trim();
    const hits = rows.filter((r) => norm(r.model) === norm(name) && (!training || r.training.toLowerCase() === training.toLowerCase()));
    return hits.length === 1 ? hits[0] : null;
  }
  const base = model.split("/").pop() ?? model;
  const mv = base.match(/medvlthinker[-_]?(\d+b)/i);
  if (mv) {
    const training = trainingFromName(base.slice(mv.index! + mv[0].length));
    const size = mv[1].toUpperCase();
    return rows.find((r) => r.model === `MedVLThinker-${size}` && r.training === training) ?? null;
  }
  const hits = rows.filter((r) => norm(r.model) === norm(base));
  return hits.length === 1 ? hits[0] : null;
}
