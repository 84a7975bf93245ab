/**
 * Embedded-model speed and memory, with the PyTorch reference timed in the same run.
 *
 * Reference model (platform.md): vocab 4096, d 256, 4 layers, 4 heads, MLP 1024 (SwiGLU here, in
 * both engines), context 256, batch 8. Measures the project's training tokens/s (the real
 * LmTrainer: gradients + AdamW) and sampling tokens/s (KV-cache decode, batch 8, the real Sampler)
 * on the engine the project picks (onnxruntime when it loads, else jax-js; force one with
 * MEDVLTHINKER_ENGINE=jax|ort to compare),
 * the same in PyTorch (bench/torch_ref.py, /usr/bin/python3, OMP_WAIT_POLICY=PASSIVE) when
 * available, and the ratios. Memory: RSS at step 10 and step N (default 200) of training the
 * workshop model (BENCH_RSS_SIZE=reference to use the reference model; slower).
 * The machine is shared, so load swings within a run: the ratios use each engine's median training
 * step and best of BENCH_REPEATS (default 3) sampling runs; the mean-step figures are printed too.
 *
 *   npx tsx bench/model.ts
 *   BENCH_STEPS=10 BENCH_RSS_STEPS=200 BENCH_NEW_TOKENS=128 npx tsx bench/model.ts
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { initEngine } from "../src/model/engine";
import { sizeConfig, type ModelConfig } from "../src/model/config";
import { countParams, initParams, makeRng } from "../src/model/params";
import { LmTrainer } from "../src/train/lm-step";
import { lmInputs } from "../src/stages/pretrain";
import { Sampler } from "../src/model/sampler";
import { tree } from "../src/model/jax";
import { engineName, ortThreads } from "../src/model/ort/runtime";

const env = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);

function randomBatch(c: ModelConfig, B: number, T: number, rng: ReturnType<typeof makeRng>) {
  const tokens = Int32Array.from({ length: B * T }, () => Math.floor(rng.uniform() * c.vocabSize));
  const targets = Int32Array.from({ length: B * T }, () => Math.floor(rng.uniform() * c.vocabSize));
  return lmInputs(tokens, targets, B, T, c);
}

async function trainSpeed(c: ModelConfig, B: number, T: number, warm: number, steps: number, rssAt?: number[]) {
  const tr = new LmTrainer(initParams(c, 0), c, { lr: 1e-3, beta1: 0.9, beta2: 0.95, weightDecay: 0.01, maxGradNorm: 1 });
  const rng = makeRng(1);
  const rss: Record<number, number> = {};
  let t = 0;
  const times: number[] = [];
  for (let i = 0; i < warm + steps; i++) {
    const b = randomBatch(c, B, T, rng);
    const t0 = performance.now();
    await tr.step(b, 1e-3);
    if (i >= warm) {
      t += performance.now() - t0;
      times.push(performance.now() - t0);
    }
    if (rssAt?.includes(i + 1)) {
      (globalThis as { gc?: () => void }).gc?.();
      rss[i + 1] = process.memoryUsage().rss / 1e6;
    }
  }
  const params = tr.params;
  tr.dispose();
  const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];
  return { tps: (B * T * steps) / (t / 1000), tpsMedian: (B * T) / (median / 1000), rss, params };
}

/** Best of `repeats` generations (tokens/s). */
async function sampleSpeed(c: ModelConfig, B: number, promptLen: number, newTokens: number, repeats: number) {
  const params = initParams(c, 0);
  const s = new Sampler(c);
  const rng = makeRng(2);
  const prompts = Array.from({ length: B }, () => ({ ids: Array.from({ length: promptLen }, () => Math.floor(rng.uniform() * (c.vocabSize - 1))) }));
  const o = { maxNewTokens: newTokens, temperature: 1, seed: 1, stopIds: [], padId: 0, imageTokenId: c.vocabSize - 1 };
  await s.generate(params, prompts, { ...o, maxNewTokens: 4 }); // compile
  let best = 0;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    const g = await s.generate(params, prompts, o);
    const ms = performance.now() - t0;
    best = Math.max(best, (g.reduce((a, x) => a + x.ids.length, 0) / ms) * 1000);
  }
  s.dispose();
  tree.dispose(params);
  return best;
}

function torchRef(c: ModelConfig, B: number, warm: number, steps: number, promptLen: number, newTokens: number, threads: number, repeats: number): Record<string, number | string> | null {
  const py = "/usr/bin/python3";
  if (!existsSync(py)) return null;
  const probe = spawnSync(py, ["-c", "import torch"], { encoding: "utf8" });
  if (probe.status !== 0) return null;
  const arg = JSON.stringify({ vocab: c.vocabSize, d: c.dModel, layers: c.nLayers, heads: c.nHeads, mlp: c.dMlp, ctx: c.maxSeq, batch: B, steps, warmup: warm, prompt: promptLen, new_tokens: newTokens, threads, repeats });
  // The reference runs with its best kernels: this machine sets OPENBLAS_CORETYPE (and
  // OPENBLAS_L2_SIZE) for older OpenBLAS builds, which forces slower kernels on PyTorch's OpenBLAS;
  // they are unset for this child alone, and the core it ran is recorded.
  const childEnv: NodeJS.ProcessEnv = { ...process.env, OMP_WAIT_POLICY: "PASSIVE" };
  delete childEnv.OPENBLAS_CORETYPE;
  delete childEnv.OPENBLAS_L2_SIZE;
  const r = spawnSync(py, ["bench/torch_ref.py", arg], { encoding: "utf8", env: childEnv });
  if (r.status !== 0) throw new Error(`torch_ref.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

export async function run(): Promise<Record<string, number | string>> {
  const eng = await initEngine();
  const ref = sizeConfig("reference");
  const B = 8;
  const T = ref.maxSeq;
  const warm = 2;
  const steps = env("BENCH_STEPS", 8);
  const promptLen = 16;
  const newTokens = env("BENCH_NEW_TOKENS", 128);
  const repeats = env("BENCH_REPEATS", 3);
  const heavy = await engineName();
  const label = heavy === "ort" ? `onnxruntime-node, ${ortThreads()} thread(s) (optimizer on jax-js wasm, ${eng.threads} thread(s))` : `jax-js wasm, ${eng.threads} thread(s)`;
  const out: Record<string, number | string> = { engine: label, reference_params: countParams(ref) };

  const tr = await trainSpeed(ref, B, T, warm, steps);
  tree.dispose(tr.params);
  out.train_tokens_per_s_mean = Math.round(tr.tps);
  out.train_tokens_per_s = Math.round(tr.tpsMedian);
  out.sample_tokens_per_s = Math.round(await sampleSpeed(ref, B, promptLen, newTokens, repeats));

  const torch = torchRef(ref, B, warm, steps, promptLen, newTokens, eng.threads, repeats);
  if (torch) {
    out.torch_version = torch.torch_version;
    out.torch_openblas_core = torch.openblas_core;
    out.torch_train_tokens_per_s_mean = Math.round(Number(torch.train_tokens_per_s));
    out.torch_train_tokens_per_s = Math.round(Number(torch.train_tokens_per_s_median));
    out.torch_sample_tokens_per_s = Math.round(Number(torch.sample_tokens_per_s));
    out.train_ratio_over_torch = Number((tr.tpsMedian / Number(torch.train_tokens_per_s_median)).toFixed(3));
    out.sample_ratio_over_torch = Number((Number(out.sample_tokens_per_s) / Number(torch.sample_tokens_per_s)).toFixed(3));
  } else out.torch = "not available (needs /usr/bin/python3 with torch)";

  const rssSize = process.env.BENCH_RSS_SIZE ?? "workshop";
  const rssSteps = env("BENCH_RSS_STEPS", 200);
  const rc = sizeConfig(rssSize);
  const rssT = rssSize === "reference" ? T : 128;
  const mem = await trainSpeed(rc, B, rssT, 0, rssSteps, [10, rssSteps]);
  tree.dispose(mem.params);
  out.rss_model = `${rssSize} (batch ${B} x ${rssT})`;
  out.rss_mb_step10 = Math.round(mem.rss[10]);
  out[`rss_mb_step${rssSteps}`] = Math.round(mem.rss[rssSteps]);
  out.rss_growth_pct = Number(((100 * (mem.rss[rssSteps] - mem.rss[10])) / mem.rss[10]).toFixed(2));
  out.workshop_train_tokens_per_s = Math.round(mem.tps);
  return out;
}

// Run directly (npx tsx bench/model.ts), not when imported by a bench runner.
if (process.argv[1] && /bench[\\/]model\.ts$/.test(process.argv[1])) {
  run().then((r) => {
    for (const [k, v] of Object.entries(r)) console.log(`${k.padEnd(30)} ${v}`);
  });
}
