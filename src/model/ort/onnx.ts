/**
 * A small ONNX graph builder: nodes, graph inputs/outputs and constants, encoded with onnx-proto
 * (the ONNX protobuf schema). Tensors are referred to by name (string). Used to express the
 * embedded transformer's forward and backward passes for onnxruntime (lm-graph.ts), which runs
 * matmuls with native SIMD kernels (MLAS) where the wasm engine cannot.
 *
 * Why hand-built graphs: there is no ONNX exporter for a TypeScript model and onnxruntime-node
 * has no training API, so the backward pass is written out explicitly (lm-graph.ts), as llm.c does.
 */
import onnxProto from "onnx-proto";
import type { onnx as OnnxTypes } from "onnx-proto";

// A CommonJS module whose named export Node's ESM loader cannot see: take it off the default.
const { onnx } = onnxProto;

export type Dim = number | string;
export type DType = "float32" | "int32" | "int64";

const ELEM: Record<DType, number> = { float32: 1, int32: 6, int64: 7 };

type Attr = number | number[] | string | { floats: number[] } | { float: number };

function attribute(name: string, v: Attr): OnnxTypes.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === "string") return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === "number") return Number.isInteger(v) ? { name, type: T.INT, i: v } : { name, type: T.FLOAT, f: v };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ("floats" in v) return { name, type: T.FLOATS, floats: v.floats };
  return { name, type: T.FLOAT, f: v.float };
}

function valueInfo(name: string, dtype: DType, shape: Dim[]): OnnxTypes.IValueInfoProto {
  return { name, type: { tensorType: { elemType: ELEM[dtype], shape: { dim: shape.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } } };
}

export class GraphBuilder {
  private nodes: OnnxTypes.INodeProto[] = [];
  private inits: OnnxTypes.ITensorProto[] = [];
  private inputs: OnnxTypes.IValueInfoProto[] = [];
  private outputs: OnnxTypes.IValueInfoProto[] = [];
  private count = 0;
  private constCache = new Map<string, string>();

  constructor(readonly name: string) {}

  private fresh(hint: string): string {
    return `${hint}_${this.count++}`;
  }

  /** Declare a graph input. */
  input(name: string, dtype: DType, shape: Dim[]): string {
    this.inputs.push(valueInfo(name, dtype, shape));
    return name;
  }

  /** Expose `tensor` as graph output `name` (an Identity node renames it). */
  output(tensor: string, name: string, dtype: DType, shape: Dim[]): void {
    this.nodes.push({ opType: "Identity", input: [tensor], output: [name], name: this.fresh("out") });
    this.outputs.push(valueInfo(name, dtype, shape));
  }

  /** One node with one output; returns the output's name. `domain` "com.microsoft" for contrib ops. */
  op(type: string, inputs: string[], attrs: Record<string, Attr> = {}, domain = ""): string {
    return this.opN(type, inputs, 1, attrs, domain)[0];
  }

  /** One node with `n` outputs. */
  opN(type: string, inputs: string[], n: number, attrs: Record<string, Attr> = {}, domain = ""): string[] {
    const outs = Array.from({ length: n }, () => this.fresh(type));
    this.nodes.push({ opType: type, domain, input: inputs, output: outs, name: this.fresh(`n_${type}`), attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)) });
    return outs;
  }

  /** A constant tensor (deduplicated by value). */
  const(dtype: "float32" | "int64", values: number[], dims: number[] = [values.length]): string {
    const key = `${dtype}:${dims.join(",")}:${values.join(",")}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.fresh("const");
    const t: OnnxTypes.ITensorProto = { name, dims, dataType: ELEM[dtype] };
    if (dtype === "float32") t.floatData = values;
    else t.int64Data = values;
    this.inits.push(t);
    this.constCache.set(key, name);
    return name;
  }

  /** Scalar float constant. */
  scalar(v: number): string {
    return this.const("float32", [v], []);
  }

  /** int64 vector constant (shapes, axes, slice bounds). */
  ints(v: number[]): string {
    return this.const("int64", v);
  }

  encode(): Uint8Array {
    const model: OnnxTypes.IModelProto = {
      irVersion: 8,
      producerName: "medvlthinker-ts",
      opsetImport: [
        { domain: "", version: 17 },
        { domain: "com.microsoft", version: 1 },
      ],
      graph: { name: this.name, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
    };
    return onnx.ModelProto.encode(model).finish();
  }
}
