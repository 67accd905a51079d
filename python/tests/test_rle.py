"""COCO RLE against the pycocotools 2.0.11 oracle rows in tests/data/oracle (see its SOURCE.txt)."""
import hashlib
import json

import numpy as np
import pytest

from conftest import DATA, read_jsonl


def sha(mask):
    return hashlib.sha256(np.ascontiguousarray(mask, np.uint8).tobytes()).hexdigest()  # row-major


def box(b):
    return [float(x) for x in b]


def test_synthetic_edge_cases(himtok):
    rows = read_jsonl("oracle/synthetic_edge_cases.jsonl")
    assert len(rows) == 15
    for r in rows:
        rle = {"size": [r["h"], r["w"]], "counts": r["string"]}
        m = himtok.rle_decode(rle)
        assert m.shape == (r["h"], r["w"]) and m.dtype == np.uint8, r["name"]
        assert sha(m) == r["mask_sha256_rowmajor"], r["name"]
        assert himtok.rle_area(rle) == r["area"], r["name"]
        assert himtok.rle_bbox(rle) == box(r["bbox"]), r["name"]
        if "counts" in r:
            # runs -> string, pixels -> string: byte-identical to pycocotools (bytes, as mask.encode)
            assert himtok.rle_encode(m) == {"size": [r["h"], r["w"]], "counts": r["string"].encode()}, r["name"]
            assert np.array_equal(himtok.rle_decode({"size": [r["h"], r["w"]], "counts": r["counts"]}), m)
            if r.get("mask_rowmajor") is not None:
                given = np.array(r["mask_rowmajor"], np.uint8).reshape(r["h"], r["w"])
                assert himtok.rle_encode(given)["counts"] == r["string"].encode(), r["name"]
                assert himtok.rle_encode(given.astype(bool))["counts"] == r["string"].encode(), r["name"]
        else:  # the zero-leading-runs string
            assert himtok.rle_encode(m)["counts"] == r["reencoded_string"].encode()


def test_fakesegm100_decode(himtok):
    results = json.loads((DATA / "coco/fakesegm100/instances_val2014_fakesegm100_results.json").read_text())
    rows = read_jsonl("oracle/coco_fakesegm100_decode.jsonl")
    assert len(rows) == 734
    segs = [results[r["index"]]["segmentation"] for r in rows]
    areas = himtok.rle_area(segs)  # a list at once
    masks = himtok.rle_decode(segs)
    for r, seg, area, m in zip(rows, segs, areas, masks):
        assert [r["h"], r["w"]] == seg["size"]
        assert area == r["area"]
        assert himtok.rle_bbox(seg) == box(r["bbox"])
        assert sha(m) == r["mask_sha256_rowmajor"]
        assert (himtok.rle_encode(m)["counts"] == seg["counts"].encode()) == r["reencode_string_equal"]


def test_fakesegm100_iou(himtok):
    results = json.loads((DATA / "coco/fakesegm100/instances_val2014_fakesegm100_results.json").read_text())
    rows = read_jsonl("oracle/coco_fakesegm100_iou.jsonl")
    assert len(rows) == 99
    for r in rows:
        rles = [results[i]["segmentation"] for i in r["indices"]]
        n = len(rles)
        plain = himtok.rle_iou(rles, rles, [0] * n)
        crowd = himtok.rle_iou(rles, rles, [1] * n)
        assert plain.shape == (n, n)
        np.testing.assert_allclose(plain, r["iou_iscrowd0"], atol=1e-11, rtol=0)  # oracle: 12 decimals
        np.testing.assert_allclose(crowd, r["iou_gt_iscrowd1"], atol=1e-11, rtol=0)
        np.testing.assert_allclose(himtok.rle_iou(rles, rles), plain, atol=0, rtol=0)


def test_panoptic_and_refcocog_rows(himtok):
    for rel, area_key, box_key in [("oracle/coco_panoptic_rle_vs_png.jsonl", "rle_area", "rle_bbox"),
                                   ("oracle/refcocog_umd_fixture_poly2rle.jsonl", "rle_area", "rle_bbox")]:
        rows = read_jsonl(rel)
        assert len(rows) in (50, 15)
        for r in rows:
            rle = {"size": [r["h"], r["w"]], "counts": r["counts"]}
            m = himtok.rle_decode(rle)
            assert sha(m) == r["mask_sha256_rowmajor"]
            assert himtok.rle_area(rle) == r[area_key]
            assert himtok.rle_bbox(rle) == box(r[box_key])
            assert himtok.rle_encode(m)["counts"] == r["counts"].encode()  # re-encoding is exact


def test_fortran_stack_and_list(himtok):
    a = np.zeros((5, 4), np.uint8)
    a[1:3, 2] = 1
    b = np.ones((5, 4), np.uint8)
    stack = np.asfortranarray(np.stack([a, b], axis=2))  # pycocotools' (H, W, N) layout
    assert himtok.rle_encode(stack) == [himtok.rle_encode(a), himtok.rle_encode(b)]
    assert himtok.rle_encode([a, b]) == [himtok.rle_encode(a), himtok.rle_encode(b)]
    # column-major runs: pixels (1, 2) and (2, 2) are numbers 2*5+1 = 11 and 12 -> 11 background, 2 object, 7
    assert himtok.rle_decode({"size": [5, 4], "counts": [11, 2, 7]}).tolist() == a.tolist()
    assert himtok.rle_decode({"size": [5, 4], "counts": [9, 2, 9]}).tolist() != a.tolist()
