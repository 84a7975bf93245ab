/**
 * Vision-language alignment of the base model: teacher-forced answers about images of the
 * image-text TRAINING splits only, so that the base (and every model made from it) has looked at
 * pictures and tied them to words before any SFT or RL, as Qwen2.5-VL has before MedVLThinker
 * starts (its pretraining includes visual question answering in free text). LLaVA's first stage
 * trains the projector on captions; here the whole (small) model trains on four kinds of short,
 * free-text targets:
 *
 * - captions built from SLAKE's per-image annotations: "A CT image of the abdomen." (modality and
 *   body region, one per training image, shown `captionRepeats` times per pass: there are few);
 * - the OPEN questions of SLAKE train + validate (English) and VQA-RAD train with their reference
 *   answers ("Which organ is abnormal?" -> "Liver");
 * - the CLOSED questions of the same splits with their answer in words ("Does the picture contain
 *   liver?" -> "Yes"; "Which is bigger, liver or spleen?" -> "Liver"): without options, letters or
 *   answer tags, so the ablation's image-text pool (the same questions as multiple choice, graded
 *   by letter) still has the format, the options and the reward to teach.
 *
 * A model that sees each of ~550 training images at one position memorises them; every image is
 * shifted by up to `shiftPixels` pixels each time it is drawn (vision.ts shiftPixels), which on
 * SLAKE's closed test roughly doubled how much better the aligned model answers with the image than
 * without it (measured before this stage was adopted: 5 points -> 12 points, free-text answers).
 * SLAKE's test split is disjoint from train and validate by image (PROVENANCE.md); VQA-RAD
 * training questions whose image, question and answer reappear among test items are dropped.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { isOpen, type Item } from "../data/item";
import { loadDataset } from "../data/registry";
import { loadSlake } from "../data/slake";
import { dataRoot } from "../paths";
import type { TeacherForcedExample, TeacherForcedOptions } from "./teacher-forced";

export type AlignOptions = Omit<TeacherForcedOptions, "onStep" | "signal"> & {
  /** Each caption appears this many times per pass over the examples (default 1). */
  captionRepeats?: number;
};

/** Names the alignment's data scheme in the checkpoint info (a new scheme remakes cached bases). */
export const ALIGN_METHOD = "captions, open and closed answers in words, shifted images";

/** Workshop: ~2 passes over the ~10,000 examples at 32 rows per step; smoke: a handful of steps. */
export const ALIGN_DEFAULTS: Record<"smoke" | "full", AlignOptions> = {
  smoke: { steps: 6, lr: 1e-3, batchRows: 4, seed: 7, maxPromptTokens: 40, maxTargetTokens: 8, padMultiple: 16, shiftPixels: 4, captionRepeats: 1 },
  full: { steps: 600, lr: 2e-3, batchRows: 32, seed: 7, maxPromptTokens: 64, maxTargetTokens: 16, padMultiple: 16, shiftPixels: 4, captionRepeats: 4 },
};

export interface AlignmentData {
  examples: TeacherForcedExample[];
  counts: { captions: number; slakeOpen: number; slakeClosed: number; vqaRadOpen: number; vqaRadClosed: number; images: number; droppedOverlap: number };
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
export async function alignmentData(root = dataRoot(), o: { captionRepeats?: number } = {}): Promise<AlignmentData> {
  const slakeFiles = [join(root, "slake", "train.json"), join(root, "slake", "validate.json")].filter(existsSync);
  if (slakeFiles.length === 0) throw Object.assign(new Error(`alignment: no SLAKE training split in ${join(root, "slake")} (train.json, validate.json)`), { name: "ConfigError" });
  // skipBad: one bad record (train qid 1622 has an empty answer) never stops the stage.
  const slake = slakeFiles.flatMap((f) => loadSlake(f, { skipBad: true }).items);
  const rad = (await loadDataset("vqa-rad", { root, split: "train" })).items;
  const radTest = (await loadDataset("vqa-rad", { root, split: "test" })).items;
  const testKeys = new Set(radTest.map((t) => `${t.images?.[0]?.path}\t${t.question.trim().toLowerCase()}`));
  const examples: TeacherForcedExample[] = [];
  const counts = { captions: 0, slakeOpen: 0, slakeClosed: 0, vqaRadOpen: 0, vqaRadClosed: 0, images: 0, droppedOverlap: 0 };
  const repeats = Math.max(1, Math.floor(o.captionRepeats ?? 1));
  const seen = new Set<string>();
  for (const it of slake) {
    const key = String(it.images?.[0]?.path);
    if (!seen.has(key)) {
      seen.add(key);
      const c = captionOf(it);
      if (c) {
        for (let r = 0; r < repeats; r++) examples.push({ prompt: "Describe the image.", images: it.images, target: c });
        counts.captions++;
      }
    }
    if (!it.answer.trim()) continue;
    examples.push({ prompt: it.question, images: it.images, target: it.answer.trim() });
    if (isOpen(it)) counts.slakeOpen++;
    else counts.slakeClosed++;
  }
  for (const it of rad) {
    if (!it.answer.trim()) continue;
    if (testKeys.has(`${it.images?.[0]?.path}\t${it.question.trim().toLowerCase()}`)) {
      counts.droppedOverlap++;
      continue;
    }
    examples.push({ prompt: it.question, images: it.images, target: it.answer.trim() });
    if (isOpen(it)) counts.vqaRadOpen++;
    else counts.vqaRadClosed++;
  }
  counts.images = seen.size;
  return { examples, counts };
}
