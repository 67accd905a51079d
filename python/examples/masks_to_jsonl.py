"""Tokenize a folder of mask images into the official HiMTok answer strings, one JSON line per mask.

    PYTHONPATH=build/python python3 python/examples/masks_to_jsonl.py MODEL MASK_DIR OUT.jsonl

Each line: {"mask": "<file>", "ids": [32 ids], "answer": "<|mt_start|><|mt_12|>...<|mt_end|>"}, the
string convert_mask2tokens.py writes into the LMM training data (stretch geometry, as the official code).
"""
import json
import sys
from pathlib import Path

import himtok

BATCH = 64  # masks per forward pass

model, folder, out_path = sys.argv[1:4]
tok = himtok.MaskTokenizer(model)
files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp"})
with open(out_path, "w") as out:
    for i in range(0, len(files), BATCH):
        chunk = files[i:i + BATCH]
        ids = tok.encode([himtok.load_mask(str(f)) for f in chunk])  # (B, 32), one forward
        for f, row, answer in zip(chunk, ids, tok.token_string(ids)):
            out.write(json.dumps({"mask": f.name, "ids": row.tolist(), "answer": answer}) + "\n")
print(f"{len(files)} masks -> {out_path}")
