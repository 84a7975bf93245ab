/** The inline (main-thread) Web Worker the wasm pool uses as its first worker. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { InlineWebWorker } from "../src/model/worker-inline";

const script = `
let scale = 0;
self.onmessage = (e) => {
  if (e.data.type === "init") { scale = e.data.scale; postMessage({ type: "ready" }); return; }
  if (e.data.type === "boom") throw new Error("boom");
  postMessage({ type: "done", value: e.data.value * scale });
};`;

function blobUrl(): string {
  return URL.createObjectURL(new Blob([script], { type: "application/javascript" }));
}

test("inline worker: runs the worker script on this thread, answers in order, never inside postMessage", async () => {
  const w = new InlineWebWorker(blobUrl());
  const got: unknown[] = [];
  const ready = new Promise<void>((resolve) => {
    w.onmessage = (e) => {
      got.push(e.data);
      if ((e.data as { type: string }).type === "ready") resolve();
    };
  });
  w.postMessage({ type: "init", scale: 3 }); // queued until the script has loaded
  await ready;
  w.postMessage({ value: 2 });
  w.postMessage({ value: 5 });
  assert.equal(got.length, 1, "no answer before postMessage returns (the pool posts to its other workers first)");
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got, [{ type: "ready" }, { type: "done", value: 6 }, { type: "done", value: 15 }]);
  const err = new Promise<string>((resolve) => (w.onerror = (e) => resolve(e.message)));
  w.postMessage({ type: "boom" });
  assert.match(await err, /boom/);
  w.terminate();
});

test("inline worker: only blob: URLs", () => {
  assert.throws(() => new InlineWebWorker("file:///nope.js"), /only blob: URLs/);
});
