/**
 * A client for the Ray Jobs HTTP API of the dashboard (default port 8265), on `fetch`: no
 * maintained JavaScript client exists (scaleout.md section 6). Routes, payload and status values as
 * Ray's job_head.py / pydantic_models.py / openapi.yml document them:
 *
 *   GET  /api/version                     {version, ray_version, ...}
 *   GET  /api/packages/gcs/<name>         200 when the package exists (and pins it), 404 when not
 *   PUT  /api/packages/gcs/<name>         raw zip bytes
 *   POST /api/jobs/                       {entrypoint, submission_id, runtime_env, metadata, entrypoint_num_*}
 *   GET  /api/jobs/<id>                   JobDetails
 *   GET  /api/jobs/<id>/logs              {logs: the whole driver log}
 *   POST /api/jobs/<id>/stop              {stopped: bool}
 *
 * Every call retries dropped connections and 5xx answers with backoff. Submitting is made safe to
 * retry by the submission id: the client chooses it, sends the same one on every attempt, and an
 * "already exists" answer to a retry means an earlier attempt reached the server, so the job is
 * never submitted twice. A bearer token is read from the environment, sent only as a header and
 * never printed or stored.
 */
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import AdmZip from "adm-zip";

export type JobStatus = "PENDING" | "RUNNING" | "STOPPED" | "SUCCEEDED" | "FAILED";
export const TERMINAL_STATUSES: readonly JobStatus[] = ["STOPPED", "SUCCEEDED", "FAILED"];

export interface JobDetails {
  type?: string;
  job_id?: string | null;
  submission_id: string;
  status: JobStatus;
  entrypoint: string;
  message?: string | null;
  error_type?: string | null;
  /** Unix milliseconds. */
  start_time?: number | null;
  end_time?: number | null;
  metadata?: Record<string, string> | null;
  runtime_env?: Record<string, unknown> | null;
  driver_exit_code?: number | null;
}

export interface JobSubmitRequest {
  entrypoint: string;
  submission_id?: string;
  runtime_env?: Record<string, unknown>;
  metadata?: Record<string, string>;
  entrypoint_num_cpus?: number;
  entrypoint_num_gpus?: number;
  entrypoint_memory?: number;
  entrypoint_resources?: Record<string, number>;
}

/** A refused or failed request (after retries), with the status and the server's text. */
export class RayJobsError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
    this.name = "RayJobsError";
  }
}

export interface RayJobsClientOptions {
  /** Dashboard URL, e.g. http://head:8265. */
  address: string;
  /** Bearer token; default $MEDVLTHINKER_RAY_TOKEN, else $RAY_AUTH_TOKEN, else none. */
  token?: string;
  /** Attempts after the first for dropped connections and 5xx (default 6). */
  retries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Per-request timeout (default 60 s; package uploads get 10 min). */
  timeoutMs?: number;
}

/** `raysubmit_`-style id chosen by the client, so that retries resend the same one. */
export function newSubmissionId(prefix = "medvlthinker"): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(6).toString("hex")}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class RayJobsClient {
  readonly address: string;
  readonly #token: string | undefined;
  private readonly retries: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;

  constructor(o: RayJobsClientOptions) {
    if (!/^https?:\/\//.test(o.address)) throw new RayJobsError(`--address must be the dashboard URL (http://host:8265), got '${o.address}'`, null);
    this.address = o.address.replace(/\/+$/, "");
    this.#token = o.token ?? (process.env.MEDVLTHINKER_RAY_TOKEN || process.env.RAY_AUTH_TOKEN || undefined);
    this.retries = o.retries ?? 6;
    this.baseDelayMs = o.baseDelayMs ?? 500;
    this.maxDelayMs = o.maxDelayMs ?? 15_000;
    this.timeoutMs = o.timeoutMs ?? 60_000;
  }

  /** Not the token: safe to print. */
  toJSON(): Record<string, unknown> {
    return { address: this.address, token: this.#token ? "(set)" : "(none)" };
  }

  /**
   * One request with retries on dropped connections, timeouts and 5xx. `accept` says which
   * statuses are answers (not retried); the response body is returned as text.
   */
  private async request(method: string, path: string, o: { body?: Uint8Array | string; json?: boolean; accept?: (status: number) => boolean; timeoutMs?: number } = {}): Promise<{ status: number; text: string }> {
    let lastError = "";
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) await sleep(Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1)));
      let r: { status: number; text: string };
      try {
        r = await this.requestOnce(method, path, o);
      } catch (e) {
        lastError = (e as Error).message;
        continue;
      }
      if (r.status >= 500 && !(o.accept?.(r.status) ?? false)) {
        lastError = `${method} ${path}: HTTP ${r.status}: ${clip(r.text)}`;
        continue;
      }
      if (r.status === 401 || r.status === 403) throw new RayJobsError(`${method} ${path}: HTTP ${r.status}: the dashboard refused the credentials (set MEDVLTHINKER_RAY_TOKEN)`, r.status);
      if (o.accept ? !o.accept(r.status) : r.status < 200 || r.status >= 300) throw new RayJobsError(`${method} ${path}: HTTP ${r.status}: ${clip(r.text)}`, r.status);
      return r;
    }
    throw new RayJobsError(`${lastError} (gave up after ${this.retries + 1} attempts)`, null);
  }

  /** One attempt; a dropped connection or a timeout throws (with the cause), an HTTP answer returns. */
  private async requestOnce(method: string, path: string, o: { body?: Uint8Array | string; json?: boolean; timeoutMs?: number } = {}): Promise<{ status: number; text: string }> {
    const headers: Record<string, string> = {};
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (o.json) headers["content-type"] = "application/json";
    try {
      const res = await fetch(`${this.address}${path}`, { method, headers, body: o.body, signal: AbortSignal.timeout(o.timeoutMs ?? this.timeoutMs) });
      return { status: res.status, text: await res.text() };
    } catch (e) {
      const cause = (e as { cause?: Error }).cause;
      throw new Error(`${method} ${path}: ${(e as Error).message}${cause ? ` (${cause.message})` : ""}`);
    }
  }

  private async getJson<T>(path: string): Promise<T> {
    const { text } = await this.request("GET", path);
    return parseJson<T>(text, `GET ${path}`);
  }

  async version(): Promise<{ version: string; ray_version?: string }> {
    return this.getJson("/api/version");
  }

  async packageExists(name: string): Promise<boolean> {
    const { status } = await this.request("GET", `/api/packages/gcs/${encodeURIComponent(name)}`, { accept: (s) => s === 200 || s === 404 });
    return status === 200;
  }

  /** Upload a zip unless the cluster has it; returns the runtime_env URI `gcs://_ray_pkg_<sha1>.zip`. */
  async uploadPackage(zip: Uint8Array): Promise<string> {
    const name = packageName(zip);
    if (!(await this.packageExists(name))) await this.request("PUT", `/api/packages/gcs/${encodeURIComponent(name)}`, { body: zip, timeoutMs: 600_000 });
    return `gcs://${name}`;
  }

  /**
   * Submit once. The submission id is fixed before the first attempt (generated when absent); a
   * retry answered "already exists" means an earlier attempt got through. An "already exists" on the
   * first attempt is someone else's job and is an error.
   */
  async submit(req: JobSubmitRequest): Promise<{ submission_id: string; job_id?: string }> {
    const body = JSON.stringify({ ...req, submission_id: req.submission_id ?? newSubmissionId() });
    const id = (JSON.parse(body) as JobSubmitRequest).submission_id as string;
    let lastError = "";
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) await sleep(Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1)));
      let r: { status: number; text: string };
      try {
        // One attempt per loop turn: the retry decision needs to know whether an attempt was made.
        r = await this.requestOnce("POST", "/api/jobs/", { body, json: true });
      } catch (e) {
        lastError = (e as Error).message;
        continue;
      }
      if (r.status === 200) {
        const j = parseJson<{ submission_id?: string; job_id?: string }>(r.text, "POST /api/jobs/");
        return { submission_id: j.submission_id ?? id, job_id: j.job_id };
      }
      if (/already exists/i.test(r.text)) {
        if (attempt === 0) throw new RayJobsError(`POST /api/jobs/: submission id '${id}' is already used by another job: ${clip(r.text)}`, r.status);
        return { submission_id: id };
      }
      if (r.status >= 500) {
        lastError = `POST /api/jobs/: HTTP ${r.status}: ${clip(r.text)}`;
        continue;
      }
      if (r.status === 401 || r.status === 403) throw new RayJobsError(`POST /api/jobs/: HTTP ${r.status}: the dashboard refused the credentials (set MEDVLTHINKER_RAY_TOKEN)`, r.status);
      throw new RayJobsError(`POST /api/jobs/: HTTP ${r.status}: ${clip(r.text)}`, r.status);
    }
    throw new RayJobsError(`${lastError} (gave up after ${this.retries + 1} attempts; submission id ${id})`, null);
  }

  async job(id: string): Promise<JobDetails> {
    return this.getJson(`/api/jobs/${encodeURIComponent(id)}`);
  }

  async list(): Promise<JobDetails[]> {
    return this.getJson("/api/jobs/");
  }

  /** The whole driver log so far (newest Ray keeps the last 16 MiB, marked "[LOG TRUNCATED ...]"). */
  async logs(id: string): Promise<string> {
    const j = await this.getJson<{ logs?: string }>(`/api/jobs/${encodeURIComponent(id)}/logs`);
    return j.logs ?? "";
  }

  async stop(id: string): Promise<boolean> {
    const { text } = await this.request("POST", `/api/jobs/${encodeURIComponent(id)}/stop`);
    const j = parseJson<{ stopped?: boolean } | string>(text, "stop");
    return typeof j === "object" && j !== null ? Boolean(j.stopped) : true;
  }
}

function clip(s: string, n = 2000): string {
  const t = s.trim();
  return t.length > n ? `${t.slice(0, n)}...` : t;
}

function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new RayJobsError(`${what}: the dashboard answered something that is not JSON: ${clip(text, 300)}`, null);
  }
}

// ---------------------------------------------------------------------------------------------
// Packages

/** Ray's package name for a prebuilt zip: `_ray_pkg_<sha1 of the bytes>.zip` (packaging.py get_uri_for_package). */
export function packageName(zip: Uint8Array): string {
  return `_ray_pkg_${createHash("sha1").update(zip).digest("hex")}.zip`;
}

/** Fixed entry time, so the same folder always zips to the same bytes (and the same package name). */
const ZIP_EPOCH = new Date(1980, 0, 1);

/**
 * Zip a folder as Ray unpacks a working_dir: entries relative to the folder, no top-level folder,
 * sorted, with fixed times. `exclude` drops relative paths starting with any of its prefixes.
 */
export function zipFolder(dir: string, exclude: string[] = [".git/"]): Buffer {
  const zip = new AdmZip();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const rel = relative(dir, p).split(sep).join("/");
      const isDir = statSync(p).isDirectory();
      if (exclude.some((x) => (isDir ? `${rel}/` : rel).startsWith(x))) continue;
      if (isDir) walk(p);
      else zip.addFile(rel, readFileSync(p)).header.time = ZIP_EPOCH;
    }
  };
  walk(dir);
  return zip.toBuffer();
}
