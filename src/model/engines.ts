/**
 * Choosing the engine (lm-engine.ts): onnxruntime where it loads, unless MEDVLTHINKER_ENGINE says
 * "jax" (ort/runtime.ts). Components hold a LazyEngine and choose at first use.
 */
import type { ModelConfig } from "./config";
import type { LmEngine } from "./lm-engine";
import { chooseOrt } from "./ort/runtime";
import { JaxLm } from "./jax-lm";
import { OrtEngine } from "./ort/engine";

/** The engine MEDVLTHINKER_ENGINE chooses (onnxruntime where it loads, unless "jax"). */
export async function createEngine(config: ModelConfig): Promise<LmEngine> {
  const ort = await chooseOrt();
  return ort ? new OrtEngine(ort, config) : new JaxLm(config);
}

/**
 * The engine a component (trainer, sampler, scorer) uses, chosen at its first use; `jax()` gives
 * the jax-js engine whatever the choice (tests compare the two; eager decoding).
 */
export class LazyEngine {
  private chosen: Promise<LmEngine> | null = null;
  /** The chosen engine once made, so dispose() frees it at once (callers count buffers right after). */
  private resolved: LmEngine | null = null;
  private jaxLm: JaxLm | null = null;

  constructor(readonly config: ModelConfig) {}

  get(): Promise<LmEngine> {
    if (!this.chosen) {
      const p = createEngine(this.config);
      this.chosen = p;
      void p.then((e) => {
        if (this.chosen === p) this.resolved = e;
      });
    }
    return this.chosen;
  }

  /** The jax-js engine (the chosen one when that is jax-js). */
  async jax(): Promise<LmEngine> {
    const e = await this.get();
    if (e instanceof JaxLm) return e;
    if (!this.jaxLm) this.jaxLm = new JaxLm(this.config);
    return this.jaxLm;
  }

  /** Releases compiled functions and sessions; a later get() chooses again. */
  dispose(): void {
    const e = this.chosen;
    this.chosen = null;
    if (this.resolved) this.resolved.dispose();
    else if (e) void e.then((x) => x.dispose());
    this.resolved = null;
    this.jaxLm?.dispose();
    this.jaxLm = null;
  }
}
