/**
 * Installs the Web-Worker shim BEFORE @jax-js/jax is loaded: jax-js creates its wasm backend (and
 * decides on shared memory + a worker pool sized by navigator.hardwareConcurrency) when its module
 * is first evaluated, not at init(). So the thread count is fixed here, from $MEDVLTHINKER_THREADS
 * or min(2, cores). Import "./jax" (which imports this first) instead of "@jax-js/jax" directly.
 * Of the N pool workers, the first runs on the main thread (worker-inline.ts: measured ~1.3x faster
 * sampling, training about the same); MEDVLTHINKER_INLINE_WORKER=0 makes all N real threads.
 */
// The file, not the folder: core-js has no exports map, and Node's ESM loader (the built package)
// does not resolve folder imports.
import "core-js/actual/iterator/index.js";
import { availableParallelism } from "node:os";
import { NodeWebWorker } from "./worker-shim";
import { InlineWebWorker } from "./worker-inline";

function chooseThreads(): number {
  const env = Number(process.env.MEDVLTHINKER_THREADS);
  if (Number.isFinite(env) && env >= 1) return Math.floor(env);
  return Math.max(1, Math.min(2, availableParallelism()));
}

const g = globalThis as Record<string, unknown>;
export const ENGINE_THREADS: number = (() => {
  const n = chooseThreads();
  if (n > 1 && typeof g.Worker === "undefined" && typeof SharedArrayBuffer !== "undefined") {
    // The pool's first worker runs on the main thread (worker-inline.ts) unless
    // MEDVLTHINKER_INLINE_WORKER=0; the others are real threads.
    let made = 0;
    const inline = process.env.MEDVLTHINKER_INLINE_WORKER !== "0";
    g.Worker = class PoolWorker {
      constructor(url: string | URL, opts?: unknown) {
        return (made++ === 0 && inline ? new InlineWebWorker(url, opts) : new NodeWebWorker(url, opts)) as unknown as PoolWorker;
      }
    };
    const nav = (g.navigator ?? {}) as Record<string, unknown>;
    Object.defineProperty(nav, "hardwareConcurrency", { value: n, configurable: true });
    if (!g.navigator) g.navigator = nav;
    return n;
  }
  return typeof g.Worker === "undefined" ? 1 : n;
})();
