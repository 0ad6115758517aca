#!/usr/bin/python3
"""Train the project's default model: torchvision resnet18 (num_classes=10, architecture unchanged:
7x7 stride-2 stem and 3x3 stride-2 max pool included) on Fashion-MNIST, on the CPU.

Input convention (the engine's preprocessing must match it exactly):
  1. resize so the shorter side is 28 (a no-op for Fashion-MNIST's 28x28 images),
  2. centre crop 28x28,
  3. grayscale -> 3 channels (the same plane replicated into R, G and B),
  4. per pixel v in [0, 255]: x = (v / 255 - mean) / std, with the single mean/std computed over
     all pixels of the 60,000 training images (recorded in train-log.json; ~0.2860 / ~0.3530),
     the same value for all three channels. Tensor layout NCHW float32, 1x3x28x28 per image.

Training: light augmentation (random crop 28x28 from the image zero-padded by --pad pixels, where the
padding is black, i.e. raw pixel value 0, and random horizontal flip), SGD + Nesterov momentum with a
one-cycle learning-rate schedule, cross-entropy. Seeded (torch and numpy); CPU results can still vary
slightly between machines / thread counts.

Writes into --out (default .cache/default-model):
  model.safetensors   the full state_dict() as torchvision names it (num_batches_tracked included)
  predictions.npy     int64 [10000]: PyTorch's predicted class for each test image, dataset order
  labels.json         the 10 class names in class-id order
  train-log.json      command, seed, epochs, hyper-parameters, mean/std, per-epoch test accuracy,
                      wall time, final test accuracy
Use --bench-batches N to time N training batches and exit (to size --epochs).
Run with Debian's /usr/bin/python3 (torch + torchvision). Sets OMP_WAIT_POLICY=PASSIVE unless already set.
"""
import argparse
import json
import os
import platform
import shlex
import sys
import time

# Must be set before torch (libgomp) loads. With the default spin-waiting, each of the 2 OpenMP threads
# burns its CPU share at barriers whenever the other is preempted; on a busy, shared 2-core machine
# (training runs under `nice`) that made steps 3-10x slower. Passive waiting costs little when idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fashion_mnist_samples import LABELS, load_split  # noqa: E402
from torch_reference import save_safetensors  # noqa: E402


def normalise(u8, mean, std):
    """uint8 [N, 28, 28] -> float32 [N, 3, 28, 28] following the documented preprocessing."""
    x = (u8.float() / 255.0 - mean) / std
    return x.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


def augment(u8, pad, gen):
    """Random crop (zero padding of `pad` px) and random horizontal flip on a uint8 [N, 28, 28] batch."""
    n, h, w = u8.shape
    padded = F.pad(u8, (pad, pad, pad, pad))  # zero = black background
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, :, None].expand(n, h, w)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, :].expand(n, h, w)
    flip = torch.rand(n, generator=gen) < 0.5
    cols = torch.where(flip[:, None, None], cols.flip(-1), cols)
    batch_idx = torch.arange(n)[:, None, None].expand(n, h, w)
    return padded[batch_idx, rows, cols]


@torch.no_grad()
def predict(model, images_u8, mean, std, batch=500):
    model.eval()
    preds = []
    for i in range(0, images_u8.shape[0], batch):
        preds.append(model(normalise(images_u8[i:i + batch], mean, std)).argmax(1))
    return torch.cat(preds)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="directory with the idx-ubyte(.gz) files (default: Debian's)")
    ap.add_argument("--out", default=".cache/default-model")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1, help="peak learning rate of the one-cycle schedule")
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--pct-start", type=float, default=0.25, help="fraction of steps spent warming up")
    ap.add_argument("--pad", type=int, default=2, help="random-crop padding in pixels")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bench-batches", type=int, default=0, help="time this many training batches, then exit")
    a = ap.parse_args()

    t_start = time.time()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)

    train_x, train_y = load_split("train", a.data)
    test_x, test_y = load_split("t10k", a.data)
    train_x, test_x = torch.from_numpy(train_x.copy()), torch.from_numpy(test_x.copy())
    train_y, test_y = torch.from_numpy(train_y.astype(np.int64)), torch.from_numpy(test_y.astype(np.int64))
    pix = train_x.double() / 255.0
    mean, std = float(pix.mean()), float(pix.std(unbiased=False))
    del pix
    print(f"train {tuple(train_x.shape)} test {tuple(test_x.shape)} mean {mean:.6f} std {std:.6f}", flush=True)

    model = torchvision.models.resnet18(weights=None, num_classes=10)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)  # no weight decay on BN affine and biases
    opt = torch.optim.SGD([{"params": decay, "weight_decay": a.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=a.lr, momentum=a.momentum, nesterov=True)
    n = train_x.shape[0]
    steps_per_epoch = n // a.batch  # drop the last partial batch (keeps BN batch statistics sane)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, epochs=a.epochs, steps_per_epoch=steps_per_epoch,
                                                pct_start=a.pct_start, div_factor=10.0, final_div_factor=100.0)
    os.makedirs(a.out, exist_ok=True)
    command = " ".join(shlex.quote(x) for x in [sys.executable] + sys.argv)
    log = {
        "command": command, "cwd": os.getcwd(), "seed": a.seed, "epochs": a.epochs, "batch": a.batch,
        "optimizer": "SGD nesterov", "lr_peak": a.lr, "momentum": a.momentum, "weight_decay": a.weight_decay,
        "schedule": f"OneCycleLR pct_start={a.pct_start} div_factor=10 final_div_factor=100",
        "label_smoothing": a.label_smoothing, "augmentation": f"random crop 28 from zero-pad {a.pad}, horizontal flip p=0.5",
        "threads": a.threads, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "arch": "torchvision.models.resnet18(num_classes=10), unchanged",
        "torch": torch.__version__, "torchvision": torchvision.__version__, "python": platform.python_version(),
        "input": {"size": [28, 28], "channels": "grayscale replicated to 3", "mean": mean, "std": std,
                  "preprocessing": "resize shorter side to 28, centre crop 28x28, grayscale -> 3 channels, "
                                   "x = (v/255 - mean)/std (same mean/std on all channels), NCHW float32"},
        "labels": LABELS, "per_epoch": [],
    }

    for epoch in range(a.epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(n, generator=gen)
        loss_sum, correct, seen = 0.0, 0, 0
        for step in range(steps_per_epoch):
            idx = perm[step * a.batch:(step + 1) * a.batch]
            x = normalise(augment(train_x[idx], a.pad, gen), mean, std)
            y = train_y[idx]
            out = model(x)
            loss = F.cross_entropy(out, y, label_smoothing=a.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * y.shape[0]
            correct += int((out.argmax(1) == y).sum())
            seen += y.shape[0]
            if a.bench_batches and step + 1 == a.bench_batches:
                dt = time.time() - t0
                print(f"{a.bench_batches} batches of {a.batch} in {dt:.1f}s -> {dt / a.bench_batches * steps_per_epoch:.0f}s "
                      f"per epoch of {steps_per_epoch} steps (train only)", flush=True)
                te = time.time()
                predict(model, test_x, mean, std)
                print(f"test-set evaluation {time.time() - te:.1f}s", flush=True)
                return
            if (step + 1) % 100 == 0:
                print(f"  epoch {epoch + 1} step {step + 1}/{steps_per_epoch} loss {loss_sum / seen:.4f} "
                      f"lr {sched.get_last_lr()[0]:.4f} {time.time() - t0:.0f}s", flush=True)
        train_time = time.time() - t0
        preds = predict(model, test_x, mean, std)
        acc = float((preds == test_y).double().mean())
        rec = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen, "test_acc": acc,
               "train_seconds": round(train_time, 1), "epoch_seconds": round(time.time() - t0, 1)}
        log["per_epoch"].append(rec)
        print(f"epoch {epoch + 1}/{a.epochs} loss {rec['train_loss']:.4f} train_acc {rec['train_acc']:.4f} "
              f"test_acc {acc:.4f} ({rec['epoch_seconds']:.0f}s, total {time.time() - t_start:.0f}s)", flush=True)
        with open(os.path.join(a.out, "train-log.json"), "w") as f:  # partial log, rewritten every epoch
            json.dump(log, f, indent=1)

    model.eval()
    save_safetensors(model.state_dict(), os.path.join(a.out, "model.safetensors"))
    np.save(os.path.join(a.out, "predictions.npy"), preds.numpy().astype(np.int64))
    with open(os.path.join(a.out, "labels.json"), "w") as f:
        json.dump(LABELS, f, indent=1)
    log["final_test_accuracy"] = acc
    log["wall_seconds"] = round(time.time() - t_start, 1)
    log["outputs"] = ["model.safetensors", "predictions.npy", "labels.json", "train-log.json"]
    with open(os.path.join(a.out, "train-log.json"), "w") as f:
        json.dump(log, f, indent=1)
    print(f"final test accuracy {acc:.4f}, wall {log['wall_seconds']:.0f}s, outputs in {a.out}", flush=True)


if __name__ == "__main__":
    main()
