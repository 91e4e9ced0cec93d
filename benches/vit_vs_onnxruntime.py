#!/usr/bin/env python3
"""patchlens ViT forward throughput vs onnxruntime, same architecture, same input shape, CPU, fp32.

For each model (ViT-S/16 = timm `vit_small_patch16_224` = patchlens zoo `dino_vits16`, ViT-B/16 =
`vit_base_patch16_224` = `dino_vitb16`): builds the torch model with random weights (eval mode, no
classifier head, output = final-norm tokens like patchlens' last layer), exports it to ONNX (opset 17,
TorchScript exporter), times onnxruntime's CPUExecutionProvider with its default thread count (one per
physical core) after a warm-up, and times patchlens by running its `bench_forward` example in the
release profile (random weights of the zoo config, same batch and size; the dev profile keeps debug
assertions on, which slow the `gemm` crate's kernels about threefold). Prints img/s for both and the ratio
patchlens / onnxruntime.

Run from the repository root (not in CI):

    python3 benches/vit_vs_onnxruntime.py [--batch 8] [--iters 10] [--models dino_vits16 dino_vitb16]
                                          [--threads N]
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
import timm
import torch

TIMM = {"dino_vits16": "vit_small_patch16_224", "dino_vitb16": "vit_base_patch16_224"}


class Features(torch.nn.Module):
    """timm ViT without head: [B, 3, H, W] -> final-norm tokens [B, 1 + N, D]."""

    def __init__(self, vit):
        super().__init__()
        self.vit = vit

    def forward(self, x):
        return self.vit.forward_features(x)


def time_ort(model_name, batch, size, iters, warmup, tmp, threads=0):
    torch.manual_seed(0)
    vit = timm.create_model(TIMM[model_name], pretrained=False, num_classes=0).eval()
    net = Features(vit).eval()
    x = torch.randn(batch, 3, size, size)
    path = os.path.join(tmp, f"{model_name}.onnx")
    with torch.no_grad():
        torch.onnx.export(
            net, (x,), path, input_names=["x"], output_names=["tokens"], opset_version=17, dynamo=False
        )
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads  # 0 = ORT default: one thread per physical core
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    xn = x.numpy()
    for _ in range(warmup):
        sess.run(None, {"x": xn})
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        sess.run(None, {"x": xn})
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return batch / med, med, min(times)


def time_patchlens(model_name, batch, size, iters, warmup, threads=0):
    cmd = [
        "cargo", "run", "-q", "--release", "-p", "patchlens-vit", "--example", "bench_forward", "--",
        "--model", model_name, "--batch", str(batch), "--size", str(size),
        "--iters", str(iters), "--warmup", str(warmup),
    ]
    env = dict(os.environ)
    if threads:
        env["RAYON_NUM_THREADS"] = str(threads)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    sys.stdout.write("  patchlens: " + out.splitlines()[0] + "\n")
    m = re.search(r"IMG_PER_S ([0-9.]+)", out)
    if not m:
        raise RuntimeError(f"no IMG_PER_S line in bench_forward output:\n{out}")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--models", nargs="+", default=list(TIMM))
    ap.add_argument("--threads", type=int, default=0,
                    help="threads for both (0: library defaults, i.e. one per core for both)")
    a = ap.parse_args()
    print(f"onnxruntime {ort.__version__}, torch {torch.__version__}, timm {timm.__version__}, "
          f"cpus {os.cpu_count()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.models:
            ort_ips, med, best = time_ort(name, a.batch, a.size, a.iters, a.warmup, tmp, a.threads)
            print(f"{name}: onnxruntime {ort_ips:.2f} img/s (median {med * 1e3:.1f} ms/batch, "
                  f"min {best * 1e3:.1f}; intra_op_num_threads={a.threads or 'default'})")
            pl_ips = time_patchlens(name, a.batch, a.size, a.iters, a.warmup, a.threads)
            print(f"{name}: patchlens {pl_ips:.2f} img/s, ratio patchlens/onnxruntime = {pl_ips / ort_ips:.2f}")
            rows.append((name, ort_ips, pl_ips))
    print("\nmodel          batch  onnxruntime img/s  patchlens img/s  ratio")
    for name, o, p in rows:
        print(f"{name:<14} {a.batch:>5}  {o:>17.2f}  {p:>15.2f}  {p / o:>5.2f}")


if __name__ == "__main__":
    main()
