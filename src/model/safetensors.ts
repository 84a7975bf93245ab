/**
 * safetensors written and read by hand: 8-byte little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets}}, then raw little-endian f32 data. Written here rather than
 * through a package because the format is this small, the only package that reads it in our stack
 * (@jax-js/loaders) does not write it, and a hand-written writer lets us write atomically
 * (temp file + rename) and check every name and shape on load.
 */
import { readFileSync } from "node:fs";
import { writeFileAtomic } from "../atomic";

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function encodeSafetensors(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Uint8Array[] {
  if (!LITTLE) throw new Error("safetensors: big-endian hosts are not supported");
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let off = 0;
  for (const n of names) {
    const t = tensors[n];
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length) throw new RangeError(`safetensors: tensor '${n}' has ${t.data.length} values for shape [${t.shape}]`);
    header[n] = { dtype: "F32", shape: t.shape, data_offsets: [off, off + size * 4] };
    off += size * 4;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8); // pad so tensor data is 8-byte aligned
  const head = Buffer.from(json, "utf8");
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(head.byteLength), true);
  return [len, head, ...names.map((n) => new Uint8Array(tensors[n].data.buffer, tensors[n].data.byteOffset, tensors[n].data.byteLength))];
}

export function writeSafetensors(path: string, tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

export function readSafetensors(path: string): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const buf = readFileSync(path);
  if (buf.byteLength < 8) throw new Error(`${path}: too short for safetensors (${buf.byteLength} bytes)`);
  const hlen = Number(buf.readBigUInt64LE(0));
  if (8 + hlen > buf.byteLength) throw new Error(`${path}: header length ${hlen} exceeds file size ${buf.byteLength}`);
  const header = JSON.parse(buf.subarray(8, 8 + hlen).toString("utf8")) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const base = 8 + hlen;
  const tensors: Record<string, Tensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, h] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = h as unknown as Record<string, string>;
      continue;
    }
    if (h.dtype !== "F32") throw new Error(`${path}: tensor '${name}': dtype ${h.dtype}, only F32 is supported`);
    const [a, b] = h.data_offsets;
    const n = h.shape.reduce((x, y) => x * y, 1);
    if (b - a !== n * 4 || base + b > buf.byteLength) throw new Error(`${path}: tensor '${name}': offsets [${a}, ${b}] do not fit shape [${h.shape}]`);
    const data = new Float32Array(n);
    new Uint8Array(data.buffer).set(buf.subarray(base + a, base + b));
    tensors[name] = { shape: h.shape, data };
  }
  return { tensors, metadata };
}
