"""U-TOE's published figures (../shared/reference/utoe_paper_results.md),
read in one place for the benchmarks that compare with them."""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from utoe import models  # noqa: E402

REFERENCE = os.path.join(os.path.dirname(models.shared_models_dir()), "reference")
# The paper's second table (zoo models on stm32f746g-disco), its names to the zoo's.
ZOO_M7 = {"DS-CNN small": "dscnn_s", "MobileNetV1-0.25x": "vww", "LeNet-5": "lenet5", "Deep AutoEncoder": "ad01",
          "RNNoise": "rnnoise"}
_ROW = re.compile(r"^\| ([\w. -]+?) \| (.+?) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", re.M)


def _tables():
    with open(os.path.join(REFERENCE, "utoe_paper_results.md")) as f:
        text = f.read()
    boards_part, rest = text.split("## Zoo models")
    return boards_part, rest.split("## Per-operator")[0]


def _rows(text, key):
    return {m.group(1): {key: m.group(2), "memory_kb": float(m.group(3)), "storage_kb": float(m.group(4)),
                         "latency_ms": float(m.group(5))} for m in _ROW.finditer(text)}


def lenet5_boards():
    """LeNet-5 on the paper's boards: board -> {core, memory_kb, storage_kb, latency_ms}."""
    return _rows(_tables()[0], "core")


def zoo_m7():
    """The zoo on stm32f746g-disco: utoe's zoo name -> {task, memory_kb, storage_kb, latency_ms}."""
    return {ZOO_M7[name]: row for name, row in _rows(_tables()[1], "task").items() if name in ZOO_M7}
