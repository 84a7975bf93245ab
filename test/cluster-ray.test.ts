/**
 * The Ray Jobs client, submit and follow against a Ray Jobs server started on 127.0.0.1
 * (test/helpers/fake-ray-server.ts, written from Ray's documented routes and status values):
 * package upload under its hash name, the submission payload, status transitions, logs replayed
 * and cut mid-line, dropped connections and 5xx during submit and follow with exactly one job
 * submitted, a failing and a stopped job with their messages, the token never shown.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import AdmZip from "adm-zip";
import { followJob } from "../src/cluster/follow";
import { packageName, RayJobsClient, zipFolder } from "../src/cluster/ray-jobs";
import { submitBundle } from "../src/cluster/submit";
import { parseStepLine, VerlLogReader } from "../src/cluster/verl-log";
import { serveAndEvaluate, vllmServeEntrypoint } from "../src/cluster/serve";
import { readMetrics } from "../src/train/runs";
import { reproduceOnServer, run as cli } from "../src/cli/cluster";
import { PAPER_BENCHMARKS } from "../src/eval/benchmarks";
import { answerer, makeDatasets, startFakeServer } from "./helpers/fake-openai-server";
import { startFakeRay, type ScriptStep } from "./helpers/fake-ray-server";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

const FAST = { retries: 5, baseDelayMs: 1, maxDelayMs: 5 };

function exportDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "ray-bundle-"));
  mkdirSync(join(dir, "data"));
  mkdirSync(join(dir, "reward"));
  writeFileSync(join(dir, "data", "train-text.parquet"), Buffer.from("PAR1 fake parquet bytes PAR1"));
  writeFileSync(join(dir, "reward", "medvlthinker_reward.py"), "def compute_score(*a, **k):\n    return 0.0\n");
  writeFileSync(
    join(dir, "job.json"),
    JSON.stringify({ entrypoint: "python3 -m verl.trainer.main_ppo algorithm.adv_estimator=grpo", runtime_env: { env_vars: { TORCH_NCCL_AVOID_RECORD_STREAMS: "1" } }, pass_env: ["WANDB_API_KEY"], metadata: { tool: "medvlthinker-ts", kind: "verl-grpo" } }),
  );
  return dir;
}

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  try {
    return { code: await fn(), out, err };
  } finally {
    console.log = log;
    console.error = error;
  }
}

const line = (step: number, extra = "", prefix = "(TaskRunner pid=87031)") =>
  `${prefix} step:${step} - global_seqlen/min:340538.000 - actor/entropy_loss:0.317 - actor/kl_loss:${(0.001 * step).toFixed(3)} - actor/pg_loss:0.000 - actor/lr:0.000 - critic/score/mean:${(0.1 * step).toFixed(3)} - critic/advantages/max:1.768 - response_length/mean:${100 + step}.500 - response_length/clip_ratio:0.000 - timing_s/gen:29.641 - timing_s/reward:1.000 - timing_s/old_log_prob:2.000 - timing_s/step:60.125${extra}`;

test("verl step lines: actor prefix, colours, numpy reprs, validation-only lines; the reader skips replays and waits for whole lines", () => {
  const p = parseStepLine("\x1b[36m(TaskRunner pid=5, ip=10.0.0.2)\x1b[0m step:7 - critic/score/mean:np.float64(0.5) - val-core/med/reward/mean@1:0.25 - note:abc");
  assert.deepEqual(p, { step: 7, metrics: { "critic/score/mean": 0.5, "val-core/med/reward/mean@1": 0.25 } });
  assert.equal(parseStepLine("(TaskRunner pid=5) Initial validation metrics: {...}"), null);
  const r = new VerlLogReader();
  assert.deepEqual(r.feedChunk(line(1).slice(0, 50)), []);
  const got = r.feedChunk(line(1).slice(50) + "\n" + line(2));
  assert.deepEqual(got.map((x) => x.step), [1]);
  assert.equal(got[0].reward_mean, 0.1);
  assert.equal(got[0].entropy, 0.317);
  assert.equal(got[0].score_s, 3);
  assert.deepEqual(r.finish().map((x) => x.step), [2]);
  assert.deepEqual(r.feedChunk("\n" + line(2) + "\n" + line(1) + "\n"), [], "replayed steps are not reported again");
});

test("package upload under Ray's hash name, then one job with the documented payload; the token is sent, never shown", async () => {
  const ray = await startFakeRay();
  const dir = exportDir();
  process.env.MEDVLTHINKER_RAY_TOKEN = "s3cret-token";
  try {
    const client = new RayJobsClient({ address: ray.url, ...FAST });
    assert.doesNotMatch(JSON.stringify(client), /s3cret/);
    const zip = zipFolder(dir);
    assert.deepEqual(zip, zipFolder(dir), "the same folder zips to the same bytes");
    const names = new AdmZip(zip).getEntries().map((e) => e.entryName).sort();
    assert.deepEqual(names, ["data/train-text.parquet", "job.json", "reward/medvlthinker_reward.py"], "entries relative to the folder, no top-level folder");
    ray.faults["package-put"] = ["500"];
    const r = await submitBundle(client, dir, { env: { WANDB_API_KEY: "wandb-key" } });
    const pkg = [...ray.packages.keys()];
    assert.equal(pkg.length, 1);
    assert.equal(pkg[0], `_ray_pkg_${createHash("sha1").update(ray.packages.get(pkg[0]) as Buffer).digest("hex")}.zip`);
    assert.equal(pkg[0], packageName(zip));
    assert.equal(r.package, `gcs://${pkg[0]}`);
    assert.equal(ray.jobs.size, 1);
    const req = ray.jobs.get(r.submission_id)?.request as Record<string, unknown>;
    assert.deepEqual(Object.keys(req).sort(), ["entrypoint", "metadata", "runtime_env", "submission_id"]);
    assert.equal(req.entrypoint, "python3 -m verl.trainer.main_ppo algorithm.adv_estimator=grpo");
    assert.deepEqual(req.runtime_env, { working_dir: `gcs://${pkg[0]}`, env_vars: { TORCH_NCCL_AVOID_RECORD_STREAMS: "1", WANDB_API_KEY: "wandb-key" } });
    assert.deepEqual(req.metadata, { tool: "medvlthinker-ts", kind: "verl-grpo" });
    assert.ok(ray.requests.every((q) => q.auth === "Bearer s3cret-token"));
    // The key passed from the shell is not written into the folder.
    assert.doesNotMatch(readFileSync(join(dir, "submissions.jsonl"), "utf8"), /wandb-key/);
    // Second submit: the package exists (GET 200), no upload; the submissions log stays out of the zip.
    const puts = ray.requests.filter((q) => q.method === "PUT").length;
    await submitBundle(client, dir, { env: { WANDB_API_KEY: "k" } });
    assert.equal(ray.requests.filter((q) => q.method === "PUT").length, puts);
    assert.equal(ray.jobs.size, 2);
    // Errors name the status and the server's text, not the token.
    await assert.rejects(client.job("nope"), (e: Error) => /404/.test(e.message) && !/s3cret/.test(e.message));
    await assert.rejects(submitBundle(client, dir, { env: {} }), /WANDB_API_KEY/);
  } finally {
    delete process.env.MEDVLTHINKER_RAY_TOKEN;
    rmSync(dir, { recursive: true, force: true });
    await ray.close();
  }
});

test("dropped connections and 5xx during submit: retried with the same id, exactly one job; a reused id on the first try is an error", async () => {
  const ray = await startFakeRay();
  try {
    const client = new RayJobsClient({ address: ray.url, ...FAST });
    ray.faults.submit = ["drop-after", "500", "drop-before"];
    const r = await client.submit({ entrypoint: "echo hi", submission_id: "job-a", metadata: { a: "b" } });
    assert.equal(r.submission_id, "job-a");
    assert.equal(ray.jobs.size, 1);
    assert.equal(ray.requests.filter((q) => q.method === "POST" && q.path === "/api/jobs/").length, 4);
    ray.faults.submit = ["drop-before", "drop-before"];
    await client.submit({ entrypoint: "echo again", submission_id: "job-b" });
    assert.equal(ray.jobs.size, 2);
    await assert.rejects(client.submit({ entrypoint: "echo", submission_id: "job-a" }), /already used by another job/);
    assert.equal(ray.jobs.size, 2);
    await assert.rejects(new RayJobsClient({ address: ray.url, ...FAST, retries: 2 }).submit({ entrypoint: "x", submission_id: "job-c", ...({ bogus: 1 } as object) }), /HTTP 400.*unexpected keyword/);
    ray.faults.submit = ["500", "500", "500", "500"];
    await assert.rejects(new RayJobsClient({ address: ray.url, ...FAST, retries: 3 }).submit({ entrypoint: "x", submission_id: "job-d" }), /gave up after 4 attempts/);
    assert.equal(ray.jobs.size, 2);
  } finally {
    await ray.close();
  }
});

test("follow: PENDING -> RUNNING -> SUCCEEDED, logs cut mid-line and replayed after a truncated head, faults in between: each step once", async () => {
  const ray = await startFakeRay();
  const dir = mkdtempSync(join(tmpdir(), "ray-follow-"));
  try {
    const l1 = line(1);
    const l2 = line(2, "", "\x1b[36m(TaskRunner pid=87031, ip=10.0.0.2)\x1b[0m");
    const logs = [
      "",
      `Job started\n${l1}\n${l2.slice(0, 70)}`,
      `Job started\n${l1}\n${l2}\n${line(3)}\n(TaskRunner pid=87031) some progress\n`,
      `[LOG TRUNCATED — showing last 16 MiB of 20 MiB]\n${l2}\n${line(3)}\n${line(4)}\n`,
      `[LOG TRUNCATED — showing last 16 MiB of 20 MiB]\n${l2}\n${line(3)}\n${line(4)}\n${line(5)}`,
    ];
    const script: ScriptStep[] = [
      { status: "PENDING", log: logs[0] },
      { status: "RUNNING", log: logs[1] },
      { status: "RUNNING", log: logs[2] },
      { status: "RUNNING", log: logs[3] },
      { status: "SUCCEEDED", log: logs[4] },
    ];
    ray.nextScript = script;
    const client = new RayJobsClient({ address: ray.url, ...FAST });
    const { submission_id: id } = await client.submit({ entrypoint: "python3 -m verl.trainer.main_ppo" });
    ray.faults.job = ["500", "drop-before"];
    ray.faults.logs = ["drop-before", "500"];
    const seen: string[] = [];
    const r = await followJob(client, id, { out: dir, pollS: 0.001, onStatus: (j) => void seen.push(j.status) });
    assert.equal(r.status, "SUCCEEDED");
    assert.deepEqual([...new Set(seen)], ["PENDING", "RUNNING", "SUCCEEDED"]);
    const ms = readMetrics<Record<string, number>>(join(dir, "metrics.jsonl")).records;
    assert.deepEqual(ms.map((m) => m.step), [1, 2, 3, 4, 5]);
    ms.forEach((m, i) => {
      assert.equal(m.reward_mean, Number((0.1 * (i + 1)).toFixed(3)));
      assert.equal(m.kl_loss, Number((0.001 * (i + 1)).toFixed(3)));
      assert.equal(m.response_length_mean, 101.5 + i);
      assert.equal(m.step_s, 60.125);
    });
    assert.equal(ray.jobs.size, 1);
    // Following again (a restarted notebook) appends nothing new.
    const again = await followJob(client, id, { out: dir, pollS: 0.001 });
    assert.equal(again.steps.length, 0);
    assert.equal(readMetrics(join(dir, "metrics.jsonl")).records.length, 5);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await ray.close();
  }
});

test("cli: submit prints the id last; follow of a failing job exits 1 with the job's message; stop ends a running job", async () => {
  const ray = await startFakeRay();
  const dir = exportDir();
  const run = mkdtempSync(join(tmpdir(), "ray-cli-"));
  try {
    const failure = "Job entrypoint command failed with exit code 1, last available logs (truncated to 20,000 chars): NotImplementedError: sequence_length=3000 is larger than max_length=2048";
    ray.nextScript = [
      { status: "RUNNING", log: `${line(1)}\n` },
      { status: "FAILED", log: `${line(1)}\nTraceback (most recent call last):\n`, message: failure },
    ];
    process.env.WANDB_API_KEY = "x";
    const s = await capture(() => cli(["submit", dir, "--address", ray.url]));
    assert.equal(s.code, 0);
    const id = s.out[s.out.length - 1];
    assert.ok(ray.jobs.has(id), `last line '${id}' is the submission id`);
    const st = await capture(() => cli(["status", id, "--address", ray.url]));
    assert.equal(JSON.parse(st.out.join("\n")).status, "RUNNING");
    const f = await capture(() => cli(["follow", id, "--address", ray.url, "--out", run, "--poll", "0.001"]));
    assert.equal(f.code, 1);
    assert.ok(f.err.join("\n").includes(failure), f.err.join("\n"));
    assert.equal(readMetrics(join(run, "metrics.jsonl")).records.length, 1);
    const lg = await capture(() => cli(["logs", id, "--address", ray.url]));
    assert.equal(lg.code, 0);

    ray.nextScript = [{ status: "RUNNING", log: "" }];
    const s2 = await capture(() => cli(["submit", dir, "--address", ray.url]));
    const id2 = s2.out[s2.out.length - 1];
    const stop = await capture(() => cli(["stop", id2, "--address", ray.url]));
    assert.equal(stop.code, 0);
    const f2 = await capture(() => cli(["follow", id2, "--address", ray.url, "--out", join(run, "2"), "--poll", "0.001"]));
    assert.equal(f2.code, 1);
    assert.match(f2.err.join("\n"), /STOPPED: Job was intentionally stopped/);
    assert.equal(ray.jobs.size, 2);
  } finally {
    delete process.env.WANDB_API_KEY;
    rmSync(dir, { recursive: true, force: true });
    rmSync(run, { recursive: true, force: true });
    await ray.close();
  }
});

test("serve: vllm serve submitted with GPUs reserved, waits for /v1/models, runs the evaluation, stops the job", async () => {
  const ray = await startFakeRay();
  let up = false;
  const vllm = createServer((req, res) => {
    if (req.url === "/v1/models" && up) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: [{ id: "medvlthinker-3b", object: "model" }] }));
    } else {
      res.writeHead(503);
      res.end();
    }
  });
  await new Promise<void>((r) => vllm.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(vllm.address() as AddressInfo).port}/v1`;
  try {
    ray.nextScript = [{ status: "PENDING", log: "" }, { status: "RUNNING", log: "INFO: Started server process" }];
    const client = new RayJobsClient({ address: ray.url, ...FAST });
    let polls = 0;
    const r = await serveAndEvaluate(client, { checkpoint: "/shared/merged/medvlthinker-3b", tensorParallel: 2, maxImages: 5, baseUrl: base, pollS: 0.001, onStatus: () => void (++polls >= 3 && (up = true)) }, async (url, model) => `${model}@${url}`);
    assert.equal(r.result, `medvlthinker-3b@${base}`);
    const job = ray.jobs.get(r.submission_id);
    assert.ok(job?.stopped, "the serve job is stopped after the evaluation");
    assert.equal(job?.request.entrypoint_num_gpus, 2);
    const ep = String(job?.request.entrypoint);
    for (const flag of ["--served-model-name medvlthinker-3b", "--dtype bfloat16", "--seed 42", "--tensor-parallel-size 2", "--generation-config vllm", `--limit-mm-per-prompt '{"image":5}'`]) assert.ok(ep.includes(flag), `${flag} in ${ep}`);
    assert.match(vllmServeEntrypoint({ checkpoint: "m", limitSyntax: "legacy" }), /--limit-mm-per-prompt image=1/);
    // An evaluation that throws still stops the job.
    ray.nextScript = [{ status: "RUNNING", log: "" }];
    let id = "";
    await assert.rejects(
      serveAndEvaluate(client, { checkpoint: "/m/medvlthinker-3b", baseUrl: base, pollS: 0.001, submissionId: "serve-2" }, async () => {
        id = "serve-2";
        throw new Error("evaluation failed");
      }),
      /evaluation failed/,
    );
    assert.ok(ray.jobs.get(id)?.stopped);
  } finally {
    vllm.close();
    await ray.close();
  }
});

test("cluster serve runs issue 15's reproduce against the served model, or a given command, and stops the job either way", { timeout: 60_000 }, async () => {
  const ray = await startFakeRay();
  const datasets = makeDatasets(Object.fromEntries(PAPER_BENCHMARKS.map((id) => [id, 2])));
  const bodies: Record<string, unknown>[] = [];
  const vllm = await startFakeServer({ answer: answerer(datasets), models: ["medvlthinker-3b"], fault: (info) => (bodies.push(info.body), null) });
  const out = mkdtempSync(join(tmpdir(), "serve-repro-"));
  try {
    ray.nextScript = [{ status: "RUNNING", log: "" }];
    const client = new RayJobsClient({ address: ray.url, ...FAST });
    const r = await serveAndEvaluate(client, { checkpoint: "/shared/merged/medvlthinker-3b", baseUrl: vllm.url, pollS: 0.001 },
      reproduceOnServer({ paperModel: "MedVLThinker-3B RL(m23k)", out, datasets, progress: false, log: () => {} }));
    assert.equal(r.result.rows.filter((x) => PAPER_BENCHMARKS.includes(x.benchmark)).length, 6);
    assert.equal(bodies.length, 6 * 2 * 3, "six benchmarks, 2 items, 3 runs through the served model");
    assert.ok(bodies.every((b) => b.model === "medvlthinker-3b" && b.temperature === 0 && b.seed === 42));
    assert.ok(ray.jobs.get(r.submission_id)?.stopped);

    // --eval-command: the command gets the server in its environment; its exit code is the command's.
    const marker = join(out, "env.txt");
    const cmd = `node -e "require('fs').writeFileSync('${marker}', process.env.MEDVLTHINKER_BASE_URL + ' ' + process.env.MEDVLTHINKER_MODEL); process.exit(3)"`;
    const s = await capture(() => cli(["serve", "/shared/merged/medvlthinker-3b", "--address", ray.url, "--base-url", vllm.url, "--eval-command", cmd, "--submission-id", "serve-cli"]));
    assert.equal(s.code, 3);
    assert.equal(readFileSync(marker, "utf8"), `${vllm.url} medvlthinker-3b`);
    assert.ok(ray.jobs.get("serve-cli")?.stopped);
  } finally {
    rmSync(out, { recursive: true, force: true });
    await vllm.close();
    await ray.close();
  }
});
