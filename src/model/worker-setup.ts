/**
 * Installs the Web-Worker shim BEFORE @jax-js/jax is loaded: jax-js creates its wasm backend (and
 * decides on shared memory + a worker pool sized by navigator.hardwareConcurrency) when its module
 * is first evaluated, not at init(). So the thread count is fixed here, from $MEDVLTHINKER_THREADS
 * or min(2, cores). Import "./jax" (which imports this first) instead of "@jax-js/jax" directly.
 */
import "core-js/actual/iterator";
import { availableParallelism } from "node:os";
import { NodeWebWorker } from "./worker-shim";

function chooseThreads(): number {
  const env = Number(process.env.MEDVLTHINKER_THREADS);
  if (Number.isFinite(env) && env >= 1) return Math.floor(env);
  return Math.max(1, Math.min(2, availableParallelism()));
}

const g = globalThis as Record<string, unknown>;
export const ENGINE_THREADS: number = (() => {
  const n = chooseThreads();
  if (n > 1 && typeof g.Worker === "undefined" && typeof SharedArrayBuffer !== "undefined") {
    g.Worker = NodeWebWorker;
    const nav = (g.navigator ?? {}) as Record<string, unknown>;
    Object.defineProperty(nav, "hardwareConcurrency", { value: n, configurable: true });
    if (!g.navigator) g.navigator = nav;
    return n;
  }
  return typeof g.Worker === "undefined" ? 1 : n;
})();
