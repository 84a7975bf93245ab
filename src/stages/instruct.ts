/**
 * The "instruct" model: the shared base model (base.ts: language warm-up + vision-language
 * alignment) after a short instruction tuning on the recipe's own prompt: teacher-forced steps on
 * `<think>  </think>\n<answer> L </answer>` with L the item's key, over the closed questions of the
 * training splits (HuatuoGPT-o1, PubMedQA train, VQA-RAD train, SLAKE train) minus every item that
 * also appears in an evaluation set. The paper curates and trains from Qwen2.5-VL-*-Instruct, which
 * already answers multiple-choice questions about images in this format; this stage gives ours
 * the format and the step from "what the picture shows" (which the alignment taught it in words)
 * to "which option letter says it".
 *
 * No option letter is preferred: the options of text-only items are shuffled (seeded), so every
 * letter is the key equally often on questions the model cannot answer, and the yes/no questions
 * of the image sets (always "A. Yes", "B. No", as evaluation writes them) are keyed Yes and No about
 * equally often. (Earlier schemes, tried and measured on the workshop model: a random letter per
 * item left it answering B 63% and A 28% of the time; every letter of an item as a target, equally
 * often, left it with no preference but also with nothing linking the picture to a letter: it
 * answered one letter on every SLAKE question, with and without the image.) Images are shifted by
 * up to a few pixels each time they are drawn, as in the alignment.
 *
 * Made once per base checkpoint and kept in runs/instruct-<size>: its info records the base's
 * fingerprint, and a different base (retrained, resized) means a rebuild. A lock folder keeps two
 * processes from building it at once; the checkpoint is saved atomically and only a save whose
 * info says `stage: "instruct"` counts.
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { checkpointFingerprint } from "../model/fingerprint";
import { REPO_ROOT } from "../paths";
import { withLock } from "../dir-lock";
import { createProgress } from "../viz/progress";
import type { Item } from "../data/item";
import { EVALUATION_DATASETS } from "../data/pools";
import { buildPrompt, sftTarget } from "../prompt";
import { teacherForcedSteps, type TeacherForcedExample, type TeacherForcedOptions } from "../train/teacher-forced";
import { loadGrpoItems } from "../train/grpo-data";
import { Rng } from "../train/runs";
import { baseModelDir, ensureBaseModel, isSmoke, type BaseModelOptions } from "./base";
import { EmbeddedModel } from "../model/model";
import { ConfigError } from "../errors";

/**
 * Warm-up settings (teacher-forced steps; prompts within the 256 positions the base trained on,
 * long PubMedQA contexts middle-truncated to 160 tokens so that a batch is not padded to 256).
 * Workshop: ~4.5 passes over the ~3,600 prompts.
 */
export type InstructWarmup = Omit<TeacherForcedOptions, "onStep" | "signal">;

export const INSTRUCT_DEFAULTS: Record<"smoke" | "full", InstructWarmup> = {
  smoke: { steps: 40, lr: 1e-2, batchRows: 8, seed: 42, maxTargetTokens: 12, maxPromptTokens: 48, padMultiple: 16, schedule: "constant", shiftPixels: 2 },
  full: { steps: 500, lr: 2e-3, batchRows: 32, seed: 42, maxTargetTokens: 24, maxPromptTokens: 160, padMultiple: 32, schedule: "cosine", shiftPixels: 4 },
};

/** Names the warm-up's target scheme in the checkpoint info (a new scheme rebuilds cached models). */
export const INSTRUCT_METHOD = "key letters, text options shuffled, images shifted";

function warmupOf(o: InstructModelOptions, smoke: boolean): InstructWarmup {
  return { ...INSTRUCT_DEFAULTS[smoke ? "smoke" : "full"], ...o.warmup };
}

/** Training sources of the warm-up prompts (closed questions of their train splits). */
export const INSTRUCT_SOURCES = ["huatuo-o1", "pubmedqa-train", "vqa-rad", "slake-train"];

/** The item with its options in a seeded random order (the key moves with its text). */
export function shuffleOptions(it: Item, rng: Rng): Item {
  const letters = Object.keys(it.options);
  const texts = rng.shuffle(letters.map((L) => it.options[L]));
  const keyText = it.options[it.answer_label];
  const options = Object.fromEntries(letters.map((L, i) => [L, texts[i]]));
  return { ...it, options, answer_label: letters[texts.indexOf(keyText)] };
}

/**
 * Warm-up examples: the recipe's prompt and the key letter with empty thinking. Text-only items get
 * their options shuffled (seeded), so the key is every letter equally often; items with images keep
 * the order evaluation uses.
 */
export function instructExamples(items: Item[], seed = 42): TeacherForcedExample[] {
  const rng = new Rng(seed);
  return items.map((orig) => {
    const it = orig.images?.length ? orig : shuffleOptions(orig, rng);
    return { prompt: buildPrompt(it), images: it.images, target: sftTarget("", it.answer_label) };
  });
}
/** Evaluation sets whose items never serve as warm-up prompts. */
export const INSTRUCT_EXCLUDE: string[] = [...EVALUATION_DATASETS];

export interface InstructModelOptions {
  /** Model size (default workshop); smoke mode forces tiny. */
  size?: string;
  /** Default: MEDVLTHINKER_SMOKE=1. */
  smoke?: boolean;
  /** Progress bars (default true). */
  progress?: boolean;
  /** The instruct folder (default runs/instruct-<size>, runs/instruct-tiny-smoke in smoke mode). */
  out?: string;
  /** Options of the base model it starts from (size and smoke are taken from above). */
  base?: Omit<BaseModelOptions, "size" | "smoke" | "progress">;
  /** Override warm-up settings. */
  warmup?: Partial<InstructWarmup>;
  /** Dataset names of the warm-up prompts (default INSTRUCT_SOURCES) and the data root. */
  sources?: string[];
  dataRoot?: string;
  /** Use at most this many warm-up prompts (default: all; tests). */
  limit?: number;
  /** Notes (rebuilds, warm-up loss); default console.error. */
  log?: (message: string) => void;
}

function resolved(o: InstructModelOptions): { smoke: boolean; size: string; baseOpts: BaseModelOptions } {
  const smoke = o.smoke ?? isSmoke();
  const size = smoke ? "tiny" : o.size ?? "workshop";
  return { smoke, size, baseOpts: { ...o.base, size, smoke, progress: o.progress } };
}

/** Where the instruct model of these options lives (its checkpoint is <dir>/checkpoint). */
export function instructModelDir(o: InstructModelOptions = {}): string {
  const { smoke, size } = resolved(o);
  return resolve(o.out ?? join(REPO_ROOT, "runs", smoke ? "instruct-tiny-smoke" : `instruct-${size}`));
}


/**
 * Load the instruct model of the current base checkpoint, or make it: ensure the base model,
 * run the instruction tuning on training prompts, save to <dir>/checkpoint, return it.
 */
export async function ensureInstructModel(o: InstructModelOptions = {}): Promise<EmbeddedModel> {
  const { smoke, size, baseOpts } = resolved(o);
  const log = o.log ?? ((m: string) => console.error(m));
  const dir = instructModelDir(o);
  const ck = join(dir, "checkpoint");
  const ready = () => existsSync(join(ck, "config.json")) || existsSync(join(`${ck}.prev`, "config.json"));
  // The base first (it has its own lock): its fingerprint decides whether a saved instruct model counts.
  const base = await ensureBaseModel(baseOpts);
  const baseFp = checkpointFingerprint(join(baseModelDir(baseOpts), "checkpoint"));
  const loadFresh = async (): Promise<EmbeddedModel | null> => {
    if (!ready()) return null;
    const m = await EmbeddedModel.load(ck);
    // Same base, same warm-up method and settings: a changed warm-up rebuilds it too.
    if (m.info.stage === "instruct" && m.info.base_fingerprint === baseFp && m.info.method === INSTRUCT_METHOD && JSON.stringify(m.info.warmup) === JSON.stringify(warmupOf(o, smoke))) return m;
    m.dispose();
    return null;
  };
  const cached = await loadFresh();
  if (cached) {
    base.dispose();
    return cached;
  }
  mkdirSync(dir, { recursive: true });
  return withLock(`${dir}.lock`, async () => {
    const made = await loadFresh();
    if (made) {
      base.dispose();
      return made;
    }
    if (ready()) {
      const old = await EmbeddedModel.load(ck);
      const why = old.info.stage !== "instruct" ? "an unfinished build" : old.info.base_fingerprint !== baseFp ? `base ${String(old.info.base_fingerprint)} -> ${baseFp}` : "the warm-up changed";
      old.dispose();
      log(`instruct model in ${dir} is out of date (${why}); rebuilding`);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
    }
    const w: InstructWarmup = warmupOf(o, smoke);
    const sources = o.sources ?? INSTRUCT_SOURCES;
    const { items, report } = await loadGrpoItems({ sources, root: o.dataRoot, excludeEval: INSTRUCT_EXCLUDE, limit: o.limit ?? null, realNewline: false });
    if (items.length === 0) throw new ConfigError(`ensureInstructModel: no closed training items in ${sources.join(", ")}`);
    const bar = o.progress === false ? null : createProgress({ total: w.steps, label: `instruction tuning of the ${size} instruct model` });
    const t0 = Date.now();
    const r = await teacherForcedSteps(base.params, base.config, base.tokenizer, instructExamples(items, w.seed), { ...w, onStep: (_s, loss) => bar?.tick(1, `loss ${loss.toFixed(3)}`) });
    bar?.done();
    base.params = r.params;
    const seconds = (Date.now() - t0) / 1000;
    const excluded = Object.values(report.excludedByBenchmark).reduce((a, b) => a + b, 0);
    log(`instruct model: ${w.steps} instruction-tuning steps on ${items.length} training prompts (${excluded} overlapping eval items removed), loss ${r.losses[0]?.toFixed(3)} -> ${r.losses[r.losses.length - 1]?.toFixed(3)}, ${seconds.toFixed(0)} s`);
    // info.stage is written with the weights in one atomic save: only a finished build counts.
    const baseInfo = base.info;
    base.info = {};
    await base.save(ck, {
      stage: "instruct",
      base_info: baseInfo,
      base_fingerprint: baseFp,
      base_dir: baseModelDir(baseOpts),
      warmup: w,
      method: INSTRUCT_METHOD,
      sources,
      prompts: items.length,
      first_loss: r.losses[0],
      final_loss: r.losses[r.losses.length - 1],
      seconds,
    });
    return base;
  });
}
