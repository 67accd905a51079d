#!/usr/bin/env python3
"""Writes a Hugging Face folder in the layout of the released InternVL2_5-HiMTok-8B with RANDOM bf16
weights at the real sizes (17.5 GB, 4 shards + model.safetensors.index.json), to measure loading,
peak memory and speed of the real shapes without the real weights. Standard library only.

    python3 scripts/make_random_release.py /tmp/random-8b
    /usr/bin/time -v build/himtok segment --model /tmp/random-8b --image IMG --ref x --max-tiles 1 ...

Key names and shapes: spec official-internvl-himtok.md §2 (vision, mlp1, language model) and
tests/data/spec/official-himtok-keys.tsv (the 693 mask_decoder.* keys). The tokenizer and chat
files are the golden set's (tests/data/internvl-tiny/hf, same 93,579-id vocabulary); config.json is
that file with the 8B sizes.
"""
import json, os, random, shutil, struct, sys

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
out = sys.argv[1]
os.makedirs(out, exist_ok=True)

def keys():
    v = 1024
    yield "vision_model.embeddings.class_embedding", (1, 1, v)
    yield "vision_model.embeddings.position_embedding", (1, 1025, v)
    yield "vision_model.embeddings.patch_embedding.weight", (v, 3, 14, 14)
    yield "vision_model.embeddings.patch_embedding.bias", (v,)
    for i in range(24):
        p = "vision_model.encoder.layers.%d." % i
        for n in ("norm1", "norm2"):
            yield p + n + ".weight", (v,)
            yield p + n + ".bias", (v,)
        yield p + "attn.qkv.weight", (3 * v, v); yield p + "attn.qkv.bias", (3 * v,)
        yield p + "attn.proj.weight", (v, v); yield p + "attn.proj.bias", (v,)
        yield p + "mlp.fc1.weight", (4 * v, v); yield p + "mlp.fc1.bias", (4 * v,)
        yield p + "mlp.fc2.weight", (v, 4 * v); yield p + "mlp.fc2.bias", (v,)
        yield p + "ls1", (v,); yield p + "ls2", (v,)
    yield "mlp1.0.weight", (4096,); yield "mlp1.0.bias", (4096,)
    yield "mlp1.1.weight", (4096, 4096); yield "mlp1.1.bias", (4096,)
    yield "mlp1.3.weight", (4096, 4096); yield "mlp1.3.bias", (4096,)
    V, C = 93579, 4096
    yield "language_model.model.tok_embeddings.weight", (V, C)
    for i in range(32):
        p = "language_model.model.layers.%d." % i
        yield p + "attention_norm.weight", (C,); yield p + "ffn_norm.weight", (C,)
        yield p + "attention.wqkv.weight", (6144, C); yield p + "attention.wo.weight", (C, C)
        yield p + "feed_forward.w1.weight", (14336, C); yield p + "feed_forward.w3.weight", (14336, C)
        yield p + "feed_forward.w2.weight", (C, 14336)
    yield "language_model.model.norm.weight", (C,)
    yield "language_model.output.weight", (V, C)
    for line in open(os.path.join(root, "tests/data/spec/official-himtok-keys.tsv")):
        name, shape, dtype = line.rstrip("\n").split("\t")
        yield "mask_decoder." + name, tuple(int(s) for s in shape.strip("()").split(",") if s.strip()) or (), dtype

def numel(shape):
    n = 1
    for d in shape: n *= d
    return n

random.seed(0)
# A pool of random bf16 values in [-0.02, 0.02] (upper halves of fp32), reused with offsets.
pool = b"".join(struct.pack("<f", random.uniform(-0.02, 0.02))[2:] for _ in range(1 << 16))
pool = pool * 16  # 2 MiB
one = struct.pack("<f", 1.0)[2:]

entries = []
for k in keys():
    name, shape = k[0], k[1]
    dtype = "BOOL" if len(k) > 2 and k[2] == "bool" else "BF16"
    entries.append((name, shape, dtype))

shard_bytes = 4_600_000_000
shards, cur, size = [], [], 0
for e in entries:
    nb = numel(e[1]) * (1 if e[2] == "BOOL" else 2)
    if cur and size + nb > shard_bytes:
        shards.append(cur); cur, size = [], 0
    cur.append(e); size += nb
shards.append(cur)

weight_map, total = {}, 0
for si, sh in enumerate(shards):
    fname = "model-%05d-of-%05d.safetensors" % (si + 1, len(shards))
    header, off = {}, 0
    for name, shape, dtype in sh:
        nb = numel(shape) * (1 if dtype == "BOOL" else 2)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + nb]}
        off += nb; weight_map[name] = fname
    header["__metadata__"] = {"format": "pt"}
    hj = json.dumps(header).encode(); hj += b" " * ((-len(hj)) % 8)
    with open(os.path.join(out, fname), "wb") as f:
        f.write(struct.pack("<Q", len(hj))); f.write(hj)
        for name, shape, dtype in sh:
            nb = numel(shape) * (1 if dtype == "BOOL" else 2)
            norm = name.endswith(("norm.weight", "norm1.weight", "norm2.weight", ".ls1", ".ls2", "ln_1.weight",
                                  "ln_2.weight", "mlp1.0.weight", "ln_pre.weight", "ln_post.weight"))
            if dtype == "BOOL":
                f.write(b"\0" * nb)
            elif norm:
                f.write(one * (nb // 2))
            else:
                start = random.randrange(0, 1 << 16) * 2
                while nb > 0:
                    chunk = pool[start:start + nb]
                    f.write(chunk); nb -= len(chunk); start = 0
    total += off
    print(fname, off / 1e9, "GB", flush=True)

json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, open(os.path.join(out, "model.safetensors.index.json"), "w"))
hf = os.path.join(root, "tests/data/internvl-tiny/hf")
for n in os.listdir(hf):
    if n != "config.json": shutil.copy(os.path.join(hf, n), out)
shutil.copy(os.path.join(root, "tests/data/internvl-tiny/tokenizer/tokenizer_internlm2.model"), os.path.join(out, "tokenizer.model"))
cfg = json.load(open(os.path.join(hf, "config.json")))
cfg["vision_config"].update(hidden_size=1024, intermediate_size=4096, num_attention_heads=16, num_hidden_layers=24)
cfg["llm_config"].update(hidden_size=4096, intermediate_size=14336, num_attention_heads=32, num_key_value_heads=8,
                         num_hidden_layers=32)
cfg["torch_dtype"] = "bfloat16"
cfg["hidden_size"] = 4096
json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
print("total", total / 1e9, "GB")
