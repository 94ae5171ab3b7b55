#!/usr/bin/env python3
"""Write the project's float LeNet-5 for the ONNX and PyTorch front ends:

    python3 models/make_lenet5_float.py      # -> models/lenet5.onnx, models/lenet5.pt2

LeCun's LeNet-5 as usually built for MNIST (input 1x1x28x28, NCHW): conv 5x5
6 channels (padding 2), ReLU, max-pool 2; conv 5x5 16 channels, ReLU,
max-pool 2; fully connected 120, 84, 10. Weights come from a fixed seed and a
few hundred steps of training on a fixed synthetic task (each class a noisy
stroke pattern), so activations have realistic, non-uniform ranges; the point
is a real float network from each framework, not MNIST accuracy.

torch.onnx.export (TorchScript exporter, opset 17) and torch.export.save
write the files; both are re-made identically by this script from the same
torch version."""

import os

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


def main():
    model = build()
    example = (torch.zeros(1, 1, 28, 28),)
    onnx_path, pt2_path = os.path.join(HERE, "lenet5.onnx"), os.path.join(HERE, "lenet5.pt2")
    torch.onnx.export(model, example, onnx_path, input_names=["image"], output_names=["logits"],
                      opset_version=17, dynamo=False)
    torch.export.save(torch.export.export(model, example), pt2_path)
    for p in (onnx_path, pt2_path):
        print(f"wrote {os.path.relpath(p)} ({os.path.getsize(p):,} bytes)")


if __name__ == "__main__":
    main()
