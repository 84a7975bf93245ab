/**
 * Policies for curation named so that the run folder changes when the weights do: an embedded
 * model's name carries a fingerprint of its checkpoint file, so a retrained base model never
 * reuses another model's cached samples.
 */
import { basename, dirname, join, resolve } from "node:path";
import { checkpointFingerprint } from "../model/fingerprint";
import { EmbeddedPolicy, type EmbeddedPolicyOptions } from "../policy/embedded";

export { checkpointFingerprint };

/** `embedded-<folder>-<fingerprint>`, e.g. embedded-base-workshop-1a2b3c4d5e. */
export function embeddedPolicyName(checkpointDir: string): string {
  const abs = resolve(checkpointDir);
  const label = basename(abs) === "checkpoint" ? basename(dirname(abs)) : basename(abs);
  return `embedded-${label}-${checkpointFingerprint(abs)}`;
}

export interface EmbeddedCurationOptions extends Omit<EmbeddedPolicyOptions, "name"> {
  /** A checkpoint folder; default: the shared base model (ensureBaseModel), or the instruct model. */
  checkpoint?: string;
  /** Curate with the instruct model (ensureInstructModel: the base after a short instruction tuning), as the paper curates with an instruct model. */
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
    // Imported lazily: the model code loads only when an embedded policy is asked for.
    const inst = await import("../stages/instruct");
    const model = await inst.ensureInstructModel({ size, smoke, progress });
    return new EmbeddedPolicy(model, { ...policyOpts, name: embeddedPolicyName(join(inst.instructModelDir({ size, smoke }), "checkpoint")) });
  }
  const base = await import("../stages/base");
  const model = await base.ensureBaseModel({ size, smoke, progress });
  const dir = join(base.baseModelDir({ size, smoke }), "checkpoint");
  return new EmbeddedPolicy(model, { ...policyOpts, name: embeddedPolicyName(dir) });
}
