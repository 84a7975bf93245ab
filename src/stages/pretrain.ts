/**
 * Language-modelling warm-up ("pretraining") of the embedded model on medical text, so that SFT and
 * RL start from a model that has seen the vocabulary. Fits the tokenizer to the corpus (unless one
 * is given), trains on random windows of the token stream, records metrics.jsonl (step, loss, lr,
 * grad norm, tokens/s, RSS; held-out loss every evalEvery steps) and saves the checkpoint to
 * <out>/checkpoint (atomically, also every saveEvery steps).
 */
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { imageTokens, patchDim, sizeConfig, type ModelConfig } from "../model/config";
import type { HostBatch } from "../model/batch";
import { initParams, makeRng } from "../model/params";
import { TextTokenizer } from "../model/tokenizer";
import { loadCorpus, type CorpusPreset, type Document } from "./corpus";
import { LmTrainer, type MicroBatch } from "../train/lm-step";
import { cosineWithWarmup, warmupSteps } from "../train/schedule";
import { initEngine } from "../model/engine";
import { saveCheckpoint } from "../model/checkpoint";
import { EmbeddedModel } from "../model/model";
import { writeFileAtomic } from "../atomic";
import { ropeTables } from "../model/transformer";
import { ConfigError } from "../errors";

export interface PretrainOptions {
  size: string;
  out: string;
  steps: number;
  batchSize: number;
  /** Tokens per training window (<= maxSeq). */
  seqLen: number;
  lr: number;
  warmupRatio: number;
  weightDecay: number;
  seed: number;
  corpus: CorpusPreset;
  /** Fit at most this many characters for the tokenizer (speed). */
  tokenizerChars: number;
  evalEvery: number;
  saveEvery: number;
  /** Stop after this many seconds of training (0 = no limit); the schedule still spans `steps`. */
  maxSeconds?: number;
  /** Override model config fields (vocabSize sets the tokenizer size). */
  overrides?: Partial<ModelConfig>;
  /** Given documents instead of the shared corpus (tests). */
  documents?: Document[];
  tokenizer?: TextTokenizer;
  onLog?: (m: Record<string, number>) => void;
}

export const PRETRAIN_DEFAULTS: Record<string, Omit<PretrainOptions, "size" | "out">> = {
  tiny: { steps: 30, batchSize: 4, seqLen: 64, lr: 3e-3, warmupRatio: 0.1, weightDecay: 0.01, seed: 0, corpus: "train", tokenizerChars: 300_000, evalEvery: 10, saveEvery: 0 },
  workshop: { steps: 400, batchSize: 4, seqLen: 256, lr: 2e-3, warmupRatio: 0.05, weightDecay: 0.01, seed: 0, corpus: "train", tokenizerChars: 2_000_000, evalEvery: 50, saveEvery: 200 },
  small: { steps: 3000, batchSize: 4, seqLen: 512, lr: 1e-3, warmupRatio: 0.05, weightDecay: 0.01, seed: 0, corpus: "train", tokenizerChars: 4_000_000, evalEvery: 200, saveEvery: 500 },
  reference: { steps: 1000, batchSize: 8, seqLen: 256, lr: 1e-3, warmupRatio: 0.05, weightDecay: 0.01, seed: 0, corpus: "train", tokenizerChars: 4_000_000, evalEvery: 100, saveEvery: 500 },
};

function windowBatch(stream: Int32Array, B: number, T: number, rng: ReturnType<typeof makeRng>, padId: number, c: ModelConfig) {
  const tokens = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const start = Math.floor(rng.uniform() * Math.max(1, stream.length - T - 1));
    for (let t = 0; t < T; t++) {
      tokens[b * T + t] = stream[start + t] ?? padId;
      targets[b * T + t] = stream[start + t + 1] ?? padId;
    }
  }
  return lmInputs(tokens, targets, B, T, c);
}

/** Text-only host batch of full windows (no padding, every target scored). */
export function lmInputs(tokens: Int32Array, targets: Int32Array, B: number, T: number, c: ModelConfig): MicroBatch {
  const patchRows = B * imageTokens(c) * c.maxImages;
  const { cos, sin } = ropeTables(c, Array.from({ length: T }, (_, i) => i));
  const batch: HostBatch = {
    B,
    T,
    tokens,
    targets,
    patches: new Float32Array(patchRows * patchDim(c)),
    patchRows,
    imageIndex: new Int32Array(B * T),
    isImage: new Float32Array(B * T),
    keyMask: new Float32Array(B * T).fill(1),
    cos,
    sin,
    length: new Array<number>(B).fill(T),
  };
  return { batch, mask: new Float32Array(B * T).fill(1) };
}

export interface PretrainResult {
  model: EmbeddedModel;
  metricsPath: string;
  checkpointDir: string;
  finalLoss: number;
  heldOutLoss: number | null;
  heldOutBitsPerChar: number | null;
  steps: number;
  tokensPerSecond: number;
}

export async function pretrain(o: PretrainOptions): Promise<PretrainResult> {
  await initEngine();
  mkdirSync(o.out, { recursive: true });
  const docs = o.documents ?? loadCorpus(o.corpus);
  const rng = makeRng(o.seed);
  // Hold out every 20th document for validation loss.
  const train = docs.filter((_, i) => i % 20 !== 19);
  const held = docs.filter((_, i) => i % 20 === 19);
  const base = sizeConfig(o.size, o.overrides);
  let tok = o.tokenizer;
  if (!tok) {
    const sample: string[] = [];
    let n = 0;
    for (const d of train) {
      if (n >= o.tokenizerChars) break;
      sample.push(d.text);
      n += d.text.length;
    }
    tok = TextTokenizer.fit(sample, base.vocabSize);
  }
  const config = sizeConfig(o.size, { ...o.overrides, vocabSize: tok.vocabSize });
  if (o.seqLen > config.maxSeq) throw new ConfigError(`seqLen ${o.seqLen} exceeds the context ${config.maxSeq}`);
  const toStream = (ds: Document[]) => {
    const ids: number[] = [];
    for (const d of ds) {
      for (const id of tok!.encode(d.text)) ids.push(id);
      ids.push(tok!.ids.end);
    }
    return Int32Array.from(ids);
  };
  const stream = toStream(train);
  const heldStream = toStream(held);
  // Characters per held-out token: turns loss per token into bits per character, which compares
  // tokenizers of different vocabularies fairly.
  const heldChars = held.reduce((a, d) => a + d.text.length + 1, 0);
  const charsPerToken = heldChars / Math.max(1, heldStream.length);
  writeFileAtomic(
    join(o.out, "run.json"),
    JSON.stringify({ ...o, documents: undefined, tokenizer: undefined, onLog: undefined, config, corpusDocs: docs.length, trainTokens: stream.length, heldOutTokens: heldStream.length, contaminated: o.corpus === "all" }, null, 2),
  );
  const metricsPath = join(o.out, "metrics.jsonl");
  writeFileSync(metricsPath, "");
  const trainer = new LmTrainer(initParams(config, o.seed), config, { lr: o.lr, weightDecay: o.weightDecay, beta1: 0.9, beta2: 0.95, eps: 1e-8, maxGradNorm: 1.0 });
  const sched = { peak: o.lr, warmupSteps: warmupSteps(o.warmupRatio, o.steps), totalSteps: o.steps, minRatio: 0.1 };
  const heldRng = makeRng(o.seed + 1);
  const evalHeld = async () => {
    if (heldStream.length < o.seqLen + 2) return null;
    let s = 0;
    const k = 4;
    for (let i = 0; i < k; i++) {
      const b = windowBatch(heldStream, o.batchSize, o.seqLen, heldRng, tok!.ids.pad, config);
      s += await trainer.evalLoss(b);
    }
    return s / k;
  };
  const ckDir = join(o.out, "checkpoint");
  let lastLoss = NaN;
  let heldLoss: number | null = null;
  const t0 = performance.now();
  let tokens = 0;
  let stepsDone = 0;
  for (let step = 0; step < o.steps; step++) {
    if (o.maxSeconds && (performance.now() - t0) / 1000 > o.maxSeconds) break;
    stepsDone = step + 1;
    const lr = cosineWithWarmup(step + 1, sched);
    const b = windowBatch(stream, o.batchSize, o.seqLen, rng, tok.ids.pad, config);
    const ts = performance.now();
    const r = await trainer.step(b, lr);
    tokens += o.batchSize * o.seqLen;
    lastLoss = r.loss;
    const m: Record<string, number> = {
      step: step + 1,
      loss: r.loss,
      lr,
      grad_norm: r.gradNorm,
      step_ms: performance.now() - ts,
      tokens_per_s: tokens / ((performance.now() - t0) / 1000),
      rss_mb: process.memoryUsage().rss / 1e6,
    };
    const timeUp = !!o.maxSeconds && (performance.now() - t0) / 1000 > o.maxSeconds;
    if ((step + 1) % o.evalEvery === 0 || step + 1 === o.steps || timeUp) {
      heldLoss = await evalHeld();
      if (heldLoss !== null) {
        m.held_out_loss = heldLoss;
        m.held_out_bits_per_char = heldLoss / Math.LN2 / charsPerToken;
      }
    }
    appendFileSync(metricsPath, JSON.stringify(m) + "\n");
    o.onLog?.(m);
    if (o.saveEvery > 0 && (step + 1) % o.saveEvery === 0 && step + 1 < o.steps) {
      await saveCheckpoint(ckDir, trainer.params, config, tok, { info: { step: step + 1, stage: "pretrain" } });
    }
  }
  const tps = tokens / ((performance.now() - t0) / 1000);
  const params = trainer.params;
  trainer.dispose();
  const model = new EmbeddedModel(params, config, tok);
  await model.save(ckDir, { step: stepsDone, stage: "pretrain", corpus: o.corpus, final_loss: lastLoss, held_out_loss: heldLoss });
  return { model, metricsPath, checkpointDir: ckDir, finalLoss: lastLoss, heldOutLoss: heldLoss, heldOutBitsPerChar: heldLoss === null ? null : heldLoss / Math.LN2 / charsPerToken, steps: stepsDone, tokensPerSecond: tps };
}
