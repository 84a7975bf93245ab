/**
 * `medvlthinker cluster ...`: take the recipe to verl on a Ray cluster (src/cluster/). Export writes
 * a folder a user can also run by hand; the other commands talk to the Ray dashboard's Jobs API.
 * The dashboard token, when needed, comes from MEDVLTHINKER_RAY_TOKEN (or RAY_AUTH_TOKEN) and is
 * never printed.
 */
import { spawn } from "node:child_process";
import { parseArgs } from "node:util";
import { int, list, num, portFlag, readConfigFile, REPRODUCE_FLAGS, reproduceOptions } from "./args";
import { runInterruptible } from "./interrupt";
import { ConfigError } from "../errors";
import { exportGrpo, exportSft } from "../cluster/bundle";
import { followJob } from "../cluster/follow";
import { RayJobsClient } from "../cluster/ray-jobs";
import { serveAndEvaluate } from "../cluster/serve";
import { mergeJobSpec, submitBundle, jobRequest } from "../cluster/submit";
import type { Override } from "../cluster/verl-command";
import { createProgress } from "../viz/progress";
import { reproduceRow, type ReproduceOptions, type Reproduction } from "../eval/reproduce";

const USAGE = `usage:
  medvlthinker cluster export grpo --data PATH_OR_DATASET... --out DIR [options]
  medvlthinker cluster export sft --data PATH_OR_DATASET... --out DIR [options]
  medvlthinker cluster submit DIR --address URL [--submission-id ID]
  medvlthinker cluster follow ID --address URL --out RUN_DIR [--poll S]
  medvlthinker cluster status|logs|stop ID --address URL
  medvlthinker cluster merge --actor-dir DIR --target-dir DIR --address URL [--verl pinned|head] [--verl-dir DIR]
  medvlthinker cluster serve CHECKPOINT --address URL [--eval-command CMD] [serve options]

export grpo: verl RL parquet (evaluation items excluded), the reward as verl's compute_score, and the
verl main_ppo command rendered from the GRPO config (the published preset unless --config/--preset),
in one folder with a manifest. Options:
  --data LIST           dataset names or files (a curated.parquet...), repeatable / comma-separated
  --val LIST            held-out data for verl's validation (default: none, validation off)
  --out DIR             the export folder
  --config FILE         a GRPO config (JSON; fields over the preset)   --preset NAME (published)
  --verl V              pinned (the paper's commit 54b2677, default) or head (current verl)
  --modality M          text or image: which rows the pinned commit trains on when the data has both
  --model M             actor model (Qwen/Qwen2.5-VL-3B-Instruct)    --experiment NAME
  --gpus N (8) --nodes N (1) --tp N (2) --micro N (32)              --checkpoint-dir DIR (shared storage)
  --tokenizer FILE      Qwen2.5-VL tokenizer.json for exact prompt lengths (else an upper bound)
  --data-source NAME    data_source column (medvlthinker)            --limit N   --data-root DIR
  --set KEY=VALUE       extra Hydra override (repeatable; renamed for --verl head)
  --pass-env NAME       an environment variable the job gets from the submitting shell (repeatable)
  --overwrite           replace an existing export
export sft: verl SFT parquet (messages + images) and current verl's SFT trainer command with the
  paper's TRL settings (lr 1e-5, cosine, warm-up 5%, batch 16, 5 epochs); --max-length N (8192).
  The paper ran TRL 0.15.2 through its own script; verl's trainer is the documented interface that
  trains Qwen2.5-VL with images and writes checkpoints the merger and serve read (see src/cluster/verl-sft.ts).
submit: uploads DIR as the job's working_dir and prints the submission id as its last line.
follow: appends one record per verl step to RUN_DIR/metrics.jsonl; exit 0 when the job succeeds,
  1 with the job's message when it fails or is stopped.
serve: vllm serve as a Ray job (GPUs reserved for it), waits for /v1/models, runs 'medvlthinker
  reproduce' against it (the paper's protocol on the six benchmarks, the row beside the paper's), then
  stops the job. --paper-model TEXT --eval-parquet FILE --eval-out DIR --benchmarks LIST --limit N as
  for reproduce; --eval-command CMD runs CMD instead (MEDVLTHINKER_BASE_URL, MEDVLTHINKER_MODEL set);
  --no-eval only checks that the server answers.
  --name NAME --port N (8000) --tp N (1) --max-model-len N --max-images N (1) --base-url URL --legacy-limit`;

/**
 * The evaluation `cluster serve` runs by default: issue 15's reproduceRow against the served model.
 * Kept here (the CLI layer) so the cluster client stays independent of the evaluation code.
 */
export function reproduceOnServer(o: Omit<ReproduceOptions, "baseURL" | "model">): (baseUrl: string, model: string) => Promise<Reproduction> {
  return (baseUrl, model) => reproduceRow({ ...o, baseURL: baseUrl, model, profile: o.profile ?? "vllm" });
}

function client(address: string | undefined): RayJobsClient {
  const a = address ?? process.env.MEDVLTHINKER_RAY_ADDRESS;
  if (!a) throw new ConfigError("--address URL is required (the Ray dashboard, e.g. http://head:8265), or set MEDVLTHINKER_RAY_ADDRESS");
  return new RayJobsClient({ address: a });
}

function overrides(sets: string[] | undefined): Override[] {
  return (sets ?? []).map((s) => {
    const i = s.indexOf("=");
    if (i <= 0) throw new ConfigError(`--set: expected KEY=VALUE, got '${s}'`);
    return [s.slice(0, i), s.slice(i + 1)];
  });
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === "--help" || sub === "-h") {
    console.log(USAGE);
    return sub ? 0 : 2;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      data: { type: "string", multiple: true },
      val: { type: "string", multiple: true },
      out: { type: "string" },
      config: { type: "string" },
      preset: { type: "string" },
      verl: { type: "string" },
      modality: { type: "string" },
      model: { type: "string" },
      experiment: { type: "string" },
      gpus: { type: "string" },
      nodes: { type: "string" },
      tp: { type: "string" },
      micro: { type: "string" },
      "checkpoint-dir": { type: "string" },
      tokenizer: { type: "string" },
      "data-source": { type: "string" },
      "max-length": { type: "string" },
      set: { type: "string", multiple: true },
      "pass-env": { type: "string", multiple: true },
      overwrite: { type: "boolean" },
      address: { type: "string" },
      "submission-id": { type: "string" },
      poll: { type: "string" },
      "actor-dir": { type: "string" },
      "target-dir": { type: "string" },
      "verl-dir": { type: "string" },
      name: { type: "string" },
      port: { type: "string" },
      "max-model-len": { type: "string" },
      "max-images": { type: "string" },
      "base-url": { type: "string" },
      "legacy-limit": { type: "boolean" },
      "eval-command": { type: "string" },
      "no-eval": { type: "boolean" },
      // serve's evaluation (and export's --limit, --data-root, --no-progress): reproduce's flags.
      ...REPRODUCE_FLAGS,
      "eval-out": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const target = (values.verl ?? "pinned") as "pinned" | "head";
  if (target !== "pinned" && target !== "head") throw new ConfigError(`--verl must be pinned or head, got '${values.verl}'`);
  const id = positionals[0];
  const needId = () => {
    if (!id) throw new ConfigError(`cluster ${sub}: the submission id is required`);
    return id;
  };

  switch (sub) {
    case "export": {
      if (positionals[0] !== "grpo" && positionals[0] !== "sft") throw new ConfigError(`cluster export: grpo or sft (got '${positionals[0] ?? ""}')`);
      const data = list(values.data);
      if (!data) throw new ConfigError("--data is required (a curated.parquet, a dataset name such as vqa-rad, or any file the project loads)");
      if (!values.out) throw new ConfigError("--out DIR is required");
      const modality = values.modality as "text" | "image" | undefined;
      if (modality && modality !== "text" && modality !== "image") throw new ConfigError(`--modality must be text or image, got '${modality}'`);
      const config = { ...readConfigFile(values.config), ...(values.preset ? { preset: values.preset } : {}) };
      if (positionals[0] === "sft") {
        const m = await exportSft(values.out, {
          data,
          config,
          dataRoot: values["data-root"],
          limit: int("limit", values.limit),
          tokenizerFile: values.tokenizer,
          passEnv: list(values["pass-env"]),
          overwrite: values.overwrite,
          resources: Object.fromEntries(Object.entries({ model: values.model, experiment: values.experiment, nGpusPerNode: int("gpus", values.gpus), checkpointDir: values["checkpoint-dir"], maxLength: int("max-length", values["max-length"]) }).filter(([, v]) => v !== undefined)),
        });
        console.log(`  data/sft.parquet: ${m.counts.rows} rows, ${m.counts.images} images; left out: ${m.counts.left_out}`);
        for (const w of m.warnings) console.log(`warning: ${w}`);
        console.log(`wrote ${values.out} (command.sh, manifest.json); submit with: medvlthinker cluster submit ${values.out} --address URL`);
        return 0;
      }
      let bar: ReturnType<typeof createProgress> | null = null;
      let last = 0;
      const { manifest, data: report } = await exportGrpo(values.out, {
        data,
        val: list(values.val),
        config,
        dataRoot: values["data-root"],
        limit: int("limit", values.limit),
        target,
        modality,
        dataSource: values["data-source"],
        tokenizerFile: values.tokenizer,
        extra: overrides(values.set),
        passEnv: list(values["pass-env"]),
        overwrite: values.overwrite,
        resources: Object.fromEntries(
          Object.entries({
            model: values.model,
            experiment: values.experiment,
            nGpusPerNode: int("gpus", values.gpus),
            nnodes: int("nodes", values.nodes),
            tensorParallel: int("tp", values.tp),
            microBatchPerGpu: int("micro", values.micro),
            checkpointDir: values["checkpoint-dir"],
          }).filter(([, v]) => v !== undefined),
        ),
        onProgress: (done, total) => {
          if (values["no-progress"]) return;
          bar ??= createProgress({ total, label: "export" });
          bar.tick(done - last);
          last = done;
          if (done === total) bar.done();
        },
      });
      console.log(`loaded ${report.loaded} items; excluded as evaluation items: ${Object.values(report.excludedByBenchmark).reduce((a, b) => a + b, 0)}; open questions dropped: ${report.open}`);
      for (const f of manifest.files.filter((x) => x.rows !== undefined)) console.log(`  ${f.path}: ${f.rows} rows, ${f.images} images`);
      console.log(`left out: ${manifest.counts.left_out} (${Object.entries(manifest.counts.left_out_by_reason).map(([k, v]) => `${v} ${k}`).join(", ") || "none"}); prompt tokens ${manifest.prompt_tokens.counting}, longest kept ${manifest.prompt_tokens.longest_kept} of ${manifest.prompt_tokens.max_prompt_length}`);
      for (const w of manifest.warnings) console.log(`warning: ${w}`);
      console.log(`wrote ${values.out} (command.sh, manifest.json); submit with: medvlthinker cluster submit ${values.out} --address URL`);
      return 0;
    }
    case "submit": {
      if (!id) throw new ConfigError("cluster submit: the export folder is required");
      const c = client(values.address);
      const r = await submitBundle(c, id, { submissionId: values["submission-id"] });
      console.log(`uploaded ${r.package}`);
      console.log(r.submission_id);
      return 0;
    }
    case "status": {
      const j = await client(values.address).job(needId());
      console.log(JSON.stringify({ submission_id: j.submission_id, status: j.status, message: j.message ?? null, start_time: j.start_time ?? null, end_time: j.end_time ?? null, driver_exit_code: j.driver_exit_code ?? null }, null, 2));
      return 0;
    }
    case "logs": {
      process.stdout.write(await client(values.address).logs(needId()));
      return 0;
    }
    case "stop": {
      const stopped = await client(values.address).stop(needId());
      console.log(stopped ? `stop requested for ${id}` : `${id} was not running`);
      return 0;
    }
    case "follow": {
      if (!values.out) throw new ConfigError("--out RUN_DIR is required");
      const c = client(values.address);
      let lastStatus = "";
      // Ctrl-C stops following (what arrived is saved; following again resumes); the job goes on.
      const r = await runInterruptible("stopping follow; the job keeps running (stop it with: medvlthinker cluster stop ID)", (signal) =>
        followJob(c, needId(), {
          out: values.out as string,
          pollS: num("poll", values.poll),
          signal,
          onStatus: (j) => {
            if (j.status !== lastStatus) console.log(`${j.submission_id}: ${j.status}${j.message ? ` (${j.message})` : ""}`);
            lastStatus = j.status;
          },
          onStep: (m) => console.log(`step ${m.step}: ${[["reward", m.reward_mean], ["kl", m.kl_loss], ["response", m.response_length_mean], ["s", m.step_s]].filter(([, v]) => v !== undefined).map(([k, v]) => `${k} ${Number(v).toFixed(3)}`).join(", ")}`),
        }).then((x) => {
          console.log(`${x.status}: ${x.lastStep >= 0 ? `last step ${x.lastStep}` : "no step logged"}; metrics in ${values.out}/metrics.jsonl`);
          if (x.status === "SUCCEEDED") return 0;
          if (x.status === "FOLLOWING") return 130;
          console.error(`job ${id} ${x.status}: ${x.message || "(no message)"}`);
          return 1;
        }),
      );
      return r;
    }
    case "merge": {
      if (!values["actor-dir"] || !values["target-dir"]) throw new ConfigError("--actor-dir (…/global_step_N/actor) and --target-dir are required");
      const spec = mergeJobSpec({ actorDir: values["actor-dir"], targetDir: values["target-dir"], target, verlDir: values["verl-dir"] });
      const r = await client(values.address).submit(jobRequest(spec, null, { submissionId: values["submission-id"] }));
      console.log(r.submission_id);
      return 0;
    }
    case "serve": {
      if (!id) throw new ConfigError("cluster serve: the checkpoint (a merged Hugging Face folder on the cluster) is required");
      const c = client(values.address);
      const cmd = values["eval-command"];
      const reproduce = reproduceOnServer({ ...reproduceOptions(values), out: values["eval-out"] });
      const { submission_id, result } = await serveAndEvaluate(
        c,
        {
          checkpoint: id,
          name: values.name,
          port: portFlag(values.port),
          tensorParallel: int("tp", values.tp),
          maxModelLen: int("max-model-len", values["max-model-len"]),
          maxImages: int("max-images", values["max-images"]),
          limitSyntax: values["legacy-limit"] ? "legacy" : "json",
          baseUrl: values["base-url"],
          pollS: num("poll", values.poll),
          submissionId: values["submission-id"],
          onStatus: (l) => console.error(l),
        },
        async (baseUrl, model) => {
          console.log(`serving ${model} at ${baseUrl}`);
          if (values["no-eval"]) return 0;
          if (!cmd) {
            const r = await reproduce(baseUrl, model);
            console.log(r.text);
            return r.complete ? 0 : 1;
          }
          // The hook for `medvlthinker reproduce` (issue 15): any command, given the server in its environment.
          return await new Promise<number>((res, rej) => {
            const p = spawn(cmd, { shell: true, stdio: "inherit", env: { ...process.env, MEDVLTHINKER_BASE_URL: baseUrl, MEDVLTHINKER_MODEL: model } });
            p.on("error", rej);
            p.on("exit", (code) => res(code ?? 1));
          });
        },
      );
      console.log(`stopped ${submission_id}`);
      return result;
    }
    default:
      console.error(`medvlthinker cluster: unknown subcommand '${sub}'\n\n${USAGE}`);
      return 2;
  }
}
