"""Bad input raises ValueError / FileNotFoundError with the CLI's one-line message; never a crash."""
import numpy as np
import pytest

from conftest import DATA, LMM, TOKENIZER, cli_error, write_safetensors

MASK = DATA / "himtok-examples" / "masks" / "0.png"


def test_missing_and_corrupt_files(himtok, tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError) as e:
        himtok.MaskTokenizer(str(missing))
    assert str(e.value) == cli_error("encode", "--model", missing, MASK)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file at all")
    with pytest.raises(ValueError) as e:
        himtok.MaskTokenizer(str(junk))
    assert str(e.value) == cli_error("encode", "--model", junk, MASK)
    with pytest.raises(FileNotFoundError):
        himtok.load_mask(str(tmp_path / "nope.png"))
    with pytest.raises(ValueError) as e:
        himtok.load_mask(str(junk))
    assert str(e.value) == cli_error("encode", "--model", TOKENIZER, junk)
    with pytest.raises(FileNotFoundError):
        himtok.Segmenter(str(missing))
    with pytest.raises(ValueError) as e:  # a tokenizer file is not an LMM bundle
        himtok.Segmenter(str(TOKENIZER))
    assert str(e.value) == cli_error("segment", "--model", TOKENIZER, "--image", DATA / "himtok-examples/images/0.jpg",
                                     "--expression", "road")


def test_bad_options(himtok):
    for kw, flag in [({"device": "tpu"}, ["--device", "tpu"]), ({"dtype": "fp8"}, ["--dtype", "fp8"]),
                     ({"config": "no-such-preset"}, ["--config", "no-such-preset"])]:
        with pytest.raises(ValueError) as e:
            himtok.MaskTokenizer(str(TOKENIZER), **kw)
        assert str(e.value) == cli_error("encode", "--model", TOKENIZER, *flag, MASK)


def test_bad_masks(tokenizer):
    cases = [np.zeros((4, 4), np.float32), np.zeros((4, 4), np.int64), np.zeros((4,), np.uint8),
             np.zeros((2, 2, 2, 2), np.uint8), np.zeros((0, 5), np.uint8), np.zeros((3, 0), bool),
             [np.zeros((4, 4), np.uint8), "x"], [np.zeros((4, 4), np.uint16)], "mask.png", 3, None]
    for c in cases:
        with pytest.raises(ValueError):
            tokenizer.encode(c)
    with pytest.raises(ValueError) as e:
        tokenizer.encode(np.ones((4, 4), np.uint8), geometry="crop")
    assert str(e.value) == cli_error("encode", "--model", TOKENIZER, "--geometry", "crop", MASK)


def test_bad_ids(tokenizer, himtok):
    good = np.arange(32, dtype=np.int64)
    for ids in [[5, 1024], [-1, 3], np.zeros((2, 40), np.int64), np.zeros((0,), np.int64), [1.5, 2.0],
                np.zeros((1, 2, 3), np.int64), [np.uint64(2**63 + 5)], ["a"]]:
        with pytest.raises(ValueError):
            tokenizer.decode(ids)
    for n in (0, 33, -2):
        with pytest.raises(ValueError) as e:
            tokenizer.decode(good, n=n)
        if n == 33:
            assert str(e.value) == cli_error("decode", "--model", TOKENIZER, "--ids", ",".join(map(str, good)),
                                             "--n", n, "--probs-out", "x.safetensors")
    for size in [(0, 5), (5,), "64x64", (1.5, 2)]:
        with pytest.raises(ValueError):
            tokenizer.decode(good, size=size)
    for ids in [[1024], [], [-3], list(range(33))]:
        with pytest.raises(ValueError):
            himtok.token_string(ids)


@pytest.mark.parametrize("text", ["<|mt_start|><|mt_0012|><|mt_end|>", "<|mt_start|><|mt_1024|><|mt_end|>",
                                  "hello", "<|mt_start|><|mt_3|>", "", "<|mt_start|><|mt_end|>",
                                  "<|mt_1|>" * 33])
def test_bad_token_strings(himtok, tokenizer, text):
    with pytest.raises(ValueError) as e:
        tokenizer.parse_tokens(text)
    if text:  # the CLI reads an empty --tokens as "not given"
        assert str(e.value) == cli_error("decode", "--model", TOKENIZER, "--tokens", text, "--probs-out", "x.safetensors")
    with pytest.raises(ValueError):
        himtok.parse_tokens(text)


def test_bad_logits(tokenizer, tmp_path):
    logits = np.zeros((32, 1100), np.float32)
    logits[3, 50] = np.nan
    f = tmp_path / "nan.safetensors"
    write_safetensors(f, "logits", logits)
    with pytest.raises(ValueError) as e:
        tokenizer.decode_logits(logits, 40)
    assert str(e.value) == cli_error("decode", "--model", TOKENIZER, "--logits", f, "--mask-offset", 40,
                                     "--probs-out", tmp_path / "p.safetensors")
    ok = np.zeros((32, 1100), np.float32)
    write_safetensors(f, "logits", ok)
    with pytest.raises(ValueError) as e:  # the K = 1024 columns do not fit
        tokenizer.decode_logits(ok, 100)
    assert str(e.value) == cli_error("decode", "--model", TOKENIZER, "--logits", f, "--mask-offset", 100,
                                     "--probs-out", tmp_path / "p.safetensors")
    for bad in [np.zeros((32, 1100), np.int32), np.zeros((1100,), np.float32), np.zeros((40, 1100), np.float32),
                np.zeros((0, 1100), np.float32), np.full((2, 32, 1100), np.inf, np.float32)]:
        with pytest.raises(ValueError):
            tokenizer.decode_logits(bad, 0)
    with pytest.raises(ValueError):
        tokenizer.decode_logits(ok, -1)


def test_bad_rle(himtok):
    bad = [{"size": [2, 2], "counts": "zzzz"}, {"size": [2, 2], "counts": [3, 5]}, {"size": [2], "counts": "1"},
           {"counts": "1"}, {"size": [-1, 2], "counts": []}, {"size": ["a", 2], "counts": []},
           {"size": [2, 2], "counts": [-1]}, {"size": [2, 2], "counts": 5}, "abc", 5]
    for r in bad:
        with pytest.raises(ValueError):
            himtok.rle_decode(r)
    a = himtok.rle_encode(np.ones((2, 2), np.uint8))
    b = himtok.rle_encode(np.ones((3, 2), np.uint8))
    with pytest.raises(ValueError):
        himtok.rle_iou([a], [b])
    with pytest.raises(ValueError):
        himtok.rle_iou([a], [a], [0, 1])
    with pytest.raises(ValueError):
        himtok.rle_encode(np.zeros((2, 2), np.float64))


def test_bad_images(himtok):
    seg = himtok.Segmenter(str(LMM))
    for im in [np.zeros((0, 4, 3), np.uint8), np.zeros((4, 4, 5), np.uint8), np.zeros((4, 4, 3), np.float32),
               np.zeros((4,), np.uint8), "img.png"]:
        with pytest.raises(ValueError):
            seg.segment(im, "road")
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError):
        seg.segment(img, "road", n_tokens=0)
    with pytest.raises(ValueError):
        seg.segment([img, img], ["road"])
