"""PyTorch reference for bench/model.ts: the same decoder (RMSNorm, rotary positions, SwiGLU,
causal attention, tied embeddings) trained with AdamW and sampled with a fixed-size KV cache.
Prints one JSON line: training
tokens/s from the mean and from the median step, sampling tokens/s from the best of `repeats` runs. Run with /usr/bin/python3 (Debian python3-torch), OMP_WAIT_POLICY=PASSIVE."""
import json, math, os, resource, sys, time
import torch
import torch.nn.functional as F

cfg = json.loads(sys.argv[1])
torch.set_num_threads(int(cfg.get("threads", 2)))
torch.manual_seed(0)
V, d, L, H, f, S = cfg["vocab"], cfg["d"], cfg["layers"], cfg["heads"], cfg["mlp"], cfg["ctx"]
B, steps, warm = cfg["batch"], cfg["steps"], cfg["warmup"]
hd = d // H


def rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w


inv = 1.0 / (10000 ** (torch.arange(0, hd // 2).float() / (hd // 2)))
ang = torch.arange(S).float()[:, None] * inv[None]
COS, SIN = ang.cos(), ang.sin()


def rope(x, cos, sin):
    x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)


def p(*shape, std=0.02):
    return torch.nn.Parameter(torch.randn(*shape) * std)


params = {"embed": p(V, d), "final": torch.nn.Parameter(torch.ones(d))}
for l in range(L):
    params[f"{l}.n1"] = torch.nn.Parameter(torch.ones(d))
    params[f"{l}.qkv"] = p(d, 3 * d)
    params[f"{l}.o"] = p(d, d)
    params[f"{l}.n2"] = torch.nn.Parameter(torch.ones(d))
    params[f"{l}.gu"] = p(d, 2 * f)
    params[f"{l}.down"] = p(f, d)


def block(l, x, cos, sin, mask, cache=None, pos=None):
    Bq, T, _ = x.shape
    h = rms(x, params[f"{l}.n1"]) @ params[f"{l}.qkv"]
    q, k, v = h.split(d, -1)
    q, k, v = (t.view(Bq, T, H, hd).transpose(1, 2) for t in (q, k, v))
    q, k = rope(q, cos, sin), rope(k, cos, sin)
    if cache is not None:
        cache[0][l][:, :, pos : pos + T] = k
        cache[1][l][:, :, pos : pos + T] = v
        k, v = cache[0][l][:, :, : pos + T], cache[1][l][:, :, : pos + T]
    att = (q @ k.transpose(-1, -2)) / math.sqrt(hd) + mask
    o = (att.softmax(-1) @ v).transpose(1, 2).reshape(Bq, T, d) @ params[f"{l}.o"]
    x = x + o
    gu = rms(x, params[f"{l}.n2"]) @ params[f"{l}.gu"]
    g, u = gu.split(f, -1)
    return x + (F.silu(g) * u) @ params[f"{l}.down"]


def forward(tokens, cache=None, pos=0):
    T = tokens.shape[1]
    x = params["embed"][tokens]
    cos, sin = COS[pos : pos + T], SIN[pos : pos + T]
    mask = torch.full((T, pos + T), float("-inf")).triu(pos + 1)
    for l in range(L):
        x = block(l, x, cos, sin, mask, cache, pos)
    return rms(x, params["final"]) @ params["embed"].t()


opt = torch.optim.AdamW(params.values(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.01)
data = torch.randint(0, V, (B, S + 1))
times = []
for i in range(warm + steps):
    t0 = time.perf_counter()
    logits = forward(data[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, V), data[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
    opt.step()
    if i >= warm:
        times.append(time.perf_counter() - t0)
train_tps = B * S * len(times) / sum(times)
train_tps_median = B * S / sorted(times)[len(times) // 2]

prompt_len, new = cfg["prompt"], cfg["new_tokens"]
with torch.no_grad():
    def sample_once():
        cache = ([torch.zeros(B, H, S, hd) for _ in range(L)], [torch.zeros(B, H, S, hd) for _ in range(L)])
        tok = torch.randint(0, V, (B, prompt_len))
        logits = forward(tok, cache, 0)[:, -1]
        for i in range(new):
            nxt = torch.multinomial(logits.softmax(-1), 1)
            logits = forward(nxt, cache, prompt_len + i)[:, -1]
    sample_once()  # warm-up
    best = float("inf")
    for _ in range(int(cfg.get("repeats", 1))):
        t0 = time.perf_counter()
        sample_once()
        best = min(best, time.perf_counter() - t0)
    sample_tps = B * new / best

def openblas_core():
    """The kernel set OpenBLAS chose (or was forced to by OPENBLAS_CORETYPE), e.g. Haswell, SkylakeX, Cooperlake."""
    try:
        import ctypes
        lib = ctypes.CDLL("libopenblas.so.0")  # the one torch loaded (same soname)
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return "unknown"


print(json.dumps({
    "torch_version": torch.__version__,
    "openblas_core": openblas_core(),
    "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")},
    "params": sum(p.numel() for p in params.values()),
    "train_tokens_per_s": train_tps,
    "train_tokens_per_s_median": train_tps_median,
    "sample_tokens_per_s": sample_tps,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
