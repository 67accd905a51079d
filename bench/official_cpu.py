#!/usr/bin/python3
"""Times the OFFICIAL HiMTok mask tokenizer (yayafengzi/LMM-HiMTok @67e7ecf, unmodified maths) on the
CPU with Debian's python3-torch, the counterpart of build/bench_detok in scripts/bench_detok.sh.

Loads the official classes through ../shared/anchor/official_loader.py (its docstring lists the harness
changes: size-table entries, einops stand-in, autocast no-op), at official-large sizes (or another
golden-style config.json), random weights (torch.manual_seed(0)), fp32, and times
  decode_prob(prob)   prob (B, 32, 1024) = softmax(3 randn)     (MaskDecoder.decode_prob, the LMM path)
  encode(x)           x (B, 3, 256, 256) binary                  (HiMT.encode)
at the batch sizes given, median of --reps timed calls after one warm-up call. Prints one JSON line per
measurement ({"impl": "official", "op", "dtype", "batch", "median_s", "s_per_mask", ...}).

  /usr/bin/python3 bench/official_cpu.py --anchor ../shared/anchor --threads 2 --batches 1,8 --reps 3
  ... --profile 1      also prints torch.autograd.profiler's table (self CPU time by op) for one decode
(No bf16 row: the official code has no CPU bf16 path; under torch.autocast("cpu", bfloat16) torch 1.13's
group_norm fails with "expected scalar type BFloat16 but found Float".)

Needs python3-torch and python3-omegaconf (Debian); nothing is downloaded.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

OFFICIAL_LARGE = {  # the official himt.yaml sizes ("large" encoder/decoder, the literal pixel decoder)
    "width": 1024, "depth": 24, "heads": 16, "patch_size": 16, "image_size": 256, "num_latent_tokens": 32,
    "codebook_size": 1024, "token_size": 12, "use_l2_norm": True, "legacy_reshape": True,
    "pixel_hidden_channels": 128, "pixel_channel_mult": [1, 1, 2, 2, 4], "pixel_num_res_blocks": 2,
    "pixel_z_channels": 1024,
}


def timed(fn, reps):
    fn()  # warm-up (allocator, oneDNN primitive cache)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), ts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--anchor", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "anchor"))
    ap.add_argument("--config", default="", help="golden-style config.json; default official-large")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ops", default="decode,encode")
    ap.add_argument("--profile", type=int, default=0)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    sys.path.insert(0, a.anchor)
    import official_loader

    cfg = dict(OFFICIAL_LARGE)
    if a.config:
        cfg.update(json.load(open(a.config)))
    mod = official_loader.load(os.path.join(a.anchor, "LMM-HiMTok"), cfg)
    torch.manual_seed(0)
    m = mod.MaskDecoder(mod.model_config).eval()
    m.dtype = torch.float32  # decode_prob casts prob and the codebook to self.dtype
    info = {"impl": "official", "torch": torch.__version__, "threads": torch.get_num_threads(),
            "params": sum(p.numel() for p in m.parameters())}
    print(json.dumps(dict(info, op="info", mkldnn=torch.backends.mkldnn.is_available())), flush=True)
    L, K, S = cfg["num_latent_tokens"], cfg["codebook_size"], cfg["image_size"]
    ops = a.ops.split(",")
    with torch.no_grad():
        for B in [int(b) for b in a.batches.split(",")]:
            g = torch.Generator().manual_seed(B)
            prob = torch.softmax(torch.randn(B, L, K, generator=g) * 3, -1)
            x = (torch.rand(B, 1, S, S, generator=g) > 0.5).float().expand(B, 3, S, S).contiguous()
            runs = []
            if "decode" in ops:
                runs.append(("decode", "fp32", lambda: m.decode_prob(prob)))
            if "encode" in ops:
                runs.append(("encode", "fp32", lambda: m.encode(x)))
            for op, dt, fn in runs:
                med, ts = timed(fn, a.reps)
                print(json.dumps(dict(info, op=op, dtype=dt, batch=B, median_s=med, s_per_mask=med / B,
                                      times_s=ts)), flush=True)
            if a.profile and "decode" in ops:
                with torch.autograd.profiler.profile() as prof:
                    m.decode_prob(prob)
                print(f"# official decode_prob B={B} profile (self CPU time)", flush=True)
                print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25), flush=True)
                a.profile = 0  # one profile is enough


if __name__ == "__main__":
    main()
