/**
 * Policies for curation named so that the run folder changes when the weights do: an embedded
 * model's name carries a fingerprint of its checkpoint file, so a retrained base model never
 * reuses another model's cached samples.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { EmbeddedPolicy, type EmbeddedPolicyOptions } from "../policy/embedded";

/** sha256 (first 10 hex) of a checkpoint's model.safetensors (or its .prev fallback). */
export function checkpointFingerprint(dir: string): string {
  const abs = resolve(dir);
  const file = [join(abs, "model.safetensors"), join(`${abs}.prev`, "model.safetensors")].find(existsSync);
  if (!file) throw Object.assign(new Error(`${abs}: no model.safetensors (not a checkpoint folder)`), { name: "ConfigError" });
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

/** `embedded-<folder>-<fingerprint>`, e.g. embedded-base-workshop-1a2b3c4d5e. */
export function embeddedPolicyName(checkpointDir: string): string {
  const abs = resolve(checkpointDir);
  const label = basename(abs) === "checkpoint" ? basename(dirname(abs)) : basename(abs);
  return `embedded-${label}-${checkpointFingerprint(abs)}`;
}

export interface EmbeddedCurationOptions extends Omit<EmbeddedPolicyOptions, "name"> {
  /** A checkpoint folder; default: the shared base model (ensureBaseModel), or the instruct model. */
  checkpoint?: string;
  /** Curate with the instruct model (ensureInstructModel: the base after a format warm-up), as the paper curates with an instruct model. */
  instruct?: boolean;
  /** Base model size (default workshop; smoke mode: tiny). */
  size?: string;
  smoke?: boolean;
  progress?: boolean;
}

/** The embedded model as a curation policy: a given checkpoint, the instruct model, or the warmed-up base model. */
export async function embeddedCurationPolicy(o: EmbeddedCurationOptions = {}): Promise<EmbeddedPolicy> {
  const { checkpoint, instruct, size, smoke, progress, ...policyOpts } = o;
  if (checkpoint) return EmbeddedPolicy.fromCheckpoint(checkpoint, { ...policyOpts, name: embeddedPolicyName(checkpoint) });
  if (instruct) {
    // Imported here: instruct.ts imports checkpointFingerprint from this file.
    const inst = await import("../model/instruct");
    const model = await inst.ensureInstructModel({ size, smoke, progress });
    return new EmbeddedPolicy(model, { ...policyOpts, name: embeddedPolicyName(join(inst.instructModelDir({ size, smoke }), "checkpoint")) });
  }
  const base = await import("../model/base");
  const model = await base.ensureBaseModel({ size, smoke, progress });
  const dir = join(base.baseModelDir({ size, smoke }), "checkpoint");
  return new EmbeddedPolicy(model, { ...policyOpts, name: embeddedPolicyName(dir) });
}
