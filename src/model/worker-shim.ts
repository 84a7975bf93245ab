/**
 * A minimal Web Worker over node:worker_threads, so jax-js's wasm backend can spread kernels over
 * threads in Node (it only looks for a global `Worker` and `SharedArrayBuffer`).
 *
 * jax-js builds its worker from a Blob URL; Node's worker_threads cannot load those, so the shim
 * reads the Blob's text (async) and starts the thread with that source, queueing messages posted
 * before the thread exists. Threads are unref'd while idle so a CLI or test can exit; each one is
 * ref'd while a message awaits its reply (jax-js sends one message and waits for one answer).
 */
import { resolveObjectURL } from "node:buffer";
import { Worker as NodeWorker } from "node:worker_threads";

const BOOTSTRAP = `
const { parentPort, workerData } = require("node:worker_threads");
globalThis.self = globalThis;
globalThis.postMessage = (m) => parentPort.postMessage(m);
parentPort.on("message", (data) => { if (typeof self.onmessage === "function") self.onmessage({ data }); });
(0, eval)(workerData.source);
`;

export class NodeWebWorker {
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onerror: ((e: { message: string }) => void) | null = null;
  private worker: NodeWorker | null = null;
  private queue: unknown[] = [];
  private pending = 0;

  constructor(url: string | URL, _opts?: unknown) {
    const href = String(url);
    const blob = resolveObjectURL(href);
    if (!blob) throw new Error(`worker-shim: cannot resolve ${href} (only blob: URLs are supported)`);
    void blob.text().then(
      (source) => this.start(source),
      (e: unknown) => this.onerror?.({ message: String(e) }),
    );
  }

  private start(source: string): void {
    const w = new NodeWorker(BOOTSTRAP, { eval: true, workerData: { source } });
    w.on("message", (data: unknown) => {
      this.pending = Math.max(0, this.pending - 1);
      if (this.pending === 0) w.unref();
      this.onmessage?.({ data });
    });
    w.on("error", (e: Error) => this.onerror?.({ message: e.message }));
    this.worker = w;
    w.unref();
    for (const m of this.queue) this.send(m);
    this.queue = [];
  }

  private send(m: unknown): void {
    const w = this.worker!;
    this.pending++;
    w.ref();
    w.postMessage(m);
  }

  postMessage(m: unknown): void {
    if (this.worker) this.send(m);
    else {
      // Keep the process alive until the thread starts and answers.
      this.queue.push(m);
    }
  }

  terminate(): void {
    void this.worker?.terminate();
  }
}
