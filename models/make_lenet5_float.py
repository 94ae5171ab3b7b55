#!/usr/bin/env python3
"""Write the project's float LeNet-5 for the ONNX and PyTorch front ends:

    python3 models/make_lenet5_float.py      # -> models/lenet5.onnx, models/lenet5.pt2
    python3 models/make_lenet5_float.py --out-dir DIR

LeCun's LeNet-5 as usually built for MNIST (input 1x1x28x28, NCHW): conv 5x5
6 channels (padding 2), ReLU, max-pool 2; conv 5x5 16 channels, ReLU,
max-pool 2; fully connected 120, 84, 10. Weights come from a fixed seed and a
few hundred steps of training on a fixed synthetic task (each class a noisy
stroke pattern), so activations have realistic, non-uniform ranges; the point
is a real float network from each framework, not MNIST accuracy.

torch.onnx.export (TorchScript exporter, opset 17: no onnxscript needed) and
torch.export.save write the files. Both are re-made byte for byte by this
script with the same torch version (2.13.0): the ONNX file as torch writes it;
the .pt2 archive after two fixes, since torch.export.save puts in it each
node's stack trace (with this script's absolute path) and a serialization id
whose second half is random (see pin_serialization_id). Its zip entries carry
no timestamps (torch writes 1980-01-01 for all)."""

import argparse
import os
import struct
import zipfile
import zlib

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def synthetic_batch(gen, n=64):
    """Class k: a bright bar at row/column position 2 + 2k, plus noise."""
    labels = torch.randint(0, 10, (n,), generator=gen)
    x = 0.1 * torch.rand(n, 1, 28, 28, generator=gen)
    for i, k in enumerate(labels.tolist()):
        x[i, 0, 2 + 2 * k, :] += 0.8 if k % 2 else 0.0
        x[i, 0, :, 2 + 2 * k] += 0.0 if k % 2 else 0.8
    return x, labels


def build():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = LeNet5()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(200):
        x, y = synthetic_batch(gen)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


def pin_serialization_id(path):
    """Zero the random half of the archive's .data/serialization_id (its
    first 20 digits are a checksum of the contents, the last 20 a random
    number drawn by torch's zip writer) and fix that entry's CRC-32, in
    place: everything else stays as torch wrote it."""
    with zipfile.ZipFile(path) as z:
        info = next(i for i in z.infolist() if i.filename.endswith("/.data/serialization_id"))
        old = z.read(info)
    new = old[:20] + b"0" * (len(old) - 20)
    with open(path, "rb") as f:
        data = bytearray(f.read())
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len
    assert data[start:start + len(old)] == old and info.compress_type == zipfile.ZIP_STORED
    data[start:start + len(old)] = new
    # the CRC sits in the local header or the data descriptor after the data,
    # and in the central directory, all after this entry's header
    old_crc, new_crc = (struct.pack("<I", zlib.crc32(b)) for b in (old, new))
    tail = bytes(data[info.header_offset:])
    assert tail.count(old_crc) in (2, 3), "unexpected zip layout"
    data[info.header_offset:] = tail.replace(old_crc, new_crc)
    with open(path, "wb") as f:
        f.write(data)
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None


def exported_program(model, example):
    ep = torch.export.export(model, example)
    for node in ep.graph.nodes:  # where each op was traced from: absolute paths of this machine
        node.meta.pop("stack_trace", None)
    return ep


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default=HERE, help="where to write lenet5.onnx and lenet5.pt2 (default: models/)")
    out_dir = ap.parse_args().out_dir
    model = build()
    example = (torch.zeros(1, 1, 28, 28),)
    onnx_path, pt2_path = os.path.join(out_dir, "lenet5.onnx"), os.path.join(out_dir, "lenet5.pt2")
    torch.onnx.export(model, example, onnx_path, input_names=["image"], output_names=["logits"],
                      opset_version=17, dynamo=False)
    torch.export.save(exported_program(model, example), pt2_path)
    pin_serialization_id(pt2_path)
    for p in (onnx_path, pt2_path):
        print(f"wrote {os.path.relpath(p)} ({os.path.getsize(p):,} bytes)")


if __name__ == "__main__":
    main()
