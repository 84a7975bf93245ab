/**
 * Vision-language alignment of the base model: teacher-forced answers about images of the
 * image-text TRAINING splits only, so that the base (and every model made from it) has looked at
 * pictures and tied them to words before any SFT or RL, as Qwen2.5-VL has before MedVLThinker
 * starts. LLaVA's first stage trains the projector on captions; here the whole (small) model
 * trains on three kinds of short, free-text targets:
 *
 * - captions built from SLAKE's per-image annotations: "A CT image of the abdomen." (modality and
 *   body region, one per training image);
 * - the OPEN questions of SLAKE train + validate (English) and VQA-RAD train with their reference
 *   answers ("Which organ is abnormal?" -> "Liver");
 * - no CLOSED question: those are the image-text pool of the ablation (RL and SFT on image-text),
 *   and a base that had trained on them would leave that pool nothing to teach.
 *
 * Answers are free text in the model's chat format (no options, no letters, no answer tags): the
 * base learns to see, not the benchmark format. SLAKE's test split is disjoint from train and
 * validate by image (PROVENANCE.md); open VQA-RAD train questions whose image, question and answer
 * reappear among test items are dropped.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { isOpen, type Item } from "../data/item";
import { loadDataset } from "../data/registry";
import { loadSlake } from "../data/slake";
import { dataRoot } from "../paths";
import type { TeacherForcedExample, TeacherForcedOptions } from "./teacher-forced";

export type AlignOptions = Omit<TeacherForcedOptions, "onStep" | "signal">;

/** Workshop: ~1 pass over the ~4,900 examples at 16 rows per step; smoke: a handful of steps. */
export const ALIGN_DEFAULTS: Record<"smoke" | "full", AlignOptions> = {
  smoke: { steps: 6, lr: 1e-3, batchRows: 4, seed: 7, maxPromptTokens: 40, maxTargetTokens: 8, padMultiple: 16 },
  full: { steps: 300, lr: 2e-3, batchRows: 16, seed: 7, maxPromptTokens: 96, maxTargetTokens: 24, padMultiple: 32 },
};

export interface AlignmentData {
  examples: TeacherForcedExample[];
  counts: { captions: number; slakeOpen: number; vqaRadOpen: number; images: number; droppedOverlap: number };
}

const words = (s: string) => s.replace(/_/g, " ").replace(/\s+/g, " ").trim();

/** The caption of a SLAKE training image from its annotations (null when they are missing). */
export function captionOf(it: Item): string | null {
  const modality = it.misc?.modality;
  const region = it.misc?.organ;
  if (typeof modality !== "string" || typeof region !== "string" || !modality || !region) return null;
  return `A ${words(modality)} image of the ${words(region).toLowerCase()}.`;
}

/** The alignment examples of the shared data (SLAKE train + validate, VQA-RAD train). */
export async function alignmentData(root = dataRoot()): Promise<AlignmentData> {
  const slakeFiles = [join(root, "slake", "train.json"), join(root, "slake", "validate.json")].filter(existsSync);
  if (slakeFiles.length === 0) throw Object.assign(new Error(`alignment: no SLAKE training split in ${join(root, "slake")} (train.json, validate.json)`), { name: "ConfigError" });
  // skipBad: one bad record (train qid 1622 has an empty answer) never stops the stage.
  const slake = slakeFiles.flatMap((f) => loadSlake(f, { skipBad: true }).items);
  const rad = (await loadDataset("vqa-rad", { root, split: "train" })).items;
  const radTest = (await loadDataset("vqa-rad", { root, split: "test" })).items;
  const testKeys = new Set(radTest.map((t) => `${t.images?.[0]?.path}\t${t.question.trim().toLowerCase()}`));
  const examples: TeacherForcedExample[] = [];
  const counts = { captions: 0, slakeOpen: 0, vqaRadOpen: 0, images: 0, droppedOverlap: 0 };
  const seen = new Set<string>();
  for (const it of slake) {
    const key = String(it.images?.[0]?.path);
    if (!seen.has(key)) {
      seen.add(key);
      const c = captionOf(it);
      if (c) {
        examples.push({ prompt: "Describe the image.", images: it.images, target: c });
        counts.captions++;
      }
    }
    if (isOpen(it) && it.answer.trim()) {
      examples.push({ prompt: it.question, images: it.images, target: it.answer.trim() });
      counts.slakeOpen++;
    }
  }
  for (const it of rad) {
    if (!isOpen(it) || !it.answer.trim()) continue;
    if (testKeys.has(`${it.images?.[0]?.path}\t${it.question.trim().toLowerCase()}`)) {
      counts.droppedOverlap++;
      continue;
    }
    examples.push({ prompt: it.question, images: it.images, target: it.answer.trim() });
    counts.vqaRadOpen++;
  }
  counts.images = seen.size;
  return { examples, counts };
}
