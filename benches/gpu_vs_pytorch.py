#!/usr/bin/env python3
"""patchlens on GPU (burn `cuda` / `wgpu`) vs PyTorch eager on the same GPU: ViT forward throughput and
exact 1-NN search time, same run, same machine.

Normally started by `benches/gpu_vs_pytorch.sh`, which builds the Rust examples first and passes
`--bin-dir`. Run by hand (from the repository root, after that build):

    python3 benches/gpu_vs_pytorch.py --bin-dir target/release/examples [--out DIR]
        [--backends cuda wgpu] [--models dino_vits16 dino_vitb16] [--batches 64 256]
        [--iters 20] [--warmup 5] [--bf16-mode cast|autocast] [--no-knn] [--dry-run]
    python3 benches/gpu_vs_pytorch.py --smoke --bin-dir target/release/examples --backends flex

What it measures:

* Forward: timm `vit_small_patch16_224` (= patchlens zoo `dino_vits16`) and `vit_base_patch16_224`
  (= `dino_vitb16`), random weights, eval mode, no head; the output is the final-norm tokens.
  Input [B, 3, 224, 224]. PyTorch runs under `torch.inference_mode()` at
    - fp32: `torch.backends.cuda.matmul.allow_tf32 = False`, `torch.backends.cudnn.allow_tf32 = False`;
    - tf32: both True (matmuls and the patch-embedding convolution on TF32 tensor cores);
    - bf16: `--bf16-mode cast` (default) converts weights and input with `.to(torch.bfloat16)`, so every
      op runs in bf16; `--bf16-mode autocast` keeps fp32 weights under `torch.autocast("cuda", bf16)`.
  timm's attention uses `F.scaled_dot_product_attention` (flash / memory-efficient kernels where
  PyTorch picks them); no `torch.compile`. The timed region of one iteration is the forward plus the
  copy of the patch tokens to host memory, ending in `torch.cuda.synchronize()`, because patchlens'
  `bench_forward` also ends each iteration by reading the patch tokens back (`--no-readback` drops
  the copy on the PyTorch side). `--warmup` untimed iterations, then the median of `--iters`.
  patchlens runs its `bench_forward` example (random weights of the zoo config) per backend at f32 and
  at that backend's half precision (cuda: bf16; wgpu: f16, since wgpu rarely has bf16; flex: bf16).
  Ratios are patchlens img/s / PyTorch img/s at the same precision (> 1: patchlens faster):
  patchlens f32 vs PyTorch fp32 and vs tf32; patchlens bf16 or f16 vs PyTorch bf16.
* 1-NN: Q queries x G gallery x D dims, dot product, top-1, random normal data (seed 0). PyTorch:
  upload both matrices from host memory, `torch.topk(q_chunk @ g.T, 1)` over query chunks sized to
  fit `--knn-chunk-gib` of scores, copy the indices back, synchronize; fp32 (TF32 off) and tf32.
  patchlens: the `knn_device` example (its own random data from the same seed; the values do not
  change the work), whose `KNN_SECONDS` is the search wall time with the data on the host, upload
  included. Median of `--knn-repeats` runs each (PyTorch after one untimed run). The ratio is
  PyTorch seconds / patchlens seconds (> 1: patchlens faster).

A patchlens configuration that exits non-zero is recorded as "unsupported" (its error line says
unsupported / not supported) or "failed", with that line, and the run goes on. `--smoke` is for
machines without an NVIDIA GPU: PyTorch on CPU (no tf32 there), batch 2, 3 iterations, 1-NN
512 x 2048 x 64, to test the plumbing; its numbers say nothing about GPUs.

Output: the table on stdout, and `results.json` (environment + every measurement), `results.csv`
and `table.txt` in `--out` (default target/gpu_vs_pytorch).
"""

import argparse
import contextlib
import csv
import datetime
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time

TIMM = {"dino_vits16": "vit_small_patch16_224", "dino_vitb16": "vit_base_patch16_224"}
HALF = {"cuda": "bf16", "wgpu": "f16", "flex": "bf16"}


def backend_kind(backend):
    return backend.split(":", 1)[0]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, PyTorch on CPU (no GPU needed)")
    ap.add_argument("--out", default=None, help="folder for results.json / results.csv / table.txt")
    ap.add_argument("--bin-dir", default=None, help="folder with the built bench_forward and knn_device")
    ap.add_argument("--backends", nargs="+", default=None, help="patchlens backends (cuda, cuda:N, wgpu, wgpu:N, flex)")
    ap.add_argument("--models", nargs="+", default=list(TIMM), choices=list(TIMM))
    ap.add_argument("--batches", nargs="+", type=int, default=None)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--torch-device", default=None, help="default cuda (cpu with --smoke)")
    ap.add_argument("--torch-precisions", nargs="+", default=["fp32", "tf32", "bf16"],
                    choices=["fp32", "tf32", "bf16"])
    ap.add_argument("--bf16-mode", default="cast", choices=["cast", "autocast"])
    ap.add_argument("--no-readback", action="store_true", help="PyTorch: do not copy the patch tokens to host")
    ap.add_argument("--no-knn", action="store_true")
    ap.add_argument("--knn-queries", type=int, default=None)
    ap.add_argument("--knn-gallery", type=int, default=None)
    ap.add_argument("--knn-dim", type=int, default=None)
    ap.add_argument("--knn-chunk-gib", type=float, default=2.0, help="PyTorch: memory for one chunk of scores")
    ap.add_argument("--knn-repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per patchlens process")
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--skip-patchlens", action="store_true")
    ap.add_argument("--dry-run", action="store_true", help="print what would run, run nothing")
    ap.add_argument("--build-info", default=None, help="JSON object from the .sh (features, build time)")
    a = ap.parse_args(argv)
    smoke = a.smoke
    a.batches = a.batches or ([2] if smoke else [64, 256])
    a.iters = a.iters or (3 if smoke else 20)
    a.warmup = a.warmup if a.warmup is not None else (1 if smoke else 5)
    a.torch_device = a.torch_device or ("cpu" if smoke else "cuda")
    a.knn_queries = a.knn_queries or (512 if smoke else 50_000)
    a.knn_gallery = a.knn_gallery or (2048 if smoke else 200_000)
    a.knn_dim = a.knn_dim or (64 if smoke else 768)
    a.backends = a.backends or (["flex"] if smoke else ["cuda", "wgpu"])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    a.bin_dir = a.bin_dir or os.path.join(target, "release", "examples")
    a.out = a.out or os.path.join(target, "gpu_vs_pytorch" + ("-smoke" if smoke else ""))
    for b in a.backends:
        if backend_kind(b) not in HALF:
            ap.error(f"unknown backend {b!r} (cuda, cuda:N, wgpu, wgpu:N, flex)")
    return a


# ----------------------------------------------------------------------------------------------
# PyTorch
# ----------------------------------------------------------------------------------------------


def set_tf32(torch, on):
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on
    torch.set_float32_matmul_precision("high" if on else "highest")


def sync(torch, device):
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def free(torch, device):
    import gc

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def torch_forward(torch, timm, args, model, batch, precision):
    """img/s of timm's ViT at `precision`; returns a result dict."""
    dev = args.torch_device
    on_cuda = dev.startswith("cuda")
    if precision == "tf32" and not on_cuda:
        return {"status": "n/a", "message": "TF32 is a CUDA setting"}
    set_tf32(torch, precision == "tf32")
    torch.manual_seed(args.seed)
    vit = timm.create_model(TIMM[model], pretrained=False, num_classes=0, img_size=args.size).eval()
    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randn(batch, 3, args.size, args.size, generator=gen)
    autocast = contextlib.nullcontext()
    if precision == "bf16":
        if args.bf16_mode == "cast":
            vit, x = vit.to(torch.bfloat16), x.to(torch.bfloat16)
        else:
            autocast = torch.autocast(device_type=dev.split(":")[0], dtype=torch.bfloat16)
    vit, x = vit.to(dev), x.to(dev)
    prefix = getattr(vit, "num_prefix_tokens", 1)

    def step():
        with torch.inference_mode(), autocast:
            out = vit.forward_features(x)
            if not args.no_readback:
                out[:, prefix:].to("cpu")
        sync(torch, dev)

    try:
        for _ in range(args.warmup):
            step()
        times = []
        for _ in range(args.iters):
            sync(torch, dev)
            t = time.perf_counter()
            step()
            times.append(time.perf_counter() - t)
    except torch.cuda.OutOfMemoryError:
        return {"status": "oom", "message": "CUDA out of memory"}
    except RuntimeError as e:
        return {"status": "failed", "message": str(e).strip().splitlines()[0][:200]}
    finally:
        del vit, x
        free(torch, dev)
        set_tf32(torch, False)
    med = statistics.median(times)
    return {"status": "ok", "img_per_s": batch / med, "median_s": med, "iters": len(times)}


def knn_data(args):
    import numpy as np

    rng = np.random.default_rng(args.seed)
    g = rng.standard_normal((args.knn_gallery, args.knn_dim), dtype=np.float32)
    q = rng.standard_normal((args.knn_queries, args.knn_dim), dtype=np.float32)
    return q, g


def torch_knn(torch, args, q_host, g_host, tf32):
    dev = args.torch_device
    if tf32 and not dev.startswith("cuda"):
        return {"status": "n/a", "message": "TF32 is a CUDA setting"}
    set_tf32(torch, tf32)
    ng = g_host.shape[0]
    chunk = max(1, min(q_host.shape[0], int(args.knn_chunk_gib * 2**30) // (ng * 4)))

    def once():
        sync(torch, dev)
        t = time.perf_counter()
        with torch.inference_mode():
            g = torch.from_numpy(g_host).to(dev)
            q = torch.from_numpy(q_host).to(dev)
            idx = torch.empty(q.shape[0], dtype=torch.int64, device=dev)
            for s in range(0, q.shape[0], chunk):
                _, i = torch.topk(q[s : s + chunk] @ g.T, 1, dim=1)
                idx[s : s + chunk] = i[:, 0]
            out = idx.to("cpu")
        sync(torch, dev)
        return time.perf_counter() - t, out

    try:
        once()  # warm-up (cuBLAS handles, allocator)
        runs = [once() for _ in range(args.knn_repeats)]
    except torch.cuda.OutOfMemoryError:
        return {"status": "oom", "message": f"CUDA out of memory (chunk {chunk} queries)"}
    except RuntimeError as e:
        return {"status": "failed", "message": str(e).strip().splitlines()[0][:200]}
    finally:
        free(torch, dev)
        set_tf32(torch, False)
    secs = statistics.median(r[0] for r in runs)
    return {"status": "ok", "seconds": secs, "chunk_queries": chunk, "repeats": len(runs)}


# ----------------------------------------------------------------------------------------------
# patchlens
# ----------------------------------------------------------------------------------------------


def run_patchlens(args, cmd, key):
    """Runs one patchlens example; parses its last `KEY value` stdout line."""
    line = " ".join(shlex.quote(c) for c in cmd)
    if args.dry_run:
        print(f"+ {line}")
        return {"status": "dry-run", "command": line}
    if not os.path.exists(cmd[0]):
        return {"status": "not built", "message": f"{cmd[0]} does not exist", "command": line}
    try:
        env = dict(os.environ)
        env["RUST_BACKTRACE"] = "0"  # the error line, not a backtrace (the command is in the record)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "message": f"no result within {args.timeout:.0f} s", "command": line}
    if p.returncode != 0:
        # The error line; a Rust panic adds "note: run with `RUST_BACKTRACE=1` ..." after it.
        lines = [s for s in (p.stderr.strip().splitlines() or p.stdout.strip().splitlines())
                 if s.strip() and not s.startswith("note: ")]
        msg = lines[-1].strip() if lines else f"exit status {p.returncode}"
        status = "unsupported" if re.search(r"unsupported|not supported", msg, re.I) else "failed"
        return {"status": status, "message": msg, "exit_code": p.returncode, "command": line}
    last = [s for s in p.stdout.strip().splitlines() if s.strip()]
    m = re.fullmatch(rf"{key}\s+(\S+)", last[-1].strip()) if last else None
    if not m:
        return {"status": "failed", "message": f"no `{key} <value>` last line on stdout", "command": line}
    return {"status": "ok", "value": float(m.group(1)), "command": line}


def forward_cmd(args, model, batch, backend, precision):
    return [os.path.join(args.bin_dir, "bench_forward"), "--model", model, "--batch", str(batch),
            "--size", str(args.size), "--iters", str(args.iters), "--warmup", str(args.warmup),
            "--backend", backend, "--precision", precision]


def knn_cmd(args, backend):
    return [os.path.join(args.bin_dir, "knn_device"), "--backend", backend, "--queries",
            str(args.knn_queries), "--gallery", str(args.knn_gallery), "--dim", str(args.knn_dim),
            "--k", "1", "--seed", str(args.seed)]


# ----------------------------------------------------------------------------------------------
# Environment, table, files
# ----------------------------------------------------------------------------------------------


def environment(args, torch, timm):
    env = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "smoke": args.smoke,
        "torch_device": args.torch_device,
        "bf16_mode": args.bf16_mode,
        "readback": not args.no_readback,
        "iters": args.iters,
        "warmup": args.warmup,
        "size": args.size,
        "CUDARC_CUDA_VERSION": os.environ.get("CUDARC_CUDA_VERSION"),
    }
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        env["patchlens_commit"] = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True,
                                                 text=True).stdout.strip() or None
    except OSError:
        env["patchlens_commit"] = None
    if torch is not None:
        env["torch"] = torch.__version__
        env["torch_cuda"] = torch.version.cuda
        env["timm"] = timm.__version__
        env["cuda_available"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            env["gpu"] = torch.cuda.get_device_name(0)
            env["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
            env["cudnn"] = torch.backends.cudnn.version()
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        env["nvidia_smi"] = smi.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        env["nvidia_smi"] = None
    if args.build_info:
        env["build"] = json.loads(args.build_info)
    return env


def progress(args, msg):
    if not args.dry_run:
        print(msg, file=sys.stderr, flush=True)


def fmt_value(r, key, unit_fmt):
    if r is None:
        return "-"
    if r.get("status") == "ok":
        return unit_fmt.format(r[key])
    return r.get("status", "?")


def ratio(a, b):
    if a and b and a.get("status") == "ok" and b.get("status") == "ok":
        return a["img_per_s"] / b["img_per_s"]
    return None


def ratio_cells(r, key, precs, width):
    """The row's ratio columns (`{key}_{prec}`), blank where there is none, and its note (the message of a
    row that did not run)."""
    cells = " ".join(f"{r[f'{key}_{p}']:{width}.2f}" if r.get(f"{key}_{p}") is not None else " " * width
                     for p in precs)
    note = r.get("message", "") if r.get("status") != "ok" else ""
    return cells + (f"  {note}" if note else "")


def render(rows, knn_rows, env):
    out = []
    head = "patchlens GPU benchmark vs PyTorch"
    if env.get("smoke"):
        head += " -- SMOKE RUN (tiny sizes, PyTorch on CPU): plumbing test only, no GPU figures"
    out.append(head)
    out.append(f"torch {env.get('torch')} (CUDA {env.get('torch_cuda')}), timm {env.get('timm')}, "
               f"device {env.get('gpu') or env.get('torch_device')}, driver {env.get('nvidia_smi') or '-'}")
    out.append(f"iters {env['iters']} (median), warm-up {env['warmup']}, input {env['size']}x{env['size']}, "
               f"PyTorch bf16 = {'.to(bfloat16)' if env['bf16_mode'] == 'cast' else 'autocast'}, "
               f"readback {'on' if env['readback'] else 'off'}")
    out.append("")
    cols = f"{'model':<12} {'batch':>5}  {'impl':<18} {'prec':<5} {'img/s':>11}  {'÷torch fp32':>11} {'÷torch tf32':>11} {'÷torch bf16':>11}  note"
    out.append(cols)
    out.append("-" * len(cols))
    for r in rows:
        val = fmt_value(r, "img_per_s", "{:10.1f}")
        out.append(f"{r['model']:<12} {r['batch']:>5}  {r['impl']:<18} {r['precision']:<5} {val:>11}  "
                   + ratio_cells(r, "ratio_vs_torch", ("fp32", "tf32", "bf16"), 11))
    if knn_rows:
        k = knn_rows[0]
        out.append("")
        out.append(f"1-NN: {k['queries']} queries x {k['gallery']} gallery x {k['dim']}-d, dot product, top-1 "
                   f"(PyTorch: torch.topk(q @ g.T, 1) in chunks, upload + readback included)")
        cols = f"{'impl':<18} {'prec':<5} {'seconds':>10}  {'torch fp32 s ÷ this':>20} {'torch tf32 s ÷ this':>20}  note"
        out.append(cols)
        out.append("-" * len(cols))
        for r in knn_rows:
            val = fmt_value(r, "seconds", "{:10.3f}")
            out.append(f"{r['impl']:<18} {r['precision']:<5} {val:>10}  "
                       + ratio_cells(r, "speedup_vs_torch", ("fp32", "tf32"), 20))
    return "\n".join(line.rstrip() for line in out)


def main():
    args = parse_args()
    torch = timm = None
    if not args.skip_torch and not args.dry_run:
        import timm  # noqa: E402  (after argparse so --help and --dry-run work without them)
        import torch  # noqa: E402

        if args.torch_device.startswith("cuda") and not torch.cuda.is_available():
            sys.exit(f"gpu_vs_pytorch: error: PyTorch {torch.__version__} sees no CUDA device "
                     f"(no NVIDIA GPU or driver here?); use --smoke to test the plumbing on CPU")
        if args.torch_device == "cpu":
            torch.set_num_threads(os.cpu_count() or 1)
    env = environment(args, torch, timm)

    rows = []
    for model in args.models:
        for batch in args.batches:
            torch_res = {}
            for prec in args.torch_precisions:
                if torch is None:
                    r = {"status": "dry-run" if args.dry_run else "skipped"}
                    if args.dry_run:
                        print(f"+ torch {args.torch_device}: {TIMM[model]} batch {batch} {prec}")
                else:
                    r = torch_forward(torch, timm, args, model, batch, prec)
                torch_res[prec] = r
                rows.append({"kind": "forward", "model": model, "timm": TIMM[model], "batch": batch,
                             "impl": f"torch {args.torch_device.split(':')[0]}", "backend": args.torch_device,
                             "precision": prec, **r})
                progress(args, f"[forward] {model} b{batch} torch {prec}: {fmt_value(r, 'img_per_s', '{:.1f} img/s')}")
            if args.skip_patchlens:
                continue
            for backend in args.backends:
                for prec in ("f32", HALF[backend_kind(backend)]):
                    r = run_patchlens(args, forward_cmd(args, model, batch, backend, prec), "IMG_PER_S")
                    if r.get("status") == "ok":
                        r["img_per_s"] = r.pop("value")
                    row = {"kind": "forward", "model": model, "timm": TIMM[model], "batch": batch,
                           "impl": f"patchlens {backend}", "backend": backend, "precision": prec, **r}
                    refs = ("fp32", "tf32") if prec == "f32" else ("bf16",)
                    for ref in refs:
                        x = ratio(r, torch_res.get(ref))
                        if x is not None:
                            row[f"ratio_vs_torch_{ref}"] = x
                    rows.append(row)
                    progress(args, f"[forward] {model} b{batch} patchlens {backend} {prec}: "
                          f"{fmt_value(r, 'img_per_s', '{:.1f} img/s')} {r.get('message', '')}")

    knn_rows = []
    if not args.no_knn:
        shape = {"kind": "knn", "model": "", "batch": "", "queries": args.knn_queries,
                 "gallery": args.knn_gallery, "dim": args.knn_dim, "k": 1}
        torch_knn_res = {}
        if torch is not None:
            q, g = knn_data(args)
            for prec, tf32 in (("fp32", False), ("tf32", True)):
                r = torch_knn(torch, args, q, g, tf32)
                torch_knn_res[prec] = r
                knn_rows.append({**shape, "impl": f"torch {args.torch_device.split(':')[0]}",
                                 "backend": args.torch_device, "precision": prec, **r})
                progress(args, f"[1-NN] torch {prec}: {fmt_value(r, 'seconds', '{:.3f} s')}")
            del q, g
        elif args.dry_run:
            print(f"+ torch {args.torch_device}: 1-NN {args.knn_queries}x{args.knn_gallery}x{args.knn_dim} fp32, tf32")
        if not args.skip_patchlens:
            for backend in args.backends:
                res = [run_patchlens(args, knn_cmd(args, backend), "KNN_SECONDS")
                       for _ in range(1 if args.dry_run else args.knn_repeats)]
                ok = [r["value"] for r in res if r.get("status") == "ok"]
                if ok and len(ok) == len(res):
                    r = {"status": "ok", "seconds": statistics.median(ok), "repeats": len(ok),
                         "all_seconds": ok, "command": res[0]["command"]}
                else:
                    r = next(r for r in res if r.get("status") != "ok")
                row = {**shape, "impl": f"patchlens {backend}", "backend": backend, "precision": "f32", **r}
                for prec in ("fp32", "tf32"):
                    t = torch_knn_res.get(prec)
                    if r.get("status") == "ok" and t and t.get("status") == "ok":
                        row[f"speedup_vs_torch_{prec}"] = t["seconds"] / r["seconds"]
                knn_rows.append(row)
                progress(args, f"[1-NN] patchlens {backend}: {fmt_value(r, 'seconds', '{:.3f} s')} {r.get('message', '')}")

    table = render(rows, knn_rows, env)
    print(table)
    if args.dry_run:
        return
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"environment": env, "forward": rows, "knn": knn_rows}, f, indent=2)
    fields = ["kind", "model", "timm", "batch", "queries", "gallery", "dim", "k", "impl", "backend", "precision",
              "status", "img_per_s", "seconds", "ratio_vs_torch_fp32", "ratio_vs_torch_tf32", "ratio_vs_torch_bf16",
              "speedup_vs_torch_fp32", "speedup_vs_torch_tf32", "median_s", "iters", "message", "command"]
    with open(os.path.join(args.out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows + knn_rows:
            w.writerow(r)
    with open(os.path.join(args.out, "table.txt"), "w") as f:
        f.write(table + "\n")
    print(f"\nwritten: {args.out}/results.json, results.csv, table.txt", file=sys.stderr)


if __name__ == "__main__":
    main()
