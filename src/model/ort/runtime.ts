/**
 * onnxruntime-node, loaded only if present (an optional dependency: `npm ci` installs it where its
 * prebuilt binary fits the platform), and the choice between it and jax-js.
 *
 * MEDVLTHINKER_ENGINE: "auto" (default) uses onnxruntime for the heavy passes (training gradients,
 * scoring, sampling) when it loads, else jax-js; "jax" forces jax-js; "ort" requires onnxruntime and
 * says why it cannot load. MEDVLTHINKER_THREADS sets onnxruntime's intra-op threads too.
 *
 * The few onnxruntime types used are declared here rather than imported, so that the project
 * type-checks (and tslab compiles it) on machines where the optional package is absent.
 */
import { availableParallelism, cpus } from "node:os";
import { ConfigError } from "../../errors";

export interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
}

export interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

export interface OrtModule {
  Tensor: new (type: "float32" | "int32" | "int64", data: Float32Array | Int32Array | BigInt64Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
}

export type EngineName = "jax" | "ort";

let loaded: Promise<OrtModule | null> | null = null;
let loadError = "";

function requested(): "auto" | EngineName {
  const v = (process.env.MEDVLTHINKER_ENGINE ?? "auto").toLowerCase();
  if (v !== "auto" && v !== "jax" && v !== "ort") {
    throw new ConfigError(`MEDVLTHINKER_ENGINE='${v}': expected auto, jax or ort`);
  }
  return v;
}

/** The onnxruntime module, or null when it is not installed or cannot load here. */
export function loadOrt(): Promise<OrtModule | null> {
  if (!loaded) {
    loaded = (async () => {
      try {
        const m = (await import("onnxruntime-node" as string)) as OrtModule & { default?: OrtModule };
        return m.InferenceSession ? m : (m.default ?? null);
      } catch (e) {
        loadError = (e as Error).message.split("\n")[0];
        return null;
      }
    })();
  }
  return loaded;
}

/**
 * The engine for the heavy passes, per MEDVLTHINKER_ENGINE. Returns the module when onnxruntime
 * is chosen, null for jax-js.
 */
export async function chooseOrt(): Promise<OrtModule | null> {
  const want = requested();
  if (want === "jax") return null;
  const ort = await loadOrt();
  if (!ort && want === "ort") {
    throw new ConfigError(`MEDVLTHINKER_ENGINE=ort but onnxruntime-node cannot be loaded (${loadError || "not installed"}); run npm ci, or set MEDVLTHINKER_ENGINE=jax`);
  }
  return ort;
}

/** Which engine the heavy passes will use (for logs and notebooks). */
export async function engineName(): Promise<EngineName> {
  return (await chooseOrt()) ? "ort" : "jax";
}

export function ortThreads(): number {
  const n = Number(process.env.MEDVLTHINKER_THREADS);
  if (Number.isInteger(n) && n > 0) return n;
  const cores = typeof availableParallelism === "function" ? availableParallelism() : cpus().length;
  return Math.max(1, Math.min(cores, 8));
}

/** A session with the options used throughout: all graph optimisations, intra-op threads. */
export function createSession(ort: OrtModule, model: Uint8Array): Promise<OrtSession> {
  return ort.InferenceSession.create(model, {
    graphOptimizationLevel: "all",
    intraOpNumThreads: ortThreads(),
    interOpNumThreads: 1,
    executionMode: "sequential",
  });
}
