/**
 * The paper's ablation in miniature (MedVLThinker Table 2's rows): from ONE instruct model,
 *
 *   base; SFT(text); SFT(image-text); RL(text); RL(image-text); RL(text)+RL(image-text);
 *   SFT(text)+RL(image-text)
 *
 * on two training pools disjoint from every evaluation set (data/pools.ts): text (HEAD-QA,
 * PubMedQA train, HuatuoGPT-o1: the m23k analogue) and image-text (SLAKE train + validate closed,
 * VQA-RAD train closed: the PMC-VQA analogue). Both pools are curated by the instruct model's pass
 * rate with the paper's filter (k = 16, keep 1..7, easy to hard; the workshop preset scores a seeded
 * sample of 256 items per pool: with 64, the image pool kept 11 items and 16 GRPO steps on them
 * taught the model to answer "A" to nearly every SLAKE question). SFT(text) trains on the
 * HuatuoGPT-o1 traces (the pool's only traces, as m23k's are GPT-4o's). SFT(image-text) needs
 * traces the image data does not have: it trains on a one-sentence trace written from SLAKE's own
 * annotations of the training image ("This is a CT image of the abdomen.") and the key, the only
 * reasoning the data supports without a larger model to distil from (VQA-RAD items, which have no
 * annotations, get an empty trace).
 *
 * Every row is evaluated with the same harness as a served model on the full closed test sets of
 * VQA-RAD (272) and SLAKE English (416), a fixed sample of MedXpertQA-MM (text only here: a blind
 * baseline) and of the text benchmarks, and again with images removed (blind). Each stage's
 * folder is named by a hash of its settings and of the checkpoint it starts from, so a rerun
 * (or another preset sharing a stage) reuses finished checkpoints and evaluation answers: the
 * run is resumable stage by stage, and evaluation item by item (runEval).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Item } from "../data/item";
import { loadTrainingPool, type PoolName } from "../data/pools";
import { curate } from "../curate/curate";
import { runEval, type EvalRun } from "../eval/harness";
import { compareRuns } from "../eval/compare";
import { loadBenchmarks } from "../eval/benchmarks";
import { mean, sampleStd } from "../eval/stats";
import { oneAnswerVerdict, type OneAnswerVerdict } from "../eval/ablation-table";
import { checkpointFingerprint } from "../model/fingerprint";
import { EmbeddedModel } from "../model/model";
import { EmbeddedPolicy } from "../policy/embedded";
import { REPO_ROOT } from "../paths";
import { writeFileAtomic } from "../atomic";
import { canonicalJson } from "../stable-json";
import { runSft } from "../train/sft";
import { trainGrpo } from "../train/grpo";
import { Rng } from "../train/runs";
import { readItemsJsonl, writeItemsJsonl } from "../data/jsonl";
import { ensureInstructModel, instructModelDir } from "./instruct";

export const ABLATION_ROWS = ["base", "SFT(text)", "SFT(image-text)", "RL(text)", "RL(image-text)", "RL(text)+RL(image-text)", "SFT(text)+RL(image-text)"] as const;
export type AblationRowName = (typeof ABLATION_ROWS)[number];

/** The paper's row for each of ours (MedVLThinker-3B, shared/reference/medvlthinker_results.csv). */
export const PAPER_ROWS: Record<AblationRowName, string> = {
  base: "Qwen2.5-VL-3B-Instruct",
  "SFT(text)": "MedVLThinker-3B SFT(m23k)",
  "SFT(image-text)": "MedVLThinker-3B SFT(PMC-VQA)",
  "RL(text)": "MedVLThinker-3B RL(m23k)",
  "RL(image-text)": "MedVLThinker-3B RL(PMC-VQA)",
  "RL(text)+RL(image-text)": "MedVLThinker-3B RL(m23k)+RL(PMC-VQA)",
  "SFT(text)+RL(image-text)": "MedVLThinker-3B SFT(m23k)+RL(PMC-VQA)",
};

export type AblationPresetName = "smoke" | "workshop" | "full";

export interface AblationPreset {
  name: AblationPresetName;
  smoke: boolean;
  size: string;
  seeds: number[];
  /** Items of each pool whose pass rate is estimated (a seeded sample; null: all). */
  curateItems: number | null;
  k: number;
  curateMaxTokens: number;
  sftSteps: number;
  rlSteps: number;
  rlPromptsPerStep: number;
  rlN: number;
  rlLr: number;
  maxTokens: number;
  /** Evaluation: full image benchmarks, a fixed sample of the others. */
  imageBenchmarks: string[];
  sampledBenchmarks: string[];
  sampleItems: number;
  /** Items per image benchmark (null: the full closed test set). */
  imageItems: number | null;
}

const WORKSHOP: AblationPreset = {
  name: "workshop",
  smoke: false,
  size: "workshop",
  seeds: [42],
  curateItems: 256,
  k: 16,
  curateMaxTokens: 16,
  sftSteps: 30,
  rlSteps: 16,
  rlPromptsPerStep: 8,
  rlN: 8,
  rlLr: 5e-5,
  // Room for a short trace before the answer (the SFT rows write one; the others stop after ~10 tokens).
  maxTokens: 96,
  imageBenchmarks: ["slake", "vqa-rad"],
  sampledBenchmarks: ["medxpertqa-mm", "medqa", "pubmedqa"],
  sampleItems: 64,
  imageItems: null,
};

export const ABLATION_PRESETS: Record<AblationPresetName, AblationPreset> = {
  smoke: { ...WORKSHOP, name: "smoke", smoke: true, size: "tiny", curateItems: 8, k: 4, curateMaxTokens: 8, sftSteps: 2, rlSteps: 2, rlPromptsPerStep: 2, rlN: 2, rlLr: 1e-3, maxTokens: 8, sampledBenchmarks: ["medqa"], sampleItems: 4, imageItems: 8 },
  workshop: WORKSHOP,
  full: { ...WORKSHOP, name: "full", seeds: [42, 43, 44] },
};

/** One row's figures on one benchmark (eval/ablation-table.ts oneAnswerVerdict: accuracy, interval, blind, constant letter, McNemar p-values, letter and yes/no shares). */
export type BenchmarkResult = OneAnswerVerdict;

export interface AblationRowResult {
  name: AblationRowName;
  seed: number;
  checkpoint: string;
  paper_row: string;
  seconds: number;
  benchmarks: Record<string, BenchmarkResult>;
}

export interface AblationResults {
  preset: AblationPresetName;
  out: string;
  instruct: string;
  pools: Record<PoolName, { items: number; scored: number; curated: number; used: string; curatedFile: string; goldLetters: Record<string, number> }>;
  rows: AblationRowResult[];
  /** full preset: mean and sample std of each row's accuracy over seeds. */
  summary: { name: AblationRowName; benchmark: string; mean: number; std: number; seeds: number }[];
  timings: Record<string, number>;
}

export interface AblationOptions {
  out?: string;
  log?: (m: string) => void;
  progress?: boolean;
  /** Only these rows (default all; "base" is always evaluated: the others are compared with it). */
  rows?: AblationRowName[];
}

const hash = (x: unknown) => createHash("sha256").update(canonicalJson(x)).digest("hex").slice(0, 10);

/** Sanitised folder name of a row. */
export function rowSlug(name: string): string {
  return name.toLowerCase().replace(/\(/g, "-").replace(/\)/g, "").replace(/\+/g, "_").replace(/[^a-z0-9_-]/g, "");
}

/** One sentence from SLAKE's annotations of the item's image (null: none to write from). */
export function annotationTrace(it: Item): string {
  const m = it.misc?.modality;
  const r = it.misc?.organ;
  if (typeof m === "string" && typeof r === "string" && m && r) return `This is a ${m} image of the ${r.replace(/_/g, " ").toLowerCase()}.`;
  return "";
}

function seededSample<T>(xs: T[], n: number | null, seed: number): T[] {
  if (n === null || xs.length <= n) return xs;
  return new Rng(seed).shuffle(xs).slice(0, n);
}

/** Run (or resume) the ablation of a preset. Same call from the CLI, notebook 06 and the bench. */
export async function runAblation(presetName: AblationPresetName, opts: AblationOptions = {}): Promise<AblationResults> {
  const p = ABLATION_PRESETS[presetName];
  if (!p) throw Object.assign(new Error(`unknown ablation preset '${presetName}' (${Object.keys(ABLATION_PRESETS).join(", ")})`), { name: "ConfigError" });
  const log = opts.log ?? ((m: string) => console.error(m));
  const out = resolve(opts.out ?? join(REPO_ROOT, "runs", `ablation-${p.name}`));
  const stages = join(out, "stages");
  mkdirSync(stages, { recursive: true });
  const wanted = new Set<AblationRowName>(["base", ...(opts.rows ?? ABLATION_ROWS)]);
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await f();
    } finally {
      timings[name] = (timings[name] ?? 0) + (Date.now() - t0) / 1000;
    }
  };

  // 1. The instruct model every row starts from.
  const instruct = await timed("instruct", async () => {
    const m = await ensureInstructModel({ size: p.size, smoke: p.smoke, progress: opts.progress });
    m.dispose();
    return join(instructModelDir({ size: p.size, smoke: p.smoke }), "checkpoint");
  });
  const instructFp = checkpointFingerprint(instruct);

  // 2. Pools, curated by the instruct model's pass rate (paper's filter).
  const pools = {} as AblationResults["pools"];
  const curatedFile = {} as Record<PoolName, string>;
  const sftTextItems: Item[] = [];
  for (const name of ["text", "image-text"] as PoolName[]) {
    await timed(`curate ${name}`, async () => {
      const pool = await loadTrainingPool(name);
      if (name === "text") sftTextItems.push(...pool.sft);
      const items = seededSample(pool.items, p.curateItems, 42);
      const policy = new EmbeddedPolicy(await EmbeddedModel.load(instruct), { name: `ablation-instruct-${instructFp}`, batchSize: 16 });
      const r = await curate(
        // One folder per pool: a curation run folder is named by the policy and sampling, not the data.
        { data: [name], k: p.k, out: join(stages, "curate", name), sampling: { temperature: 1, max_tokens: p.curateMaxTokens, seed: 42 }, concurrency: 1, batchSize: 4 },
        policy,
        { sources: [{ id: name, items, indices: items.map((_, i) => i) }], progress: opts.progress, log },
      );
      await policy.close();
      const gold: Record<string, number> = {};
      for (const it of r.curated) gold[it.answer_label] = (gold[it.answer_label] ?? 0) + 1;
      // A curated set too small for one RL step (the tiny smoke model solves nothing) falls back to
      // every scored item; results.json records which was used.
      const enough = r.curated.length >= p.rlPromptsPerStep;
      const file = enough ? r.files.curatedJsonl : join(stages, `${name}-scored-fallback.jsonl`);
      if (!enough) writeItemsJsonl(file, r.scored);
      pools[name] = { items: pool.items.length, scored: r.scored.length, curated: r.curated.length, used: enough ? "curated" : "scored (curated set smaller than one RL step)", curatedFile: file, goldLetters: gold };
      curatedFile[name] = file;
      log(`ablation: ${name} pool ${pool.items.length} items, ${r.scored.length} scored, ${r.curated.length} kept (gold letters ${JSON.stringify(gold)})${enough ? "" : "; training on the scored items"}`);
    });
  }
  // SFT data as interchange files (loadPath reads them): traces for text, annotation traces for image-text.
  const sftFiles: Record<PoolName, string> = { text: join(stages, "sft-text-items.jsonl"), "image-text": join(stages, "sft-image-text-items.jsonl") };
  writeItemsJsonl(sftFiles.text, sftTextItems);
  const curatedImage = readItemsJsonl(curatedFile["image-text"]).items;
  writeItemsJsonl(sftFiles["image-text"], curatedImage.map((it) => ({ ...it, reasoning: annotationTrace(it) })));

  const rows: AblationRowResult[] = [];
  for (const seed of p.seeds) {
    // 3. Training stages, each cached in a folder named by its settings and starting checkpoint.
    const sft = async (pool: PoolName, init: string): Promise<string> => {
      const key = hash({ kind: "sft", pool, init: checkpointFingerprint(init), seed, steps: p.sftSteps, data: readFileSync(sftFiles[pool], "utf8").length, preset: p.name });
      const dir = join(stages, `sft-${pool}-${key}`);
      const done = join(dir, "summary.json");
      if (!existsSync(done)) {
        await runSft(
          { preset: p.smoke ? "smoke" : "workshop", out: dir, model: { init, size: p.size as "workshop" }, data: { sources: [sftFiles[pool]], limit: null, heldOutFraction: 0.05 }, train: { seed, maxSteps: p.sftSteps, reportEpoch: null, saveEvery: 0, evalEvery: 0 } },
          { overwrite: true, progress: opts.progress, log },
        );
      }
      const s = JSON.parse(readFileSync(done, "utf8")) as { finalCheckpoint: string };
      return s.finalCheckpoint;
    };
    const rl = async (pool: PoolName, init: string): Promise<string> => {
      const key = hash({ kind: "rl", pool, init: checkpointFingerprint(init), seed, steps: p.rlSteps, n: p.rlN, pps: p.rlPromptsPerStep, lr: p.rlLr, data: readFileSync(curatedFile[pool], "utf8").length, preset: p.name });
      const dir = join(stages, `rl-${pool}-${key}`);
      const marker = join(dir, "done.json");
      if (!existsSync(marker)) {
        const nItems = readFileSync(curatedFile[pool], "utf8").split("\n").filter(Boolean).length;
        const perEpoch = Math.max(1, Math.floor(nItems / p.rlPromptsPerStep));
        const r = await trainGrpo(
          {
            preset: p.smoke ? "smoke" : "workshop",
            out: dir,
            model: { init, size: p.size as "workshop" },
            data: { sources: [curatedFile[pool]], limit: null },
            rollout: { promptsPerStep: p.rlPromptsPerStep, n: p.rlN },
            actor: { lr: p.rlLr, miniBatchPrompts: p.rlPromptsPerStep },
            warmup: { formatSteps: 0 },
            train: { seed, epochs: Math.max(1, Math.ceil(p.rlSteps / perEpoch)), maxSteps: p.rlSteps, saveEvery: 0 },
          },
          { resume: existsSync(join(dir, "config.json")), progress: opts.progress, log },
        );
        r.model.dispose();
        if (!r.finished || !r.finalCheckpoint) throw new Error(`ablation: GRPO run ${dir} did not finish`);
        writeFileAtomic(marker, JSON.stringify({ finalCheckpoint: r.finalCheckpoint }) + "\n");
      }
      return (JSON.parse(readFileSync(marker, "utf8")) as { finalCheckpoint: string }).finalCheckpoint;
    };
    const checkpoints = {} as Record<AblationRowName, string>;
    const t = async (name: AblationRowName, f: () => Promise<string>) => {
      if (wanted.has(name)) checkpoints[name] = await timed(`train ${name}`, f);
    };
    checkpoints.base = instruct;
    await t("SFT(text)", () => sft("text", instruct));
    await t("SFT(image-text)", () => sft("image-text", instruct));
    await t("RL(text)", () => rl("text", instruct));
    await t("RL(image-text)", () => rl("image-text", instruct));
    await t("RL(text)+RL(image-text)", async () => rl("image-text", checkpoints["RL(text)"] ?? (await rl("text", instruct))));
    await t("SFT(text)+RL(image-text)", async () => rl("image-text", checkpoints["SFT(text)"] ?? (await sft("text", instruct))));

    // 4. Evaluation: every row with and without images, on the same items.
    const loaded = await loadBenchmarks([...p.imageBenchmarks, ...p.sampledBenchmarks]);
    const datasets: Record<string, Item[]> = {};
    for (const b of loaded) datasets[b.id] = p.imageBenchmarks.includes(b.id) ? (p.imageItems === null ? b.items : b.items.slice(0, p.imageItems)) : seededSample(b.items, p.sampleItems, 42);
    const blindSets = Object.fromEntries(p.imageBenchmarks.map((id) => [id, datasets[id].map((it) => ({ ...it, images: null }))]));
    const evalOne = async (name: AblationRowName, blind: boolean): Promise<EvalRun> => {
      const ck = checkpoints[name];
      const fp = checkpointFingerprint(ck);
      const policy = new EmbeddedPolicy(await EmbeddedModel.load(ck), { name: `${rowSlug(name)}-${fp}`, batchSize: 16 });
      try {
        return await runEval(
          { model: `${rowSlug(name)}-${fp}${blind ? "-blind" : ""}`, benchmarks: Object.keys(blind ? blindSets : datasets), runs: 1, out: join(out, "eval"), batchSize: 16, concurrency: 1, sampling: { temperature: 0, max_tokens: p.maxTokens, seed: 42 }, prompt: { ignoreImages: blind } },
          policy,
          { datasets: blind ? blindSets : datasets, progress: opts.progress, log },
        );
      } finally {
        await policy.close();
      }
    };
    const runsOf = {} as Record<AblationRowName, { own: EvalRun; blind: EvalRun; seconds: number }>;
    for (const name of ABLATION_ROWS) {
      if (!checkpoints[name]) continue;
      const t0 = Date.now();
      const own = await timed(`eval ${name}`, () => evalOne(name, false));
      const blind = await timed(`eval ${name}`, () => evalOne(name, true));
      runsOf[name] = { own, blind, seconds: (Date.now() - t0) / 1000 };
    }
    const recs = (run: EvalRun, id: string) => run.records.filter((r) => r.benchmark === id && r.run === 0 && r.sample === 0);
    for (const name of ABLATION_ROWS) {
      const r = runsOf[name];
      if (!r) continue;
      const benchmarks: Record<string, BenchmarkResult> = {};
      for (const [id, items] of Object.entries(datasets)) {
        const isImage = p.imageBenchmarks.includes(id);
        benchmarks[id] = oneAnswerVerdict(items, recs(r.own, id), isImage ? recs(r.blind, id) : null, name === "base" ? null : recs(runsOf.base.own, id));
      }
      rows.push({ name, seed, checkpoint: resolve(checkpoints[name]), paper_row: PAPER_ROWS[name], seconds: r.seconds, benchmarks });
    }
    // compareRuns is the harness's paired view; its McNemar equals ours on the same records.
    void compareRuns;
  }

  const summary: AblationResults["summary"] = [];
  for (const name of ABLATION_ROWS) {
    const mine = rows.filter((r) => r.name === name);
    if (!mine.length) continue;
    for (const id of Object.keys(mine[0].benchmarks)) {
      const accs = mine.map((r) => r.benchmarks[id].accuracy);
      summary.push({ name, benchmark: id, mean: mean(accs), std: accs.length > 1 ? sampleStd(accs) : 0, seeds: accs.length });
    }
  }
  const results: AblationResults = { preset: p.name, out, instruct: resolve(instruct), pools, rows, summary, timings };
  writeFileAtomic(join(out, "results.json"), JSON.stringify(results, null, 2) + "\n");
  return results;
}
