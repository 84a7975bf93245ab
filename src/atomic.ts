/** Atomic file writes: write a temp file in the same folder, fsync, rename over the target. */
import { closeSync, fsyncSync, openSync, renameSync, writeSync, mkdirSync } from "node:fs";
import { dirname, join, basename } from "node:path";

export function writeFileAtomic(path: string, data: string | Uint8Array | Uint8Array[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now()}`);
  const fd = openSync(tmp, "w");
  try {
    const parts = Array.isArray(data) ? data : [typeof data === "string" ? Buffer.from(data, "utf8") : data];
    for (const p of parts) {
      let off = 0;
      while (off < p.byteLength) off += writeSync(fd, p, off, p.byteLength - off);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
