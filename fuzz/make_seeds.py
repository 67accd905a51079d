#!/usr/bin/env python3
"""Seeds the fuzz corpora (build-fuzz/corpus/<target>/seed_*) from tests/data and configs/.

Large files are cut down (a few annotations, short strings) so that each seed fits the target's
-max_len in scripts/fuzz.sh. Existing seeds are overwritten; the rest of a corpus is kept.
"""
import glob
import json
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DATA = os.path.join(ROOT, "tests", "data")


def put(corpus, target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed_" + name), "wb") as f:
        f.write(data)


def safetensors(entries, metadata=None):
    """entries: [(name, dtype, shape, bytes)] -> a safetensors file as the format describes."""
    header, blob = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def main(corpus):
    # safetensors: small files in the layout tests/data/golden/*.safetensors use.
    put(corpus, "fuzz_safetensors", "f32", safetensors([("w", "F32", [2, 3], struct.pack("<6f", *range(6)))],
                                                       {"config": "{}"}))
    put(corpus, "fuzz_safetensors", "mixed", safetensors([
        ("a.weight", "BF16", [4], b"\x80\x3f" * 4), ("b.idx", "I64", [1, 2], struct.pack("<2q", 3, -1)),
        ("empty", "F32", [0, 5], b""), ("m", "BOOL", [3], b"\x01\x00\x01"), ("s", "U8", [], b"\x07")]))
    golden = os.path.join(DATA, "golden", "encode.safetensors")
    with open(golden, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = f.read(n)
    put(corpus, "fuzz_safetensors", "golden_header", struct.pack("<Q", n) + head)  # data cut: offsets now lie
    put(corpus, "fuzz_safetensors_index", "hf", json.dumps({
        "metadata": {"total_size": 1234},
        "weight_map": {"mask_decoder.a": "model-00001-of-00002.safetensors",
                       "language_model.b": "model-00002-of-00002.safetensors"}}))

    # Token strings and id lists (the formats of tests/test_lmm_response.cpp and the CLI).
    put(corpus, "fuzz_token_strings", "framed", "<|mt_start|>" + "".join(f"<|mt_{k}|>" for k in (3, 17, 1000, 0)) +
        "<|mt_end|>")
    put(corpus, "fuzz_token_strings", "bare", " <|mt_5|> <|mt_7|>\n")
    put(corpus, "fuzz_token_strings", "ids", "3,17,1000, 4")
    with open(os.path.join(DATA, "lmm", "himtok_examples.jsonl")) as f:
        for i, line in enumerate(f):
            for turn in json.loads(line)["conversations"]:
                if turn["from"] == "gpt":
                    put(corpus, "fuzz_token_strings", f"example{i}", turn["value"])
                    put(corpus, "fuzz_response", f"example{i}", turn["value"])
    with open(os.path.join(DATA, "lmm", "box_regex_golden.json")) as f:
        for i, case in enumerate(json.load(f)["cases"]):
            put(corpus, "fuzz_response", f"box{i}", case["text"])
    put(corpus, "fuzz_response", "yesno", "Yes, it is.")
    put(corpus, "fuzz_response", "choice", "B. the red one")

    # COCO RLE strings with their sizes (pycocotools vectors of tests/data/oracle).
    for i, line in enumerate(open(os.path.join(DATA, "oracle", "synthetic_edge_cases.jsonl"))):
        j = json.loads(line)
        if "string" in j and j["h"] <= 1024 and j["w"] <= 1024:
            put(corpus, "fuzz_rle", f"edge{i}", struct.pack("<HH", j["h"], j["w"]) + j["string"].encode())
    res = json.load(open(glob.glob(os.path.join(DATA, "coco", "fakesegm100", "*.json"))[0]))
    for i, a in enumerate(res[:8]):
        seg = a["segmentation"]
        put(corpus, "fuzz_rle", f"coco{i}", struct.pack("<HH", *seg["size"]) + seg["counts"].encode())

    # COCO JSON: a few annotations of each fixture, plus polygons and an uncompressed RLE.
    put(corpus, "fuzz_coco", "results", json.dumps(res[:3]))
    inst = json.load(open(os.path.join(DATA, "refcocog", "instances.json")))
    small = {k: (v[:3] if isinstance(v, list) else v) for k, v in inst.items()}
    put(corpus, "fuzz_coco", "instances", json.dumps(small))
    put(corpus, "fuzz_coco", "hand", json.dumps({
        "images": [{"id": 1, "height": 20, "width": 30, "file_name": "a.jpg"}],
        "categories": [{"id": 1, "name": "x"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [1, 2, 3, 4], "area": 5,
             "segmentation": [[1, 1, 10, 1, 10, 10, 1, 10]]},
            {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 1,
             "segmentation": {"size": [20, 30], "counts": [5, 10, 585]}},
            {"id": 3, "image_id": 1, "category_id": 1, "segmentation": {"size": [20, 30], "counts": "52203"}}]}))

    # HiMTok jsonl.
    with open(os.path.join(DATA, "himtok-examples", "anns", "seg_data_with_mask.jsonl")) as f:
        put(corpus, "fuzz_jsonl", "examples", f.read())

    # Images: small (64x48) versions of the masks and photos of tests/data in every PNG, JPEG and
    # BMP layout the reader meets (fuzz/make_image_seeds.py made them).
    for p in sorted(glob.glob(os.path.join(ROOT, "fuzz", "seeds", "image", "*"))):
        put(corpus, "fuzz_image", os.path.basename(p), open(p, "rb").read())

    # Configs.
    for p in sorted(glob.glob(os.path.join(ROOT, "configs", "*.json"))) + [os.path.join(DATA, "golden", "config.json")]:
        if os.path.basename(p) != "templates.json":
            put(corpus, "fuzz_config", os.path.basename(p), open(p, "rb").read())


if __name__ == "__main__":
    main(sys.argv[1])
