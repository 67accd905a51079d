"""Segmenter over models/himtok-lmm-tiny.safetensors: the same response and mask as `himtok segment`."""
import numpy as np

from conftest import DATA, LMM, run_cli

IMAGE = DATA / "himtok-examples" / "images" / "0.jpg"


def test_segment_equals_cli(himtok, tmp_path):
    out = tmp_path / "mask.png"
    rc, stdout, err = run_cli("segment", "--model", LMM, "--image", IMAGE, "--expression", "road", "-o", out)
    assert rc == 0, err
    seg = himtok.Segmenter(str(LMM))
    image = himtok.load_image(str(IMAGE))
    r = seg.segment(image, "road")
    assert r["response"] == stdout.strip()
    assert r["mask"].shape == image.shape[:2] and r["mask"].dtype == np.uint8
    np.testing.assert_array_equal(r["mask"], himtok.load_mask(str(out), 127))
    assert r["ids"].dtype == np.int32 and len(r["ids"]) > 0
    if r["n_decoded"]:
        assert r["prob"].shape == (seg.mask_size, seg.mask_size)
        assert "<|mt_start|>" in r["response"]
    # chat() with the same question is the same call; a batch of two gives the same answers.
    q = seg.segment_question("road")
    assert q == "Segment <ref>road</ref>."
    assert seg.chat(image, q)["response"] == r["response"]
    both = seg.segment([image, image], ["road", "road"])
    assert [b["response"] for b in both] == [r["response"]] * 2
    np.testing.assert_array_equal(both[1]["mask"], r["mask"])
