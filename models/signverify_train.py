"""Train the pause-sign verifier on CPU and export it to ONNX (the ``train`` extra: torch; run in .venv-train).

    python -m models.signverify_train --crops var/signverify --size 64 --name sv-64 --epochs 14
    python -m models.signverify_train --crops var/signverify --size 64 --name sv-64 --resume
    python -m models.signverify_train --ensemble var/runs/sv-a var/runs/sv-b --name sv-64-ens --size 64
    python -m models.signverify_train --init-onnx models/counterwatch-signverify-v2.onnx --crops var/signverify-x4b \
        --name sv-64-ft --epochs 1 --lr 1e-3      # fine-tune a shipped verifier (every member) on new crops

Input: ``crops-train-<size>.npz`` / ``crops-val-<size>.npz`` from ``counterwatch models verifier-crops``.
Writes ``var/runs/<name>/``: train.log, results.csv, run_settings.json, last.pt (every epoch, with the
optimiser: ``--resume`` continues), best.pt (best val AP on crops) and ``<name>.onnx`` (from best.pt):
input ``crops`` (N, 3, S, S) float RGB in [0, 1], output ``p_sign`` (N, 1) — the sigmoid is in the graph.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

log = logging.getLogger("signverify")


def block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class VerifierNet(nn.Module):
    """Six 3x3 convs (16-32-64-64-128-128) with max-pooling, global average pooling, one logit. 0.28 M params:
    it has to read four characters on a card, not understand a scene."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            block(3, w), nn.MaxPool2d(2),
            block(w, 2 * w), nn.MaxPool2d(2),
            block(2 * w, 4 * w), block(4 * w, 4 * w), nn.MaxPool2d(2),
            block(4 * w, 8 * w), block(8 * w, 8 * w),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(8 * w, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(self.head(self.features(x)))


class WithSigmoid(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))


class MeanOfSigmoids(nn.Module):
    """An ensemble in one graph: the mean P(sign) of several trained verifiers (same input)."""

    def __init__(self, nets: list[nn.Module]) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.sigmoid(net(x)) for net in self.nets]).mean(dim=0)


def to_tensor(x_bgr: np.ndarray) -> torch.Tensor:
    """uint8 N×S×S×3 BGR -> float N×3×S×S RGB [0, 1], the runtime's to_blob."""
    return torch.from_numpy(np.ascontiguousarray(x_bgr[..., ::-1])).permute(0, 3, 1, 2).float() / 255.0


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Photometric CCTV-ish jitter + a small shift. No flips: mirrored text is not a sign."""
    n = x.shape[0]
    gain = torch.empty(n, 1, 1, 1).uniform_(0.6, 1.3, generator=gen)
    chan = torch.empty(n, 3, 1, 1).uniform_(0.85, 1.15, generator=gen)
    bias = torch.empty(n, 1, 1, 1).uniform_(-0.08, 0.08, generator=gen)
    x = x * gain * chan + bias
    gray = torch.rand(n, generator=gen) < 0.3
    x[gray] = x[gray].mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
    blur = torch.rand(n, generator=gen) < 0.3
    if blur.any():
        x[blur] = functional.avg_pool2d(functional.pad(x[blur], (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    noisy = (torch.rand(n, 1, 1, 1, generator=gen) < 0.5).float()
    x = x + noisy * torch.randn(x.shape, generator=gen) * 0.03
    s = x.shape[-1]
    pad = max(1, s // 16)
    padded = functional.pad(x, (pad, pad, pad, pad), mode="replicate")
    dx, dy = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,), generator=gen))
    return padded[:, :, dy : dy + s, dx : dx + s].clamp(0, 1)


def average_precision(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(AP, recall at precision >= 0.95) of crop scores."""
    order = np.argsort(-scores, kind="stable")
    tp = labels[order] == 1
    ctp, cfp = np.cumsum(tp), np.cumsum(~tp)
    recall = ctp / max(int(tp.sum()), 1)
    precision = ctp / np.maximum(ctp + cfp, 1)
    ap = float(np.sum(np.diff(np.concatenate([[0.0], recall])) * precision))
    good = precision >= 0.95
    return ap, float(recall[good].max()) if good.any() else 0.0


def predict_mean(nets: list[VerifierNet], x: np.ndarray) -> np.ndarray:
    """Mean P(sign) of the members (one member: its own)."""
    return np.mean([predict(n, x) for n in nets], axis=0)


def predict(net: nn.Module, x: np.ndarray, batch: int = 512) -> np.ndarray:
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(torch.sigmoid(net(to_tensor(x[i : i + batch]))).numpy().reshape(-1))
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def export_onnx(net: nn.Module, size: int, path: Path, *, sigmoid: bool = True) -> None:
    """``sigmoid=False``: ``net`` already outputs probabilities (an ensemble)."""
    net.eval()
    graph = WithSigmoid(net) if sigmoid else net
    dummy = torch.zeros(1, 3, size, size)
    kwargs: dict[str, Any] = {"input_names": ["crops"], "output_names": ["p_sign"], "opset_version": 17,
                              "dynamic_axes": {"crops": {0: "batch"}, "p_sign": {0: "batch"}}}
    try:
        torch.onnx.export(graph, (dummy,), str(path), dynamo=False, **kwargs)
    except TypeError:  # older torch: no dynamo switch
        torch.onnx.export(graph, (dummy,), str(path), **kwargs)


def nets_from_onnx(path: Path) -> list[VerifierNet]:
    """The members of an exported verifier (one net or a :class:`MeanOfSigmoids` ensemble) as trainable nets.
    The export folded each BatchNorm into its conv (weight and bias); the conv takes the folded weight and
    its BatchNorm becomes the identity plus the folded bias (mean 0, variance 1 - eps, scale 1), so the nets
    start exactly where the shipped file is (checked against onnxruntime by the caller)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    gemms = [n for n in model.graph.node if n.op_type == "Gemm"]
    per_net = 6
    if not gemms or len(convs) != per_net * len(gemms):
        raise ValueError(f"{path}: {len(convs)} convs for {len(gemms)} heads; not a VerifierNet export")
    nets = []
    for k, gemm in enumerate(gemms):
        w0 = weights[convs[k * per_net].input[1]]
        net = VerifierNet(int(w0.shape[0]))
        blocks = [m for m in net.features if isinstance(m, nn.Sequential)]
        for blk, node in zip(blocks, convs[k * per_net : (k + 1) * per_net], strict=True):
            conv, bn = blk[0], blk[1]
            conv.weight.data = torch.from_numpy(weights[node.input[1]].copy())
            bn.weight.data.fill_(1.0)
            bn.bias.data = torch.from_numpy(weights[node.input[2]].copy())
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
        linear = net.head[3]
        linear.weight.data = torch.from_numpy(weights[gemm.input[1]].copy())
        linear.bias.data = torch.from_numpy(weights[gemm.input[2]].copy())
        nets.append(net)
    return nets


def freeze_batchnorm(net: nn.Module) -> None:
    """Fine-tuning: BatchNorm keeps its (folded) statistics; batch statistics would move every feature."""
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


def export_ensemble(members: list[Path], size: int, run: Path, name: str) -> Path:
    """One ONNX averaging the members' P(sign) (each member's best.pt). ``run`` gets run_settings.json
    naming the members and their settings, and the members' results.csv rows, for the manifest."""
    nets: list[nn.Module] = []
    settings: dict[str, Any] = {"ensemble_of": [], "size": size}
    rows: list[str] = []
    for member in members:
        member_settings = json.loads((member / "run_settings.json").read_text())
        best = torch.load(member / "best.pt", weights_only=False)
        net = VerifierNet(int(member_settings.get("width", 16)))
        state = best["net"]
        if all(k.startswith("0.") for k in state):  # saved as a one-member ModuleList
            state = {k[2:]: v for k, v in state.items()}
        net.load_state_dict(state)
        nets.append(net)
        settings["ensemble_of"].append({"run": member.name, "best_epoch": int(best["epoch"]) + 1,
                                        "val_ap": float(best["val_ap"]), **member_settings})
        rows += (member / "results.csv").read_text().splitlines()
    run.mkdir(parents=True, exist_ok=True)
    (run / "run_settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    (run / "results.csv").write_text("\n".join(rows) + "\n")  # every member's epochs
    path = run / f"{name}.onnx"
    export_onnx(MeanOfSigmoids(nets), size, path, sigmoid=False)
    return path


def main(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    if args.ensemble:
        path = export_ensemble(args.ensemble, args.size, args.runs / args.name, args.name)
        print(json.dumps({"exported": str(path), "members": [str(m) for m in args.ensemble]}))
        return 0
    run = args.runs / args.name
    run.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        handlers=[logging.StreamHandler(), logging.FileHandler(run / "train.log")])
    train = np.load(args.crops / f"crops-train-{args.size}.npz")
    val = np.load(args.crops / f"crops-val-{args.size}.npz")
    x_tr, y_tr, x_va, y_va = train["x"], train["y"], val["x"], val["y"]
    pos = int(y_tr.sum())
    log.info("train %d crops (%d sign), val %d crops (%d sign), size %d", len(y_tr), pos, len(y_va),
             int(y_va.sum()), args.size)
    torch.manual_seed(args.seed)
    # One net from scratch, or every member of a shipped verifier (fine-tuning, BatchNorm frozen).
    nets: list[VerifierNet] = nets_from_onnx(args.init_onnx) if args.init_onnx else [VerifierNet(args.width)]
    net = nn.ModuleList(nets)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    steps_per_epoch = (len(y_tr) + args.batch - 1) // args.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch,
                                                pct_start=0.15)
    start, best_ap = 0, -1.0
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "handler"}
    if args.resume and (run / "last.pt").exists():
        ckpt = torch.load(run / "last.pt", weights_only=False)
        net.load_state_dict(ckpt["net"])
        opt.load_state_dict(ckpt["opt"])
        sched.load_state_dict(ckpt["sched"])
        start, best_ap = int(ckpt["epoch"]) + 1, float(ckpt["best_ap"])
        settings = ckpt["settings"]
        log.info("resumed at epoch %d (best val AP %.4f)", start, best_ap)
    else:
        settings["started"] = datetime.now(UTC).isoformat()
        settings["train_counts"] = {"crops": len(y_tr), "positives": pos, "negatives": len(y_tr) - pos}
        settings["val_counts"] = {"crops": len(y_va), "positives": int(y_va.sum())}
        (run / "run_settings.json").write_text(json.dumps(settings, indent=2))
        (run / "results.csv").write_text("epoch,seconds,train_loss,val_ap,val_r_at_p95\n")
    pos_weight = torch.tensor([(len(y_tr) - pos) / max(pos, 1)])
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(start, args.epochs):
        t0 = time.perf_counter()
        net.train()
        if args.init_onnx:
            freeze_batchnorm(net)
        gen.manual_seed(args.seed * 1000 + epoch)  # the same batches after a resume
        order = torch.randperm(len(y_tr), generator=gen).numpy()
        losses = []
        for i in range(0, len(order), args.batch):
            idx = np.sort(order[i : i + args.batch])
            x = augment(to_tensor(x_tr[idx]), gen)
            y = torch.from_numpy(y_tr[idx]).float()[:, None]
            loss = sum((functional.binary_cross_entropy_with_logits(m(x), y, pos_weight=pos_weight) for m in nets),
                       torch.zeros(()))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        ap, r95 = average_precision(predict_mean(nets, x_va), y_va)
        secs = time.perf_counter() - t0
        log.info("epoch %d/%d loss %.4f val AP %.4f R@P95 %.4f (%.0f s)", epoch + 1, args.epochs,
                 float(np.mean(losses)), ap, r95, secs)
        with (run / "results.csv").open("a") as f:
            csv.writer(f).writerow([epoch + 1, round(secs, 1), round(float(np.mean(losses)), 5), round(ap, 5),
                                    round(r95, 5)])
        if ap > best_ap:
            best_ap = ap
            torch.save({"net": net.state_dict(), "epoch": epoch, "val_ap": ap, "val_r_at_p95": r95}, run / "best.pt")
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "epoch": epoch,
                    "best_ap": best_ap, "settings": settings}, run / "last.pt")
    best = torch.load(run / "best.pt", weights_only=False)
    net.load_state_dict(best["net"])
    if len(nets) == 1:
        export_onnx(nets[0], args.size, run / f"{args.name}.onnx")
    else:
        export_onnx(MeanOfSigmoids(list(nets)), args.size, run / f"{args.name}.onnx", sigmoid=False)
    log.info("exported %s (best epoch %d, val AP %.4f)", run / f"{args.name}.onnx", int(best["epoch"]) + 1,
             float(best["val_ap"]))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--crops", type=Path, default=Path("var/signverify"))
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--name", default="sv-64")
    p.add_argument("--runs", type=Path, default=Path("var/runs"))
    p.add_argument("--epochs", type=int, default=14)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--init-onnx", type=Path, default=None,
                   help="start from this exported verifier (every member of an ensemble), BatchNorm frozen")
    p.add_argument("--ensemble", type=Path, nargs="+", metavar="RUN",
                   help="no training: export one ONNX averaging these runs' best.pt verifiers")
    return p


if __name__ == "__main__":
    raise SystemExit(main(parser().parse_args()))
