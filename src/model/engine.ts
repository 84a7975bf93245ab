/**
 * Engine set-up for @jax-js/jax on Node 20 and under tslab: the iterator-helpers polyfill and the
 * worker-thread shim (worker-setup.ts, applied when ./jax is first imported), then the wasm backend.
 * `initEngine` is idempotent. Threads are fixed when jax-js is first loaded (set
 * MEDVLTHINKER_THREADS before that to change them); asking for another count later only warns.
 */
import { ENGINE_THREADS } from "./worker-setup";
import { defaultDevice, init } from "./jax";

export interface EngineOptions {
  /** Worker threads for wasm kernels (informational after load; see module comment). */
  threads?: number;
}

export interface EngineInfo {
  device: string;
  threads: number;
}

let ready: Promise<EngineInfo> | null = null;

export function initEngine(opts: EngineOptions = {}): Promise<EngineInfo> {
  if (opts.threads !== undefined && opts.threads !== ENGINE_THREADS) {
    console.warn(`initEngine: jax-js was loaded with ${ENGINE_THREADS} thread(s); set MEDVLTHINKER_THREADS=${opts.threads} before loading to change it`);
  }
  if (!ready) {
    ready = (async () => {
      await init("wasm");
      defaultDevice("wasm");
      return { device: "wasm", threads: ENGINE_THREADS };
    })();
  }
  return ready;
}
