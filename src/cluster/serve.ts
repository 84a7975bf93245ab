/**
 * Serve a checkpoint with vLLM as a Ray job, wait until its OpenAI API answers, run an evaluation
 * against it, stop the job (scaleout.md section 7). The flags make the server answer as the paper's
 * offline vLLM run did: bf16, seed 42, `--generation-config vllm` (else vLLM fills unset sampling
 * fields from the checkpoint's generation_config.json, which Qwen's is not neutral), enough context
 * for the longest prompt plus 4096 new tokens, and as many images per prompt as the data has. The
 * job reserves `tensor_parallel_size` GPUs for its entrypoint (vllm serve runs in the entrypoint,
 * unlike verl, whose workers take GPUs through placement groups).
 *
 * The evaluation is the caller's `evaluate`: `medvlthinker cluster serve` passes issue 15's
 * reproduceRow (src/cli/cluster.ts reproduceOnServer), or a command of the user's.
 */
import type { JobSpec } from "./bundle";
import { RayJobsError, TERMINAL_STATUSES, type RayJobsClient } from "./ray-jobs";
import { shellWord } from "./verl-command";

export interface ServeOptions {
  /** A merged Hugging Face folder (or hub id) the serving node can read. */
  checkpoint: string;
  /** --served-model-name: the `model` clients send (default: the folder's last part). */
  name?: string;
  port?: number;
  tensorParallel?: number;
  /** --max-model-len (default: the model's own maximum, as the offline run). */
  maxModelLen?: number;
  /** --limit-mm-per-prompt images (default 1, vLLM's own default). */
  maxImages?: number;
  gpuMemoryUtilization?: number;
  seed?: number;
  /** vLLM <= 0.8 took `image=N`; later releases take JSON only. */
  limitSyntax?: "json" | "legacy";
}

export function servedName(o: Pick<ServeOptions, "checkpoint" | "name">): string {
  return o.name ?? o.checkpoint.replace(/\/+$/, "").split("/").pop() ?? "model";
}

export function vllmServeEntrypoint(o: ServeOptions): string {
  const n = o.maxImages ?? 1;
  const args = [
    "vllm", "serve", o.checkpoint,
    "--served-model-name", servedName(o),
    "--host", "0.0.0.0",
    "--port", String(o.port ?? 8000),
    "--dtype", "bfloat16",
    "--seed", String(o.seed ?? 42),
    "--tensor-parallel-size", String(o.tensorParallel ?? 1),
    "--gpu-memory-utilization", String(o.gpuMemoryUtilization ?? 0.9),
    "--generation-config", "vllm",
    "--limit-mm-per-prompt", o.limitSyntax === "legacy" ? `image=${n}` : JSON.stringify({ image: n }),
    ...(o.maxModelLen ? ["--max-model-len", String(o.maxModelLen)] : []),
  ];
  return args.map(shellWord).join(" ");
}

export function serveJobSpec(o: ServeOptions): JobSpec {
  return {
    entrypoint: vllmServeEntrypoint(o),
    runtime_env: { env_vars: {} },
    metadata: { tool: "medvlthinker-ts", kind: "vllm-serve", checkpoint: o.checkpoint, model: servedName(o) },
    entrypoint_num_gpus: o.tensorParallel ?? 1,
  };
}

export interface ServeRunOptions {
  /** The server's base URL (…/v1); default http://<driver node ip>:<port>/v1 from the job's details. */
  baseUrl?: string;
  readyTimeoutS?: number;
  pollS?: number;
  submissionId?: string;
  onStatus?: (line: string) => void;
}

/** Poll until GET {base}/models lists the model; fail early if the job ends. */
export async function waitForServer(client: RayJobsClient, id: string, model: string, port: number, o: ServeRunOptions): Promise<string> {
  const deadline = Date.now() + 1000 * (o.readyTimeoutS ?? 1800);
  for (;;) {
    const j = await client.job(id);
    if (TERMINAL_STATUSES.includes(j.status)) throw new RayJobsError(`the vLLM job ${id} ended (${j.status}) before it served: ${j.message ?? ""}`, null);
    const ip = (j as { driver_info?: { node_ip_address?: string } }).driver_info?.node_ip_address;
    const base = o.baseUrl ?? (ip ? `http://${ip}:${port}/v1` : null);
    if (base) {
      try {
        const r = await fetch(`${base.replace(/\/+$/, "")}/models`, { signal: AbortSignal.timeout(10_000) });
        if (r.ok) {
          const body = (await r.json()) as { data?: { id: string }[] };
          if (body.data?.some((m) => m.id === model)) return base;
        }
      } catch {
        /* not up yet */
      }
    }
    if (Date.now() > deadline) throw new RayJobsError(`the vLLM job ${id} did not answer on ${base ?? "(no address yet)"}/models within ${o.readyTimeoutS ?? 1800} s`, null);
    o.onStatus?.(`waiting for ${model} (${j.status})`);
    await new Promise((r) => setTimeout(r, 1000 * (o.pollS ?? 10)));
  }
}

/**
 * Submit `vllm serve`, wait until it answers, run `evaluate(baseUrl, model)`, and stop the job
 * whatever happens (an evaluation error, Ctrl-C through the rejection).
 */
export async function serveAndEvaluate<T>(client: RayJobsClient, o: ServeOptions & ServeRunOptions, evaluate: (baseUrl: string, model: string) => Promise<T>): Promise<{ submission_id: string; result: T }> {
  const spec = serveJobSpec(o);
  const { submission_id } = await client.submit({ entrypoint: spec.entrypoint, submission_id: o.submissionId, runtime_env: spec.runtime_env, metadata: spec.metadata, entrypoint_num_gpus: spec.entrypoint_num_gpus });
  try {
    const base = await waitForServer(client, submission_id, servedName(o), o.port ?? 8000, o);
    return { submission_id, result: await evaluate(base, servedName(o)) };
  } finally {
    await client.stop(submission_id).catch(() => false);
  }
}
