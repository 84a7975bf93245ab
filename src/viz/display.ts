/**
 * Rich output under tslab, plain text elsewhere. tslab's public `display` sends one mime type per
 * output; its internal `lastWriteDisplayData` (tslab/dist/jupyter.js) sends a whole bundle, which
 * is what Jupyter front-ends expect (plotly json + html + text together). We find that module in
 * Node's module cache instead of importing tslab, so nothing loads tslab outside a kernel.
 */
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { join } from "node:path";

/** mime type -> content (strings, or JSON objects for `application/*+json` types). */
export type MimeBundle = Record<string, unknown>;

type WriteDisplayData = (msg: { data: MimeBundle; metadata: Record<string, unknown>; transient: { display_id?: string } }, update: boolean) => void;

const TSLAB_JUPYTER = /[\\/]tslab[\\/]dist[\\/]jupyter\.js$/;

function tslabJupyter(): { lastWriteDisplayData?: WriteDisplayData | null } | undefined {
  const cache = createRequire(join(process.cwd(), "noop.js")).cache;
  for (const key of Object.keys(cache)) {
    if (TSLAB_JUPYTER.test(key)) return cache[key]?.exports;
  }
  return undefined;
}

/** The kernel's display writer when running inside a tslab kernel that has executed a cell. */
function writer(): WriteDisplayData | undefined {
  const w = tslabJupyter()?.lastWriteDisplayData;
  return typeof w === "function" ? w : undefined;
}

/** True inside a tslab kernel (notebook), false under node, tsx, tests or the CLI. */
export function isTslab(): boolean {
  return writer() !== undefined;
}

export function newDisplayId(): string {
  return randomBytes(8).toString("hex");
}

/**
 * Send one display_data (or update_display_data when `update`) carrying the whole bundle.
 * Returns false, sending nothing, outside tslab.
 */
export function sendBundle(bundle: MimeBundle, opts: { displayId?: string; update?: boolean } = {}): boolean {
  const w = writer();
  if (!w) return false;
  w({ data: bundle, metadata: {}, transient: opts.displayId ? { display_id: opts.displayId } : {} }, opts.update === true);
  return true;
}

/** Show a bundle: rich under tslab, its text/plain on stdout elsewhere. */
export function showBundle(bundle: MimeBundle): void {
  if (sendBundle(bundle)) return;
  const text = bundle["text/plain"];
  if (typeof text === "string") console.log(text);
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** JSON that is safe inside a <script> element (no `</script>`, no JS-breaking line separators). */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value ?? null)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}
