/**
 * A Ray Jobs API server on 127.0.0.1, written from Ray's documented routes and values
 * (dashboard/modules/job/job_head.py, common.py JobSubmitRequest, pydantic_models.py JobDetails,
 * openapi.yml): packages GET/PUT, POST /api/jobs/ (unknown keys and reused submission ids refused
 * with 400 as Ray does), GET job / logs, POST stop. A job follows a script of states the test
 * gives (each status read advances it), and faults can be injected per route: a dropped
 * connection before or after the server acted, or a 500.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Status = "PENDING" | "RUNNING" | "STOPPED" | "SUCCEEDED" | "FAILED";
export interface ScriptStep {
  status: Status;
  /** The whole driver log at this point. */
  log: string;
  message?: string;
}
export type Fault = "drop-before" | "drop-after" | "500";
export type Route = "submit" | "job" | "logs" | "package-get" | "package-put" | "stop";

const SUBMIT_KEYS = new Set(["entrypoint", "submission_id", "job_id", "runtime_env", "metadata", "entrypoint_num_cpus", "entrypoint_num_gpus", "entrypoint_memory", "entrypoint_resources"]);

export interface FakeJob {
  request: Record<string, unknown>;
  script: ScriptStep[];
  at: number;
  stopped: boolean;
}

export interface FakeRay {
  url: string;
  packages: Map<string, Buffer>;
  jobs: Map<string, FakeJob>;
  /** Every request: method, path, whether it carried the expected bearer token. */
  requests: { method: string; path: string; auth: string | undefined }[];
  /** Faults to inject, consumed in order per route. */
  faults: Partial<Record<Route, Fault[]>>;
  /** The script a newly submitted job follows. */
  nextScript: ScriptStep[];
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((res, rej) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => res(Buffer.concat(parts)));
    req.on("error", rej);
  });
}

export async function startFakeRay(): Promise<FakeRay> {
  const state: Omit<FakeRay, "url" | "close"> = { packages: new Map(), jobs: new Map(), requests: [], faults: {}, nextScript: [{ status: "SUCCEEDED", log: "" }] };
  const details = (id: string, j: FakeJob) => {
    const s = j.script[Math.min(j.at, j.script.length - 1)];
    const status: Status = j.stopped ? "STOPPED" : s.status;
    return {
      type: "SUBMISSION",
      job_id: null,
      submission_id: id,
      driver_info: status === "PENDING" ? null : { id: "01000000", node_ip_address: "127.0.0.1", pid: "4242" },
      status,
      entrypoint: j.request.entrypoint,
      message: j.stopped ? "Job was intentionally stopped." : s.message ?? (status === "PENDING" ? "Job has not started yet. It may be waiting for the runtime environment to be set up." : status === "SUCCEEDED" ? "Job finished successfully." : "Job is currently running."),
      error_type: status === "FAILED" ? "JOB_ENTRYPOINT_COMMAND_ERROR" : null,
      start_time: 1_700_000_000_000,
      end_time: ["STOPPED", "SUCCEEDED", "FAILED"].includes(status) ? 1_700_000_100_000 : null,
      metadata: j.request.metadata ?? {},
      runtime_env: j.request.runtime_env ?? {},
      driver_exit_code: status === "FAILED" ? 1 : status === "SUCCEEDED" ? 0 : null,
    };
  };
  const handle = async (req: IncomingMessage, res: ServerResponse, route: Route | null, act: () => Promise<[number, string]>) => {
    const fault = route ? state.faults[route]?.shift() : undefined;
    if (fault === "drop-before") return void req.socket.destroy();
    if (fault === "500") {
      res.writeHead(500, { "content-type": "text/plain" });
      return void res.end("Internal Server Error: Traceback (most recent call last): ...");
    }
    const [status, body] = await act();
    if (fault === "drop-after") return void req.socket.destroy(); // acted, but the answer is lost
    res.writeHead(status, { "content-type": body.startsWith("{") || body.startsWith("[") ? "application/json" : "text/plain" });
    res.end(body);
  };
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname;
    state.requests.push({ method: req.method ?? "", path, auth: req.headers.authorization });
    const body = await readBody(req);
    let m: RegExpExecArray | null;
    if (req.method === "GET" && path === "/api/version") return handle(req, res, null, async () => [200, JSON.stringify({ version: "4", ray_version: "2.41.0", ray_commit: "x", session_name: "s" })]);
    if ((m = /^\/api\/packages\/gcs\/(.+)$/.exec(path))) {
      const name = decodeURIComponent(m[1]);
      if (req.method === "GET") return handle(req, res, "package-get", async () => (state.packages.has(name) ? [200, ""] : [404, `Package gcs://${name} does not exist`]));
      if (req.method === "PUT")
        return handle(req, res, "package-put", async () => {
          state.packages.set(name, body);
          return [200, ""];
        });
    }
    if (req.method === "POST" && path === "/api/jobs/") {
      return handle(req, res, "submit", async () => {
        let json: Record<string, unknown>;
        try {
          json = JSON.parse(body.toString("utf8"));
        } catch {
          return [400, "Failed to parse request: not JSON"];
        }
        const unknown = Object.keys(json).filter((k) => !SUBMIT_KEYS.has(k));
        if (unknown.length) return [400, `TypeError: __init__() got an unexpected keyword argument '${unknown[0]}'`];
        if (typeof json.entrypoint !== "string") return [400, "TypeError: entrypoint must be a string"];
        const meta = json.metadata as Record<string, unknown> | undefined;
        if (meta && Object.values(meta).some((v) => typeof v !== "string")) return [400, "TypeError: metadata must be a dict of strings"];
        const id = (json.submission_id as string | undefined) ?? `raysubmit_${state.jobs.size + 1}`;
        if (state.jobs.has(id)) return [400, `Traceback ... ValueError: Job with submission_id ${id} already exists. Please use a different submission_id.`];
        state.jobs.set(id, { request: json, script: state.nextScript, at: 0, stopped: false });
        return [200, JSON.stringify({ job_id: `0${state.jobs.size}000000`, submission_id: id })];
      });
    }
    if ((m = /^\/api\/jobs\/([^/]+)(\/logs|\/stop)?$/.exec(path))) {
      const id = decodeURIComponent(m[1]);
      const j = state.jobs.get(id);
      const route: Route = m[2] === "/logs" ? "logs" : m[2] === "/stop" ? "stop" : "job";
      return handle(req, res, route, async () => {
        if (!j) return [404, `Job ${id} does not exist`];
        if (route === "logs") return [200, JSON.stringify({ logs: j.script[Math.min(j.at, j.script.length - 1)].log })];
        if (route === "stop") {
          const terminal = ["STOPPED", "SUCCEEDED", "FAILED"].includes(details(id, j).status);
          if (!terminal) j.stopped = true;
          return [200, JSON.stringify({ stopped: !terminal })];
        }
        const d = details(id, j);
        j.at++;
        return [200, JSON.stringify(d)];
      });
    }
    res.writeHead(404);
    res.end("Not Found");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}
