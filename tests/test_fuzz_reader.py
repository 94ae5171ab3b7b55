"""A hundred damaged copies of the zoo's models (truncated, bit-flipped,
a 32-bit field overwritten; the mutations of benchmarks/faults.py, which
runs thousands) through utoe's TFLite reader and its integer importer's
planning: each ends in one clean line naming the file, or is a readable
model. A sample of the readable ones goes on through the whole code
generator (real TVM): a result, or one clean line, never a traceback."""

import os
import random
import sys

from tests.conftest import ROOT
from utoe import codegen, frontend, models
from utoe.codegen import integer, tflite_model
from utoe.errors import UtoeError

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
from faults import data_ranges, mutate_bytes  # noqa: E402

sys.path.pop(0)

MODELS = ["lenet5", "sinus", "kws_ref_model", "rnnoise"]
PER_MODEL = 25
SEED = 20261201


def _mutants():
    rng = random.Random(SEED)
    for name in MODELS:
        src = models.resolve(name).path
        buf = open(src, "rb").read()
        ranges = data_ranges(src)
        for k in range(PER_MODEL):
            mutant, kind, pos = mutate_bytes(buf, rng)
            in_data = kind != "truncate" and all(any(a <= p < b for a, b in ranges) for p in pos)
            yield name, k, kind, mutant, in_data


MUTANTS = list(_mutants())


def _one_clean_line(e, path):
    msg = str(e)
    assert msg and "\n" not in msg.strip() and "Traceback" not in msg, msg
    assert str(path) in msg, msg  # names the file


def test_a_hundred_damaged_models_end_cleanly(tmp_path):
    outcomes = {"clean": 0, "readable": 0}
    readable = []
    for name, k, kind, mutant, in_data in MUTANTS:
        path = tmp_path / f"{name}-{k}.tflite"
        path.write_bytes(mutant)
        try:
            frontend.detect_format(str(path))
            qm = tflite_model.read(str(path), frontend._tflite_model(str(path)))
            integer.unsupported(qm)
            if integer.is_quantized(qm) and integer.unsupported(qm):
                integer.refusal(str(path), qm)
        except UtoeError as e:
            _one_clean_line(e, path)
            outcomes["clean"] += 1
            continue
        outcomes["readable"] += 1
        if not in_data:
            readable.append((name, path))
    assert sum(outcomes.values()) == len(MUTANTS) == 100
    # the mutations do both: some copies are refused, some still read
    assert outcomes["clean"] >= 20 and outcomes["readable"] >= 20, outcomes


def test_readable_damaged_models_through_the_code_generator(tmp_path):
    """Mutants of the small models whose edits are outside constant data
    (so structure or parameters changed) and that the reader accepted: the
    whole code generator gives a result or one clean line."""
    candidates = []
    for name, k, kind, mutant, in_data in MUTANTS:
        if name not in ("sinus", "lenet5") or in_data:
            continue
        path = tmp_path / f"{name}-{k}.tflite"
        path.write_bytes(mutant)
        try:
            tflite_model.read(str(path), frontend._tflite_model(str(path)))
        except UtoeError:
            continue
        candidates.append(path)
    assert len(candidates) >= 2, f"only {len(candidates)} readable structural mutants"
    for path in candidates:
        try:
            meta = codegen.generate(str(path), str(tmp_path / path.stem), "m")
        except UtoeError as e:
            _one_clean_line(e, path)
            continue
        assert meta["operators"] and os.path.isdir(tmp_path / path.stem)
