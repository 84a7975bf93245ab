/**
 * Submit an export folder as a Ray job, as `ray job submit --working-dir DIR -- bash command.sh`
 * does: zip the folder, upload it unless the cluster has it, post the job with the folder as
 * runtime_env.working_dir. Also the jobs that are not training: merging a verl checkpoint into a
 * Hugging Face folder (verl's model merger) and serving a checkpoint with vLLM.
 */
import { appendFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigError } from "../errors";
import { readJobSpec, type JobSpec } from "./bundle";
import { newSubmissionId, packageName, zipFolder, type JobSubmitRequest, type RayJobsClient } from "./ray-jobs";
import { shellWord } from "./verl-command";
import type { VerlTarget } from "./verl-data";

/** Written into the export folder after each submit; left out of the uploaded package. */
export const SUBMISSIONS_FILE = "submissions.jsonl";

export interface SubmitOptions {
  submissionId?: string;
  /** Extra metadata (strings). */
  metadata?: Record<string, string>;
  /** Where pass_env values come from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** The job request for a spec, with pass_env values filled from `env` (never written anywhere). */
export function jobRequest(spec: JobSpec, workingDir: string | null, o: SubmitOptions = {}): JobSubmitRequest {
  const env = o.env ?? process.env;
  const envVars = { ...spec.runtime_env.env_vars };
  const missing: string[] = [];
  for (const name of spec.pass_env ?? []) {
    const v = env[name];
    if (v === undefined) missing.push(name);
    else envVars[name] = v;
  }
  if (missing.length) throw new ConfigError(`the job passes ${missing.join(", ")} from this shell, but ${missing.length > 1 ? "they are" : "it is"} not set`);
  const req: JobSubmitRequest = {
    entrypoint: spec.entrypoint,
    submission_id: o.submissionId ?? newSubmissionId(),
    runtime_env: { ...(workingDir ? { working_dir: workingDir } : {}), env_vars: envVars },
    metadata: { ...spec.metadata, ...o.metadata },
  };
  if (spec.entrypoint_num_gpus !== undefined) req.entrypoint_num_gpus = spec.entrypoint_num_gpus;
  return req;
}

/** What `submitBundle` would send, computed locally (no cluster needed): the package name and size, and the request. */
export function previewSubmission(dir: string, o: SubmitOptions = {}): { package: string; packageBytes: number; request: JobSubmitRequest } {
  dir = resolve(dir);
  const zip = zipFolder(dir, [".git/", SUBMISSIONS_FILE]);
  const pkg = `gcs://${packageName(zip)}`;
  const spec = readJobSpec(dir);
  // Placeholders for the passed variables: a preview never shows their values.
  const env = Object.fromEntries((spec.pass_env ?? []).map((n) => [n, `($${n} of the submitting shell)`]));
  return { package: pkg, packageBytes: zip.length, request: jobRequest(spec, pkg, { ...o, env, submissionId: o.submissionId ?? "(chosen at submit)" }) };
}

/** Upload `dir` and submit its job.json; returns the submission id. */
export async function submitBundle(client: RayJobsClient, dir: string, o: SubmitOptions = {}): Promise<{ submission_id: string; package: string }> {
  dir = resolve(dir);
  const spec = readJobSpec(dir);
  const pkg = await client.uploadPackage(zipFolder(dir, [".git/", SUBMISSIONS_FILE]));
  const req = jobRequest(spec, pkg, o);
  const r = await client.submit(req);
  appendFileSync(join(dir, SUBMISSIONS_FILE), JSON.stringify({ submission_id: r.submission_id, address: client.address, package: pkg, at: new Date().toISOString() }) + "\n");
  return { submission_id: r.submission_id, package: pkg };
}

// ---------------------------------------------------------------------------------------------
// Merging a checkpoint (its own job, next to the checkpoint: it needs verl, torch and CPU RAM >= the model)

export interface MergeOptions {
  /** .../global_step_N/actor on the cluster's storage. */
  actorDir: string;
  /** The Hugging Face folder to write. */
  targetDir: string;
  /** Which verl wrote the checkpoint: the pinned commit's script, or current verl's module. */
  target: VerlTarget;
  /** Absolute path of verl's checkout on the nodes: the pinned commit's merger is scripts/model_merger.py, outside the package. */
  verlDir?: string;
}

/**
 * The merge entrypoint. Pinned checkpoints need the pinned script (current verl's merger requires
 * fsdp_config.json, which the pinned commit does not write); current ones use `python -m verl.model_merger`.
 */
export function mergeEntrypoint(o: MergeOptions): string {
  const args = ["merge", "--backend", "fsdp", "--local_dir", o.actorDir, "--target_dir", o.targetDir].map(shellWord).join(" ");
  if (o.target === "head") return `python3 -m verl.model_merger ${args}`;
  if (!o.verlDir) throw new ConfigError("merging a checkpoint of the pinned verl needs --verl-dir: the absolute path of verl's checkout on the cluster (its scripts/model_merger.py is not part of the installed package)");
  return `python3 ${shellWord(join(o.verlDir, "scripts", "model_merger.py"))} ${args}`;
}

export function mergeJobSpec(o: MergeOptions): JobSpec {
  return { entrypoint: mergeEntrypoint(o), runtime_env: { env_vars: {} }, metadata: { tool: "medvlthinker-ts", kind: "verl-merge", target: o.target, actor_dir: o.actorDir, target_dir: o.targetDir } };
}
