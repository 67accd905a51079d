# Writes box_regex_golden.json: what Python's re.findall does with the official REC pattern
# (official-himtok.md §4.5 / eval/evaluate_grounding.py) and what float() makes of each group.
# Run: python3 make_box_golden.py > box_regex_golden.json
import json, math, re, sys

PATTERN = re.compile(r'\[*\[(.*?),(.*?),(.*?),(.*?)\]\]*')
CASES = [
    "Sure, the box is <box>[[12, 34, 56, 78]]</box>.",
    "[1,2,3,4]",
    "<box>[[1, 2, 3]]</box> and [5, 6, 7, 8]",
    "[[1, 2,\n 3, 4]]",
    "[[ 1.5 , 2e2, -3, +4 ]]",
    "[[a, b, c, d]]",
    "[[1, 2, 3, 4]] then [[5, 6, 7, 8]]",
    "[[[1, 2, 3, 4]]]]",
    "[[inf, 2, 3, 4]]",
    "no box here",
    "[[1, 2, 3, 4",
    "x[1,2],[3,4]",
    "[[1_000, 2, 3, 4]]",
    "[[.5, 5., -.0, 1E+2]]",
    "[[1,,2,3]]",
    "[[0x10, 2, 3, 4]]",
    "a [[1, 2, 3, 4]]\n[[9, 8, 7, 6]]",
    "The mask appears at <|mt_start|><|mt_1|><|mt_end|>, box <box>[[100, 200, 300, 400]]</box>.",
]

def to_float(s):
    try:
        v = float(s)
    except ValueError:
        return None
    return v if math.isfinite(v) else None

out = {"made_by": "python3 %d.%d.%d, re.findall(r'\\[*\\[(.*?),(.*?),(.*?),(.*?)\\]\\]*', text); "
                  "values: float(group), null if it raises or is not finite" % sys.version_info[:3],
       "cases": []}
for text in CASES:
    matches = [{"groups": list(m), "values": [to_float(g) for g in m]} for m in PATTERN.findall(text)]
    out["cases"].append({"text": text, "matches": matches})
json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
print()
