"""Shared helpers for the himtok Python tests: paths, the CLI as a subprocess, PNG and safetensors I/O.

The tests run under CTest (python/CMakeLists.txt sets PYTHONPATH, HIMTOK_BINARY, HIMTOK_SOURCE_DIR)
or by hand:  PYTHONPATH=build/python python3 -m pytest -q python/tests
"""
import json
import os
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

SOURCE_DIR = Path(os.environ.get("HIMTOK_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BINARY = Path(os.environ.get("HIMTOK_BINARY", SOURCE_DIR / "build" / "himtok"))
DATA = SOURCE_DIR / "tests" / "data"
TOKENIZER = SOURCE_DIR / "models" / "himtok-tiny.safetensors"
LMM = SOURCE_DIR / "models" / "himtok-lmm-tiny.safetensors"


def run_cli(*args):
    """Runs build/himtok; returns (exit code, stdout, stderr)."""
    p = subprocess.run([str(BINARY), "-q", *map(str, args)], capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def cli_error(*args):
    """The CLI's one-line error message for bad input (exit 2), without the 'himtok: error: ' prefix."""
    rc, _, err = run_cli(*args)
    assert rc == 2, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("himtok: error: "), line
    return line[len("himtok: error: "):]


def write_png(path, gray):
    """8-bit grayscale PNG (no filter), enough for the CLI to read the same bytes back."""
    gray = np.ascontiguousarray(gray, dtype=np.uint8)
    h, w = gray.shape
    raw = b"".join(b"\x00" + gray[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


_DTYPES = {"F32": np.float32, "F64": np.float64}


def read_safetensors(path):
    """{name: array} of a safetensors file (F32/F64 only)."""
    blob = Path(path).read_bytes()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(blob[8 + n + a:8 + n + b], dtype=_DTYPES[t["dtype"]]).reshape(t["shape"])
    return out


def write_safetensors(path, name, array):
    array = np.ascontiguousarray(array, dtype=np.float32)
    header = json.dumps({name: {"dtype": "F32", "shape": list(array.shape), "data_offsets": [0, array.nbytes]}}).encode()
    header += b" " * (-len(header) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(header)) + header + array.tobytes())


def read_jsonl(rel):
    with open(DATA / rel) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="session")
def himtok():
    import himtok as module
    return module


@pytest.fixture(scope="session")
def tokenizer(himtok):
    return himtok.MaskTokenizer(str(TOKENIZER), threads=2)
