/**
 * The shared base model: the language-model warm-up (pretrain.ts) of a size followed by the
 * vision-language alignment (train/align.ts: captions and open questions of the image-text
 * training splits), made once and kept in runs/base-<size>, so notebooks 02-06 start from the
 * same weights, a model that has looked at images, whatever order they run in.
 * A lock folder keeps two processes from warming up the same base at once (the second waits).
 * Smoke mode (MEDVLTHINKER_SMOKE=1 or `smoke: true`) uses the tiny config and a handful of steps.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { REPO_ROOT } from "../paths";
import { withLock } from "../dir-lock";
import { createProgress } from "../viz/progress";
import { ALIGN_DEFAULTS, ALIGN_METHOD, alignmentData, type AlignOptions } from "../train/align";
import { teacherForcedSteps } from "../train/teacher-forced";
import { sizeConfig, type ModelConfig } from "../model/config";
import { EmbeddedModel } from "../model/model";
import { PRETRAIN_DEFAULTS, pretrain, type PretrainOptions } from "./pretrain";
import { ConfigError } from "../errors";

export interface BaseModelOptions {
  /** Model size (tiny, workshop, small, reference); smoke mode forces tiny. Default workshop. */
  size?: string;
  /** Default: MEDVLTHINKER_SMOKE=1. */
  smoke?: boolean;
  /** The base folder (default runs/base-<size>, or runs/base-tiny-smoke in smoke mode). */
  out?: string;
  /** Override warm-up options (steps, lr, ...). */
  pretrain?: Partial<Omit<PretrainOptions, "size" | "out">>;
  /** Show a progress bar while warming up (default true). */
  progress?: boolean;
  /** Override alignment options (steps, lr, ...); `false`: no alignment (a text-only base). */
  align?: Partial<AlignOptions> | false;
}

export function isSmoke(): boolean {
  return process.env.MEDVLTHINKER_SMOKE === "1";
}

/** Where the base model of these options lives (its checkpoint is <dir>/checkpoint). */
export function baseModelDir(o: BaseModelOptions = {}): string {
  const smoke = o.smoke ?? isSmoke();
  const size = smoke ? "tiny" : o.size ?? "workshop";
  return resolve(o.out ?? join(REPO_ROOT, "runs", smoke ? "base-tiny-smoke" : `base-${size}`));
}


/**
 * Fields where a saved base model's config differs from today's config of its size (vocabulary
 * aside: it comes from the fitted tokenizer). Non-empty means the cache predates a change of the
 * size's config and is rebuilt.
 */
export function staleFields(saved: ModelConfig, size: string): string[] {
  const now = sizeConfig(size, { vocabSize: saved.vocabSize });
  return (Object.keys(now) as (keyof ModelConfig)[]).filter((k) => now[k] !== saved[k]).map((k) => `${k} ${saved[k]} -> ${now[k]}`);
}

/**
 * Load the warmed-up base model, or make it: run the warm-up with a progress bar, save it to
 * <dir>/checkpoint, return it. Later calls (any process) load the saved one.
 */
export async function ensureBaseModel(o: BaseModelOptions = {}): Promise<EmbeddedModel> {
  const smoke = o.smoke ?? isSmoke();
  const size = smoke ? "tiny" : o.size ?? "workshop";
  const dir = baseModelDir(o);
  const ck = join(dir, "checkpoint");
  // The language warm-up alone, kept so that a changed alignment does not redo the warm-up.
  const language = join(dir, "language");
  const alignSettings = o.align === false ? null : { ...ALIGN_DEFAULTS[smoke ? "smoke" : "full"], ...o.align };
  const alignedAsNow = (info: Record<string, unknown>) => {
    if (alignSettings === null) return true;
    const a = info.align as { method?: string; settings?: unknown } | undefined;
    return a?.method === ALIGN_METHOD && JSON.stringify(a.settings) === JSON.stringify(alignSettings);
  };
  const ready = () => existsSync(join(ck, "config.json")) || existsSync(join(`${ck}.prev`, "config.json"));
  const loadFresh = async (): Promise<EmbeddedModel | null> => {
    if (!ready()) return null;
    const m = await EmbeddedModel.load(ck);
    const stale = staleFields(m.config, size);
    // Only a finished warm-up counts (its final save records final_loss; mid-run saves do not),
    // and, unless alignment is off, only one aligned with today's method and settings.
    if (stale.length === 0 && m.info.stage === "pretrain" && m.info.final_loss !== undefined && alignedAsNow(m.info)) return m;
    m.dispose();
    return null;
  };
  const cached = await loadFresh();
  if (cached) return cached;
  mkdirSync(dir, { recursive: true });
  // The alignment stage on a finished language warm-up; saved with info.align, atomically.
  const alignStage = async (m: EmbeddedModel): Promise<EmbeddedModel> => {
    if (alignSettings === null) return m;
    const a = alignSettings;
    await m.save(language);
    const data = await alignmentData(undefined, { captionRepeats: a.captionRepeats });
    const bar = o.progress === false ? null : createProgress({ total: a.steps, label: `vision-language alignment of the ${size} base model` });
    const t0 = Date.now();
    const r = await teacherForcedSteps(m.params, m.config, m.tokenizer, data.examples, { ...a, onStep: (_s, loss) => bar?.tick(1, `loss ${loss.toFixed(3)}`) });
    bar?.done();
    m.params = r.params;
    await m.save(ck, { align: { method: ALIGN_METHOD, settings: a, ...a, examples: data.examples.length, counts: data.counts, first_loss: r.losses[0], final_loss: r.losses[r.losses.length - 1], seconds: (Date.now() - t0) / 1000 } });
    return m;
  };
  return withLock(`${dir}.lock`, async () => {
    const made = await loadFresh(); // made by another process while we waited
    if (made) return made;
    // A finished language warm-up of today's config whose alignment changed: realign it.
    // (Only when the saved base is of today's config: an older config is moved aside below, language copy included.)
    const savedConfigStale = ready() && existsSync(join(ck, "config.json")) && staleFields((JSON.parse(readFileSync(join(ck, "config.json"), "utf8")) as { model: ModelConfig }).model, size).length > 0;
    if (alignSettings !== null && !savedConfigStale && existsSync(join(language, "config.json"))) {
      const lm = await EmbeddedModel.load(language);
      if (staleFields(lm.config, size).length === 0 && lm.info.stage === "pretrain" && lm.info.final_loss !== undefined) {
        lm.info = { ...lm.info, align: undefined };
        return alignStage(lm);
      }
      lm.dispose();
    }
    if (ready()) {
      const old = await EmbeddedModel.load(ck);
      const stale = staleFields(old.config, size);
      // A finished language warm-up of today's config that only lacks the alignment: align it.
      if (stale.length === 0 && old.info.stage === "pretrain" && old.info.final_loss !== undefined && old.info.align === undefined) return alignStage(old);
      // A base model from an older config of this size: keep it aside, make today's.
      const why = stale.join(", ") || (old.info.final_loss === undefined ? "an unfinished warm-up" : "its alignment stage changed");
      old.dispose();
      const aside = `${dir}.stale-${Date.now()}`;
      console.warn(`base model in ${dir} is out of date (${why}); moved to ${aside} and warming up again`);
      renameSync(dir, aside);
      mkdirSync(dir, { recursive: true });
    }
    const d = PRETRAIN_DEFAULTS[size];
    if (!d) throw new ConfigError(`ensureBaseModel: unknown size '${size}' (${Object.keys(PRETRAIN_DEFAULTS).join(", ")})`);
    const opts: PretrainOptions = { ...d, ...(smoke ? { steps: 12, evalEvery: 6, tokenizerChars: 200_000 } : {}), ...o.pretrain, size, out: dir };
    const bar = o.progress === false ? null : createProgress({ total: opts.steps, label: `warm-up of the ${size} base model` });
    const userLog = opts.onLog;
    const r = await pretrain({
      ...opts,
      onLog: (m) => {
        bar?.tick(1, `loss ${m.loss.toFixed(3)}`);
        userLog?.(m);
      },
    });
    bar?.done();
    return alignStage(r.model);
  });
}
