/**
 * The "instruct" model: the shared base model (base.ts: language warm-up + vision-language
 * alignment) after a short, letter-balanced format warm-up: teacher-forced steps on
 * `<think> </think>\n<answer> L </answer>` where every option letter L of an item is a target
 * once per pass over the prompts (train/teacher-forced.ts, instructExamples). The paper curates
 * and trains from Qwen2.5-VL-*-Instruct, which already writes the answer format when asked; our
 * base model has not seen the paper's prompt. This stage gives it the format and, because each
 * item's letters are all targets equally often, no preference for any option letter and nothing
 * about which answer is right, so pass rates (notebook 02) and GRPO rewards (notebook 04) measure
 * the model rather than the format gate or a letter habit. (A uniformly random letter per item,
 * the earlier warm-up, left the workshop model answering B 63% and A 28% of the time: most prompts
 * have two or three options, so A and B were the targets most often seen.)
 *
 * Made once per base checkpoint and kept in runs/instruct-<size>: its info records the base's
 * fingerprint, and a different base (retrained, resized) means a rebuild. Warm-up prompts are
 * training items only (Huatuo, PubMedQA train, VQA-RAD train closed, SLAKE train closed) minus
 * every item that also appears in an evaluation set. A lock folder keeps two processes from
 * building it at once; the checkpoint is saved atomically and only a save whose info says
 * `stage: "instruct"` counts.
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
import { baseModelDir, ensureBaseModel, isSmoke, type BaseModelOptions } from "./base";
import { EmbeddedModel } from "../model/model";
import { ConfigError } from "../errors";

/** Warm-up settings (teacher-forced steps; prompts within the 256 positions the base trained on). */
export type InstructWarmup = Omit<TeacherForcedOptions, "onStep" | "signal">;

export const INSTRUCT_DEFAULTS: Record<"smoke" | "full", InstructWarmup> = {
  smoke: { steps: 40, lr: 1e-2, batchRows: 8, seed: 42, maxTargetTokens: 12, maxPromptTokens: 48, padMultiple: 16, schedule: "constant" },
  full: { steps: 60, lr: 2e-3, batchRows: 8, seed: 42, maxTargetTokens: 24, maxPromptTokens: 224, padMultiple: 32, schedule: "constant" },
};

/** Names the warm-up's target scheme in the checkpoint info (a new scheme rebuilds cached models). */
export const INSTRUCT_METHOD = "letter-balanced, grouped";

function warmupOf(o: InstructModelOptions, smoke: boolean): InstructWarmup {
  return { ...INSTRUCT_DEFAULTS[smoke ? "smoke" : "full"], ...o.warmup };
}

/** Training sources of the warm-up prompts (closed questions of their train splits). */
export const INSTRUCT_SOURCES = ["huatuo-o1", "pubmedqa-train", "vqa-rad", "slake-train"];

/**
 * Letter-balanced warm-up examples: each item once per option letter, the target naming that
 * letter with empty thinking, all of an item's letters in the same batch (one group). Every step's
 * letter loss is then the cross-entropy to the uniform distribution over each item's options: it
 * pulls towards no letter, with none of the step-to-step drift a random letter per item leaves (the
 * workshop instruct model made with random letters per row still preferred B on yes/no prompts, and
 * the pass-rate filter then kept SLAKE items keyed A almost only: 28 of 30).
 */
export function instructExamples(items: Item[]): TeacherForcedExample[] {
  return items.flatMap((it, i) => Object.keys(it.options).map((L) => ({ prompt: buildPrompt(it), images: it.images, target: sftTarget("", L), group: i })));
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
 * run the format warm-up on training prompts, save to <dir>/checkpoint, return it.
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
    const bar = o.progress === false ? null : createProgress({ total: w.steps, label: `format warm-up of the ${size} instruct model` });
    const t0 = Date.now();
    const r = await teacherForcedSteps(base.params, base.config, base.tokenizer, instructExamples(items), { ...w, onStep: (_s, loss) => bar?.tick(1, `loss ${loss.toFixed(3)}`) });
    bar?.done();
    base.params = r.params;
    const seconds = (Date.now() - t0) / 1000;
    const excluded = Object.values(report.excludedByBenchmark).reduce((a, b) => a + b, 0);
    log(`instruct model: ${w.steps} letter-balanced format steps on ${items.length} training prompts (${excluded} overlapping eval items removed), loss ${r.losses[0]?.toFixed(3)} -> ${r.losses[r.losses.length - 1]?.toFixed(3)}, ${seconds.toFixed(0)} s`);
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
