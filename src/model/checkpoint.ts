/**
 * Checkpoints: a folder with model.safetensors, config.json (model config + extra info) and
 * tokenizer.json, plus optimizer.safetensors when given. The folder is replaced as a whole (see
 * saveCheckpoint). Loading checks every name and shape against the config and says what differs.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { numpy as np } from "./jax";
import { validateConfig, type ModelConfig } from "./config";
import { namedParams, paramShapes, paramsFromNamed, type Params } from "./params";
import { readSafetensors, writeSafetensors, type Tensor } from "./safetensors";
import { writeFileAtomic } from "../atomic";
import { TextTokenizer } from "./tokenizer";

export interface CheckpointInfo {
  config: ModelConfig;
  /** Free-form: step, run name, corpus, ... */
  info?: Record<string, unknown>;
}

/** Read arrays to host tensors without consuming them. */
export async function toTensors(named: Record<string, np.Array>): Promise<Record<string, Tensor>> {
  const out: Record<string, Tensor> = {};
  for (const [k, a] of Object.entries(named)) {
    out[k] = { shape: a.shape, data: new Float32Array((await a.ref.data()) as Float32Array) };
  }
  return out;
}

/**
 * Save a checkpoint folder so that a crash at any moment leaves a loadable checkpoint: every file
 * goes to <dir>.tmp-<pid> first; then <dir> is renamed to <dir>.prev, the new folder to <dir>, and
 * <dir>.prev is removed. A kill between the two renames leaves only <dir>.prev, which
 * loadCheckpoint falls back to.
 */
export async function saveCheckpoint(dir: string, params: Params, config: ModelConfig, tokenizer: TextTokenizer, opts: { info?: Record<string, unknown>; optimizer?: Record<string, np.Array> } = {}): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  const prev = `${dir}.prev`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeSafetensors(join(tmp, "model.safetensors"), await toTensors(namedParams(params)), { format: "pt" });
  if (opts.optimizer) writeSafetensors(join(tmp, "optimizer.safetensors"), await toTensors(opts.optimizer));
  tokenizer.save(join(tmp, "tokenizer.json"));
  writeFileAtomic(join(tmp, "config.json"), JSON.stringify({ model: config, info: opts.info ?? {} }, null, 2));
  if (existsSync(join(dir, "config.json"))) {
    rmSync(prev, { recursive: true, force: true });
    renameSync(dir, prev);
  } else {
    rmSync(dir, { recursive: true, force: true }); // an empty or partial folder from elsewhere
  }
  renameSync(tmp, dir);
  rmSync(prev, { recursive: true, force: true });
}

export class CheckpointError extends Error {
  constructor(readonly dir: string, readonly problems: string[]) {
    super(`checkpoint ${dir} does not match its config:\n  ${problems.join("\n  ")}`);
    this.name = "CheckpointError";
  }
}

/** Compare tensors with expected shapes; return human-readable differences. */
export function diffShapes(tensors: Record<string, { shape: number[] }>, expected: Record<string, number[]>): string[] {
  const problems: string[] = [];
  for (const [k, sh] of Object.entries(expected)) {
    if (!(k in tensors)) problems.push(`missing tensor '${k}' [${sh}]`);
    else if (tensors[k].shape.join(",") !== sh.join(",")) problems.push(`tensor '${k}': shape [${tensors[k].shape}], expected [${sh}]`);
  }
  for (const k of Object.keys(tensors)) if (!(k in expected)) problems.push(`unexpected tensor '${k}' [${tensors[k].shape}]`);
  return problems;
}

export interface LoadedCheckpoint {
  params: Params;
  config: ModelConfig;
  tokenizer: TextTokenizer;
  info: Record<string, unknown>;
  optimizer?: Record<string, Tensor>;
}

export function loadCheckpoint(dir: string): LoadedCheckpoint {
  if (!existsSync(join(dir, "config.json")) && existsSync(join(`${dir}.prev`, "config.json"))) {
    console.warn(`checkpoint ${dir}: a save was interrupted; loading the previous checkpoint ${dir}.prev`);
    dir = `${dir}.prev`;
  }
  const cfgPath = join(dir, "config.json");
  if (!existsSync(cfgPath)) throw new CheckpointError(dir, ["no config.json (not a checkpoint folder, or a save never finished)"]);
  const { model: config, info } = JSON.parse(readFileSync(cfgPath, "utf8")) as { model: ModelConfig; info: Record<string, unknown> };
  validateConfig(config);
  const tokenizer = TextTokenizer.load(join(dir, "tokenizer.json"));
  if (tokenizer.vocabSize !== config.vocabSize) throw new CheckpointError(dir, [`tokenizer has ${tokenizer.vocabSize} tokens, config says vocabSize ${config.vocabSize}`]);
  const { tensors } = readSafetensors(join(dir, "model.safetensors"));
  const problems = diffShapes(tensors, paramShapes(config));
  if (problems.length) throw new CheckpointError(dir, problems);
  const named: Record<string, np.Array> = {};
  for (const [k, t] of Object.entries(tensors)) named[k] = np.array(t.data).reshape(t.shape);
  const optPath = join(dir, "optimizer.safetensors");
  const optimizer = existsSync(optPath) ? readSafetensors(optPath).tensors : undefined;
  return { params: paramsFromNamed(config, named), config, tokenizer, info: info ?? {}, optimizer };
}
