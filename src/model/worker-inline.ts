/**
 * A Web Worker that runs on the main thread. jax-js's wasm pool posts one chunk of each kernel to
 * every worker and then just waits, so with N real threads the main thread idles while N threads
 * must be woken (two message round trips per chunk). Making the pool's first worker this inline
 * one gives the same parallelism with one thread fewer to wake: small kernels (one chunk) run with
 * no hand-off at all, and big ones split between the main thread and the real worker(s).
 *
 * The worker's source (jax-js's, from a Blob) is evaluated here with its own `self` and
 * `postMessage`; each message runs in a microtask, so jax-js's loop posts to the other workers
 * before this one starts computing.
 */
import { resolveObjectURL } from "node:buffer";

type Listener = ((e: { data: unknown }) => void) | null;

export class InlineWebWorker {
  onmessage: Listener = null;
  onerror: ((e: { message: string }) => void) | null = null;
  private scope: { onmessage: Listener } = { onmessage: null };
  private ready = false;
  private queue: unknown[] = [];

  constructor(url: string | URL, _opts?: unknown) {
    const href = String(url);
    const blob = resolveObjectURL(href);
    if (!blob) throw new Error(`worker-inline: cannot resolve ${href} (only blob: URLs are supported)`);
    void blob.text().then(
      (source) => this.start(source),
      (e: unknown) => this.onerror?.({ message: String(e) }),
    );
  }

  private start(source: string): void {
    const reply = (data: unknown) => this.onmessage?.({ data });
    // The worker script assigns self.onmessage and calls postMessage(reply): give it both.
    new Function("self", "postMessage", source)(this.scope, reply);
    this.ready = true;
    for (const m of this.queue) this.deliver(m);
    this.queue = [];
  }

  private deliver(m: unknown): void {
    queueMicrotask(() => {
      try {
        this.scope.onmessage?.({ data: m });
      } catch (e) {
        this.onerror?.({ message: String(e) });
      }
    });
  }

  postMessage(m: unknown): void {
    if (this.ready) this.deliver(m);
    else this.queue.push(m);
  }

  terminate(): void {
    this.scope.onmessage = null;
  }
}
