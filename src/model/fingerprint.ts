/** A short content hash of a checkpoint's weights: run folders and caches key on it, so new weights never reuse old results. */
import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigError } from "../errors";

/** sha256 (first 10 hex) of a checkpoint's model.safetensors (or its .prev fallback). */
export function checkpointFingerprint(dir: string): string {
  const abs = resolve(dir);
  const file = [join(abs, "model.safetensors"), join(`${abs}.prev`, "model.safetensors")].find(existsSync);
  if (!file) throw new ConfigError(`${abs}: no model.safetensors (not a checkpoint folder)`);
  const h = createHash("sha256");
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(1 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest("hex").slice(0, 10);
}
