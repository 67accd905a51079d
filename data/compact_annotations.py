#!/usr/bin/env python3
"""Writes the compact COCO-format annotation files of data/coco2017-excerpts and data/taco from
the project's shared copies (../shared/data), keeping only what a mask source reads:
images {id, width, height}, annotations {id, image_id, category_id, bbox, segmentation},
categories {id, name}. Coordinates are copied unchanged (json round-trips doubles exactly).

  coco2017-excerpts: the four excerpt files merged, images and annotations deduplicated by id,
                     crowd annotations (uncompressed RLE regions, not objects) dropped, and the
                     images of the evaluation set data/coco-fakesegm100 (COCO 2014 val, the same
                     image ids as 2017) dropped so that no evaluated object is trained on.
  taco:              one file per source file (they reuse image ids); annotations with an empty
                     segmentation or lying wholly outside their frame (drawn at another scale)
                     dropped; all others kept in file order (the reviewed file has two
                     pairs of different objects sharing an annotation id: 309 and 4040).
Usage (from the repository root): python3 data/compact_annotations.py ../shared/data
"""
import json
import os
import sys


def compact(files, keep, dedup):
    images, anns, cats = {}, {}, {}
    for f in files:
        d = json.load(open(f))
        for im in d["images"]:
            images[im["id"]] = {"id": im["id"], "width": im["width"], "height": im["height"]}
        for a in d["annotations"]:
            if keep(a):
                anns[a["id"] if dedup else len(anns)] = {k: a[k] for k in ("id", "image_id", "category_id", "bbox", "segmentation")}
        for c in d["categories"]:
            cats[c["id"]] = {"id": c["id"], "name": c["name"]}
    used = {a["image_id"] for a in anns.values()}
    return {
        "images": [images[i] for i in sorted(used)],
        "annotations": [anns[i] for i in sorted(anns)],
        "categories": [cats[i] for i in sorted(cats)],
    }


def write(obj, path):
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    print(path, len(obj["images"]), "images", len(obj["annotations"]), "annotations", os.path.getsize(path), "bytes")


def main(shared):
    coco = os.path.join(shared, "coco2017-excerpts")
    files = [os.path.join(coco, f"coco-{s}_instances_{p}2017.json") for s in ("mini", "tiny") for p in ("train", "val")]
    held = {r["image_id"] for r in json.load(open("data/coco-fakesegm100/instances_val2014_fakesegm100_results.json"))}
    print("dropping evaluation images", sorted(held & {im["id"] for f in files for im in json.load(open(f))["images"]}))
    write(compact(files, lambda a: not a["iscrowd"] and a["image_id"] not in held, True), "data/coco2017-excerpts/instances_excerpts2017.json")
    for src, dst in (("annotations.json", "taco_official.json"), ("annotations_unofficial.json", "taco_unofficial.json")):
        path = os.path.join(shared, "taco", src)
        size = {im["id"]: (im["width"], im["height"]) for im in json.load(open(path))["images"]}

        def usable(a):  # a non-empty polygon whose box meets the frame
            w, h = size[a["image_id"]]
            x, y, bw, bh = a["bbox"]
            inside = x < w and y < h and x + bw > 0 and y + bh > 0
            return not a["iscrowd"] and any(len(p) >= 6 for p in a["segmentation"]) and inside

        write(compact([path], usable, False), os.path.join("data/taco", dst))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
