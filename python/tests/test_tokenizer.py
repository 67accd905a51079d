"""MaskTokenizer and token strings against the CLI on the same masks: ids exactly, maps within 1e-6."""
import numpy as np
import pytest

from conftest import DATA, TOKENIZER, read_safetensors, run_cli, write_png, write_safetensors

MASK_FILES = [DATA / "himtok-examples" / "masks" / f"{i}.png" for i in range(4)] + [
    DATA / "davis" / "bike-packing" / "00000.png"]
THREADS = ["--threads", "2"]  # the same intra-op thread count as the `tokenizer` fixture
BATCH_ATOL = 1e-5  # a batch (B > 1) vs the CLI's one map at a time; a single map is held to 1e-6


def cli_ids(paths, *extra):
    rc, out, err = run_cli("encode", "--model", TOKENIZER, "--ids", *THREADS, *extra, *paths)
    assert rc == 0, err
    return np.array([[int(x) for x in line.split(",")] for line in out.split()], dtype=np.int64)


def test_encode_equals_cli_on_png_masks(himtok, tokenizer):
    masks = [himtok.load_mask(str(p)) for p in MASK_FILES]  # gray values, as the CLI reads them
    assert len({m.shape for m in masks}) > 1  # sizes differ: one batch of native sizes
    ids = tokenizer.encode(masks)
    assert ids.shape == (len(masks), 32) and ids.dtype == np.int64
    np.testing.assert_array_equal(ids, cli_ids(MASK_FILES))
    # The pad geometry too.
    np.testing.assert_array_equal(tokenizer.encode(masks, geometry="pad"), cli_ids(MASK_FILES, "--geometry", "pad"))


def test_encode_numpy_masks_equal_cli(himtok, tokenizer, tmp_path):
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:97, 0:150]
    ellipse = ((yy - 40) / 30.0) ** 2 + ((xx - 90) / 50.0) ** 2 < 1  # bool (97, 150)
    blocks = np.zeros((64, 48), np.uint8)
    blocks[8:40, 5:30] = 1  # 0/1 uint8
    noisy = (rng.random((33, 200)) > 0.6).astype(np.uint8) * 255  # 0/255
    paths = []
    for i, m in enumerate([ellipse, blocks, noisy]):
        paths.append(tmp_path / f"m{i}.png")
        write_png(paths[-1], np.asarray(m, np.uint8) * (255 if m.max() == 1 else 1))
    expected = cli_ids(paths)
    np.testing.assert_array_equal(tokenizer.encode([ellipse, blocks, noisy]), expected)
    # One mask alone: (1, 32); a non-contiguous view of the same pixels: the same ids.
    np.testing.assert_array_equal(tokenizer.encode(ellipse), expected[:1])
    wide = np.zeros((97, 300), bool)
    wide[:, ::2] = ellipse
    np.testing.assert_array_equal(tokenizer.encode(wide[:, ::2]), expected[:1])
    # A (B, H, W) stack is a batch.
    stack = np.stack([blocks, blocks[::-1]])
    assert tokenizer.encode(stack).shape == (2, 32)
    np.testing.assert_array_equal(tokenizer.encode(stack)[0], expected[1])


def test_batch_equals_single(tokenizer, himtok):
    masks = [himtok.load_mask(str(p)) for p in MASK_FILES]
    together = tokenizer.encode(masks)
    for i, m in enumerate(masks):
        np.testing.assert_array_equal(tokenizer.encode([m])[0], together[i])
    assert tokenizer.encode([]).shape == (0, 32)


def test_decode_equals_cli(himtok, tokenizer, tmp_path):
    ids = tokenizer.encode([himtok.load_mask(str(p)) for p in MASK_FILES[:2]])
    maps = tokenizer.decode(ids)
    S = tokenizer.image_size
    assert maps.shape == (2, S, S) and maps.dtype == np.float32
    for n in (8, 32):  # a coarse prefix and the whole code
        for row in range(2):
            out = tmp_path / f"p{row}_{n}.safetensors"
            rc, _, err = run_cli("decode", "--model", TOKENIZER, *THREADS, "--ids", ",".join(map(str, ids[row])),
                                 "--n", n, "--probs-out", out)
            assert rc == 0, err
            ref = read_safetensors(out)["probs"]
            got = tokenizer.decode(ids[row], n=n)  # (T,) -> one (S, S) map
            assert got.shape == (S, S)
            np.testing.assert_allclose(got, ref, atol=1e-6, rtol=0)
            # A batch of 2 runs other kernel blockings than the CLI's batch of 1: float sums reassociate.
            np.testing.assert_allclose(tokenizer.decode(ids, n=n)[row], ref, atol=BATCH_ATOL, rtol=0)


def test_decode_size_matches_cli_mask(himtok, tokenizer, tmp_path):
    ids = tokenizer.encode(himtok.load_mask(str(MASK_FILES[0])))[0]
    out = tmp_path / "m.png"
    rc, _, err = run_cli("decode", "--model", TOKENIZER, *THREADS, "--tokens", himtok.token_string(ids),
                         "--size", "123x77", "-o", out)
    assert rc == 0, err
    probs = tokenizer.decode(ids, size=(123, 77))
    assert probs.shape == (77, 123)
    np.testing.assert_array_equal((probs > 0.5).astype(np.uint8), himtok.load_mask(str(out), 127))


def test_decode_logits_equals_cli(tokenizer, tmp_path):
    rng = np.random.default_rng(3)
    T, V, offset = 32, 1100, 40
    logits = rng.normal(0, 3, (T, V)).astype(np.float32)
    f = tmp_path / "logits.safetensors"
    write_safetensors(f, "logits", logits)
    for n in (4, 32):
        out = tmp_path / f"p{n}.safetensors"
        rc, _, err = run_cli("decode", "--model", TOKENIZER, *THREADS, "--logits", f, "--mask-offset", offset,
                             "--n", n, "--probs-out", out)
        assert rc == 0, err
        ref = read_safetensors(out)["probs"]
        np.testing.assert_allclose(tokenizer.decode_logits(logits, offset, n=n), ref, atol=1e-6, rtol=0)
        batch = tokenizer.decode_logits(np.stack([logits, logits]), offset, n=n)
        assert batch.shape[0] == 2
        np.testing.assert_allclose(batch[1], ref, atol=BATCH_ATOL, rtol=0)


def test_token_strings_round_trip(himtok, tokenizer):
    ids = np.array([0, 5, 1023, 77], np.int64)
    s = himtok.token_string(ids)
    assert s == "<|mt_start|><|mt_0|><|mt_5|><|mt_1023|><|mt_77|><|mt_end|>"
    np.testing.assert_array_equal(himtok.parse_tokens(s), ids)
    np.testing.assert_array_equal(tokenizer.parse_tokens("<|mt_5|> <|mt_7|>"), [5, 7])  # bare, spaced
    assert tokenizer.token_string([[1, 2], [3, 4]]) == ["<|mt_start|><|mt_1|><|mt_2|><|mt_end|>",
                                                        "<|mt_start|><|mt_3|><|mt_4|><|mt_end|>"]


def test_token_string_equals_cli(himtok, tokenizer):
    mask = himtok.load_mask(str(MASK_FILES[1]))
    rc, out, err = run_cli("encode", "--model", TOKENIZER, *THREADS, MASK_FILES[1])
    assert rc == 0, err
    assert tokenizer.token_string(tokenizer.encode(mask)[0]) == out.strip()


def test_properties(tokenizer):
    assert tokenizer.codebook_size == 1024
    assert tokenizer.num_tokens == 32
    assert tokenizer.n_params > 1_000_000


def test_readme_example_equals_cli(tmp_path):
    """python/examples/masks_to_jsonl.py (the README's example) writes what `himtok encode` prints."""
    import json
    import subprocess
    import sys

    from conftest import SOURCE_DIR

    folder = DATA / "himtok-examples" / "masks"
    out = tmp_path / "tokens.jsonl"
    p = subprocess.run([sys.executable, str(SOURCE_DIR / "python/examples/masks_to_jsonl.py"), str(TOKENIZER),
                        str(folder), str(out)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    files = sorted(folder.glob("*.png"))
    assert [r["mask"] for r in rows] == [f.name for f in files]
    rc, stdout, err = run_cli("encode", "--model", TOKENIZER, *files)  # both on all cores
    assert rc == 0, err
    assert [r["answer"] for r in rows] == stdout.split()
