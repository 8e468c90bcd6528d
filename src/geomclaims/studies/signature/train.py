"""Training of the toy embedding models on the addition tasks (paper P Sec. 5.1, App. A), many members at once.

One call of :func:`train_toy` trains the (task, architecture, label mode) members of ONE seed together (one Dask job
per seed; :func:`merge_member_runs` concatenates the seeds' results for the evidence functions) and returns small
arrays: anchor embeddings and label unembeddings at init / early steps / the end, the R_order and
mean-anchor-cosine curves, train accuracies, and full-data gradients of the anchor embeddings at early steps (P12).

Schedules (``SCHEDULES``): ``paper`` is App. A verbatim (AdamW, lr 1e-5, 1000 epochs, batch 100, 50k samples =
500k steps; infeasible on 2 CPU cores). ``ci`` (AdamW lr 1e-3, batch 1000, 100 epochs = 5000 steps) is the gating
schedule: it is chosen because its models *learn* (measured: F_lin 0.92/0.96 on f_add/f~add, F_ffn 0.99-1.00),
not because it matches the paper's lr x steps. ``fast`` (lr 5e-3, batch 100, 2 epochs) was the old ci schedule:
equal lr x steps does not give Adam the same end state and its models did not fit the tasks (F_lin 0.38), so it
is kept only as a benchmark variant (benchmarks/bench_signature.py).

Besides the end state, the anchor embeddings are kept at ``snapshot_fraction`` of the steps (0.12: the paper's
Fig. 2/3 show epoch 120 of 1000), and at the P12 gradient points (so the actual AdamW displacement can be compared
with Corollary 1's direction).

Optimizers (``optimizer``): ``adamw`` (App. A, every claim but P12-gd) and ``sgd`` = plain gradient descent
(torch SGD without momentum or weight decay). Corollary 1 is a statement about gradient flow, so P12-gd follows the
trajectory plain GD takes; with ``full_batch`` every step is the exact full-data gradient (the count-weighted loss
over the distinct input triples, equal to the mean loss over all samples for true labels), i.e. Euler steps of the
gradient flow rather than a stochastic approximation of it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from geomclaims.metrics import cosine_matrix, r_order
from geomclaims.store import META_KEY as META

from . import models
from .tasks import ANCHORS, TASKS, VOCAB_SIZE, TaskSpec, make_dataset, shuffle_labels

SCHEDULES: dict[str, dict[str, Any]] = {
    "paper": {"lr": 1e-5, "epochs": 1000, "batch": 100, "n_samples": 50_000},
    "ci": {"lr": 1e-3, "epochs": 100, "batch": 1000, "n_samples": 50_000},
    "fast": {"lr": 5e-3, "epochs": 2, "batch": 100, "n_samples": 50_000},
    "smoke": {"lr": 5e-3, "epochs": 1, "batch": 100, "n_samples": 5_000},  # plumbing only
}
# rows of W^U kept in results: 101..180 covers the label domains of all three tasks
LABEL_ROWS = np.arange(101, 181)
ARCHS = ("lin", "ffn")
LABEL_MODES = ("true", "shuffled")
OPTIMIZERS = ("adamw", "sgd")


def toy_config(
    schedule: str,
    labels: tuple[str, ...] = ("true", "shuffled"),
    optimizer: str = "adamw",
    **overrides: Any,
) -> dict[str, Any]:
    """The full, explicit config of one seed's toy-training job (every knob but the seed; the cache key).

    The seed is the job's seed argument, not part of the config: a seed's members (initial weights, data, batch
    order) do not depend on which other seeds a profile lists, so ``--seed-offset`` and a longer seed list reuse the
    jobs they share, and the executor can run seeds in parallel. ``labels`` lists the label modes trained per seed
    (``shuffled``: the shuffled-label control on the same inputs and init). ``optimizer`` is ``adamw`` (App. A) or
    ``sgd`` (plain gradient descent: no momentum, no weight decay, so ``weight_decay`` is 0 and ``betas`` None).
    """
    bad = [m for m in labels if m not in LABEL_MODES]
    if bad or not labels:
        raise ValueError(
            f"toy_config: labels must be a non-empty subset of {LABEL_MODES}, got {list(labels)}"
        )
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"toy_config: optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    adamw = optimizer == "adamw"
    cfg: dict[str, Any] = {
        "schedule": schedule,
        **SCHEDULES[schedule],
        "d": 200,
        # Sec. 5.1's N(0, d^-0.8) read as std d^-0.8 (0.0144), see models.py; "variance" (std 0.120) is a variant
        "init_convention": "std",
        "optimizer": optimizer,
        # torch AdamW default; App. A names AdamW without a decay value. Plain GD has none.
        "weight_decay": 0.01 if adamw else 0.0,
        "betas": [0.9, 0.999] if adamw else None,
        # True: every step is the exact full-data gradient (one step per epoch; true labels only), see the module doc
        "full_batch": False,
        "tasks": list(TASKS),
        "archs": list(ARCHS),
        "labels": list(labels),
        "torch_threads": 1,  # tiny matmuls: one thread is faster than two on a shared box (measured)
        "n_checkpoints": 40,
        "grad_fractions": [
            0.0,
            0.002,
            0.01,
        ],  # P12: gradients at init and two early points (fraction of steps)
        "snapshot_fraction": 0.12,  # epoch 120 of 1000, the training time the paper's Fig. 2A/3 show
        "max_steps": None,  # cost measurement: stop early and time the steps
        "evaluate": True,  # False: skip accuracies and gradients (the cost run only times steps)
    }
    cfg.update(overrides)
    return cfg


def _members(cfg: Mapping[str, Any], seed: int) -> list[dict[str, Any]]:
    return [
        {"seed": int(seed), "task": t, "arch": a, "labels": lm}
        for lm in cfg["labels"]
        for t in cfg["tasks"]
        for a in cfg["archs"]
    ]


def _checkpoint_steps(total: int, n: int, extra: list[int]) -> np.ndarray:
    """0, a geometric run of early steps (structure forms early) and a linear run to the end."""
    geo = np.geomspace(1, total, n // 2)
    lin = np.linspace(0, total, n - n // 2)
    return np.unique(np.concatenate([[0, total], np.round(geo), np.round(lin), extra]).astype(int))


def member_data(member: Mapping[str, Any], n_samples: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Dataset of one member and its data seed. X is shared by the true- and shuffled-label members."""
    data_seed = 1000 * int(member["seed"]) + TASKS.index(member["task"])
    X, y = make_dataset(member["task"], n_samples, data_seed)
    if member["labels"] == "shuffled":
        y = shuffle_labels(y, data_seed + 500)
    return X, y, data_seed


def init_seed(seed: int) -> int:
    """Torch seed of the initial weights: one per seed, shared by every task/architecture (controlled comparison)."""
    return models.member_seed("signature-toy-init", int(seed))


def _distinct(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct input triples and, per sample, the index of its triple (accuracy on 4000 rows instead of 50k)."""
    code = (X[:, 0] * VOCAB_SIZE + X[:, 1]) * VOCAB_SIZE + X[:, 2]
    _uniq, inv = np.unique(code, return_inverse=True)
    return X[np.unique(inv, return_index=True)[1]], inv


def train_toy(config: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Train every (task, architecture, label mode) member of ``config`` for ``seed`` (init, data and batch order).

    One seed per job also keeps the batched tensors small ([12, 1000, 200] floats): with all 48 ci members in one
    job they passed glibc's mmap threshold and every step paid page faults (measured: 0.35 s vs 4 x 0.05 s per step,
    40% of it system time).
    """
    torch.set_num_threads(min(int(config["torch_threads"]), 2))
    device = str(config.get("device", "cpu"))
    cfg = dict(config)
    mem = _members(cfg, seed)
    M = len(mem)
    N, B = int(cfg["n_samples"]), int(cfg["batch"])
    full_batch = bool(cfg.get("full_batch", False))
    if full_batch and any(m["labels"] != "true" for m in mem):
        # the distinct-triple loss equals the sample loss only when every copy of a triple has the same label
        raise ValueError("train_toy: full_batch trains true-label members only (labels must be ('true',))")
    steps_per_epoch = 1 if full_batch else N // B
    total = int(cfg["epochs"]) * steps_per_epoch
    if cfg.get("max_steps"):
        total = min(total, int(cfg["max_steps"]))

    data = [member_data(m, N) for m in mem]
    tok2idx = np.stack([TaskSpec(m["task"]).token_index() for m in mem])  # [M, VOCAB_SIZE]
    vsize = np.array([TaskSpec(m["task"]).vocab.size for m in mem])
    V = int(vsize.max())
    # model-space data: token values -> vocabulary rows of each member
    Xt = torch.as_tensor(np.stack([tok2idx[i][d[0]] for i, d in enumerate(data)]), device=device)
    yt = torch.as_tensor(np.stack([tok2idx[i][d[1]] for i, d in enumerate(data)]), device=device)
    vocab_mask = torch.as_tensor(np.arange(V)[None, :] < vsize[:, None], device=device)
    relu_mask = torch.tensor([m["arch"] == "ffn" for m in mem], device=device)
    std = models.init_std(int(cfg["d"]), cfg["init_convention"])
    torch_seeds = [init_seed(m["seed"]) for m in mem]
    WE0, WU0 = models.init_weights(torch_seeds, V, int(cfg["d"]), std, device)
    rows_anchor = torch.as_tensor(tok2idx[:, list(ANCHORS)], device=device)  # [M, |A|]
    label_idx = tok2idx[:, LABEL_ROWS]  # [M, 80], -1 where the token is outside the member's vocabulary
    rows_label = torch.as_tensor(np.maximum(label_idx, 0), device=device)
    label_ok = torch.as_tensor(label_idx >= 0, device=device)

    def take(W: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return W[torch.arange(M, device=device)[:, None], rows]

    def labels_of(W: torch.Tensor) -> np.ndarray:
        return (take(W, rows_label) * label_ok[:, :, None]).detach().cpu().numpy().astype(np.float32)

    WE = WE0.clone().requires_grad_(True)
    WU = WU0.clone().requires_grad_(True)
    opt = make_optimizer(cfg, [WE, WU], device)
    shuffle_gen = torch.Generator(device="cpu").manual_seed(models.member_seed("signature-toy-batches", seed))

    anchors = np.asarray(ANCHORS)
    Xm = [(Xt[i].cpu().numpy(), yt[i].cpu().numpy()) for i in range(M)]
    grad_steps = sorted({round(f * total) for f in cfg["grad_fractions"]})
    snap_step = round(float(cfg["snapshot_fraction"]) * total)
    ckpts = _checkpoint_steps(total, int(cfg["n_checkpoints"]), [*grad_steps, snap_step])
    snapshot: dict[str, np.ndarray] = {}
    distinct = [_distinct(x) for x, _ in Xm]
    true_members = [i for i, m in enumerate(mem) if m["labels"] == "true"]
    if full_batch:
        X_full, y_full, w_full = _weighted_triples(Xm, distinct, device)

    curves_r, curves_cos, cos_snap = [], [], []
    grads, grad_loss, grad_wu, grad_wu_sum, grad_we, grad_phix = [], [], [], [], [], []

    def log(step: int) -> None:
        we = take(WE.detach(), rows_anchor).cpu().numpy().astype(np.float64)
        cs = np.stack([cosine_matrix(w) for w in we])
        curves_cos.append(cs[:, ~np.eye(len(anchors), dtype=bool)].mean(axis=1))
        curves_r.append([r_order(w, anchors) for w in we])
        cos_snap.append(cs)
        if step == snap_step:
            snapshot["WE"] = we.astype(np.float32)
            snapshot["WU"] = labels_of(WU)
        if step in grad_steps and cfg["evaluate"]:
            g, full_loss = _full_gradient(
                WE.detach(), WU.detach(), Xm, distinct, relu_mask, vocab_mask, true_members, rows_anchor
            )
            grads.append(g)
            grad_loss.append(full_loss)
            grad_wu.append(labels_of(WU))
            grad_wu_sum.append((WU.detach() * vocab_mask[:, :, None]).sum(dim=1).cpu().numpy())
            grad_we.append(we.astype(np.float32))
            grad_phix.append(_phi_x_term(WE.detach(), WU.detach(), Xm, vocab_mask, true_members, rows_anchor))

    t0 = time.perf_counter()
    step = 0
    log(0)
    perm = None
    while step < total:
        if full_batch:
            loss = models.member_loss(WE, WU, X_full, y_full, relu_mask, vocab_mask, w_full).sum()
        else:
            if step % steps_per_epoch == 0:
                perm = torch.argsort(torch.rand(M, N, generator=shuffle_gen), dim=1).to(device)
            j = step % steps_per_epoch
            idx = perm[:, j * B : (j + 1) * B]  # type: ignore[index]
            Xb = torch.gather(Xt, 1, idx[:, :, None].expand(-1, -1, Xt.shape[2]))
            yb = torch.gather(yt, 1, idx)
            loss = models.member_loss(WE, WU, Xb, yb, relu_mask, vocab_mask).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step in ckpts:
            log(step)
    train_s = time.perf_counter() - t0

    if cfg["evaluate"]:
        acc_final = _accuracy(WE.detach(), WU.detach(), Xm, distinct, relu_mask, vocab_mask)
        acc_init = _accuracy(WE0, WU0, Xm, distinct, relu_mask, vocab_mask)
    else:
        acc_final = acc_init = np.zeros(M)
    return _nest(
        {
            "members/seed": np.array([m["seed"] for m in mem]),
            "members/task": np.array([m["task"] for m in mem]),
            "members/arch": np.array([m["arch"] for m in mem]),
            "members/labels": np.array([m["labels"] for m in mem]),
            "members/data_seed": np.array([d[2] for d in data]),
            "members/torch_seed": np.array([str(s) for s in torch_seeds]),
            "steps": ckpts,
            "total_steps": total,
            "train_seconds": train_s,
            "seconds_per_step": train_s / max(total, 1),
            "init_std": std,
            "vocab_size": vsize,
            "r_order": np.asarray(curves_r).T,  # [M, n_ckpt]
            "mean_anchor_cos": np.asarray(curves_cos).T,
            "anchor_cos": np.stack(cos_snap, axis=1).astype(np.float32),  # [M, n_ckpt, |A|, |A|]
            "acc_final": acc_final,
            "acc_init": acc_init,
            "WE_anchor/init": take(WE0, rows_anchor).cpu().numpy().astype(np.float32),
            "WE_anchor/final": take(WE.detach(), rows_anchor).cpu().numpy().astype(np.float32),
            "WE_anchor/early": snapshot["WE"],  # at snapshot_step (epoch-120-of-1000 equivalent)
            "WU_label/early": snapshot["WU"],
            "snapshot_step": snap_step,
            "WU_label/init": labels_of(WU0),  # rows = tokens 101..180 (zero where not in the vocabulary)
            "WU_label/final": labels_of(WU),
            "grad/steps": np.asarray(grad_steps),
            "grad/members": np.asarray(true_members),
            "grad/WE_anchor": np.asarray(grads, dtype=np.float32),  # [n_grad, |true|, |A|, d]: -dL/dW^E
            "grad/loss": np.asarray(grad_loss, dtype=np.float64),  # [n_grad, |true|]: full-data loss there
            "grad/WU_label": np.asarray(grad_wu, dtype=np.float32),  # [n_grad, M, |labels|, d]
            "grad/WU_sum": np.asarray(grad_wu_sum, dtype=np.float32),  # [n_grad, M, d]: sum_nu W^U_nu
            "grad/WE_anchor_weights": np.asarray(grad_we, dtype=np.float32),  # [n_grad, M, |A|, d]
            "grad/phiX_term": np.asarray(grad_phix, dtype=np.float32),  # [n_grad, |true|, |A|, d]
        }
    )


# How merge_member_runs combines one key of the per-seed results (flattened "a/b" keys, as the store returns them).
_MEMBER_AXIS_0 = """members/seed members/task members/arch members/labels members/data_seed members/torch_seed
vocab_size r_order mean_anchor_cos anchor_cos acc_final acc_init WE_anchor/init WE_anchor/final WE_anchor/early
WU_label/early WU_label/init WU_label/final""".split()
_MEMBER_AXIS_1 = [
    "grad/WE_anchor",
    "grad/loss",
    "grad/WU_label",
    "grad/WU_sum",
    "grad/WE_anchor_weights",
    "grad/phiX_term",
]  # [n_grad, M, ...]
_MEMBER_AXIS = {**dict.fromkeys(_MEMBER_AXIS_0, 0), **dict.fromkeys(_MEMBER_AXIS_1, 1)}
_SHARED = ("steps", "total_steps", "init_std", "snapshot_step", "grad/steps")  # equal in every part (checked)


def merge_member_runs(parts: list[Mapping[str, Any]]) -> dict[str, Any]:
    """One result holding the members of every part (per-seed :func:`train_toy` results, in the given order).

    Member-indexed arrays are concatenated on their member axis, ``grad/members`` indices are shifted to the merged
    member numbering, ``train_seconds`` is summed and ``seconds_per_step`` is the mean per job. A key this function
    does not know, or a shared value that differs between parts, is an error: nothing is dropped silently.
    """
    if not parts:
        raise ValueError("merge_member_runs: no results to merge")
    keys = set(parts[0])
    for i, part in enumerate(parts[1:], 1):
        if set(part) != keys:
            raise ValueError(
                f"merge_member_runs: part {i} has keys {sorted(set(part) ^ keys)} the first does not"
            )
    known = set(_MEMBER_AXIS) | set(_SHARED) | {"grad/members", "train_seconds", "seconds_per_step", META}
    unknown = sorted(keys - known)
    if unknown:
        raise KeyError(f"merge_member_runs: no merge rule for result keys {unknown}")
    out: dict[str, Any] = {}
    for key, axis in _MEMBER_AXIS.items():
        out[key] = np.concatenate([np.asarray(p[key]) for p in parts], axis=axis)
    for key in _SHARED:
        first = np.asarray(parts[0][key])
        for i, part in enumerate(parts[1:], 1):
            if not np.array_equal(np.asarray(part[key]), first):
                raise ValueError(f"merge_member_runs: {key!r} differs between part 0 and part {i}")
        out[key] = parts[0][key]
    offsets = np.cumsum([0] + [len(p["members/seed"]) for p in parts[:-1]])
    out["grad/members"] = np.concatenate(
        [np.asarray(p["grad/members"], dtype=int) + off for p, off in zip(parts, offsets, strict=True)]
    )
    out["train_seconds"] = float(sum(float(p["train_seconds"]) for p in parts))
    out["seconds_per_step"] = float(np.mean([float(p["seconds_per_step"]) for p in parts]))
    out[META] = {**parts[0][META], "merged_seeds": [int(p["members/seed"][0]) for p in parts]}
    return out


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """{"a/b": x} -> {"a": {"b": x}}: the store flattens nested dicts back to "a/b" keys on save."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        head, _, tail = key.partition("/")
        if tail:
            out.setdefault(head, {})[tail] = value
        else:
            out[head] = value
    return out


def make_optimizer(cfg: Mapping[str, Any], params: list[torch.Tensor], device: str) -> torch.optim.Optimizer:
    """The optimizer ``cfg["optimizer"]`` names: AdamW with the config's betas and decay, or plain gradient descent
    (SGD without momentum, dampening, Nesterov or weight decay: p <- p - lr * grad)."""
    name = cfg.get("optimizer", "adamw")
    lr = float(cfg["lr"])
    if name == "adamw":
        return torch.optim.AdamW(
            params,
            lr=lr,
            betas=tuple(cfg["betas"]),
            weight_decay=float(cfg["weight_decay"]),
            fused=device == "cpu" or None,  # fused CPU AdamW: same update, ~1.5x faster here (measured)
        )
    if name == "sgd":
        if float(cfg.get("weight_decay") or 0.0) != 0.0:
            raise ValueError(
                f"optimizer 'sgd' is plain gradient descent: weight_decay must be 0, got {cfg['weight_decay']!r}"
            )
        return torch.optim.SGD(params, lr=lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def _triple_labels(
    data: tuple[np.ndarray, np.ndarray], dist: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Label and sample count of each distinct triple (true labels: all copies of a triple share the label)."""
    trip, inv = dist
    counts = np.bincount(inv, minlength=len(trip)).astype(np.float64)
    y_trip = np.zeros(len(trip), dtype=np.int64)
    y_trip[inv] = data[1]
    return y_trip, counts


def _weighted_triples(
    data: list[tuple[np.ndarray, np.ndarray]], distinct: list[tuple[np.ndarray, np.ndarray]], device: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every member's distinct triples, labels and counts, padded to one [M, T] batch (padding has weight 0), so
    the count-weighted loss over them is each member's mean loss over all its samples (full-batch GD)."""
    T = max(len(trip) for trip, _ in distinct)
    X = np.zeros((len(data), T, 3), dtype=np.int64)
    y = np.zeros((len(data), T), dtype=np.int64)
    w = np.zeros((len(data), T), dtype=np.float64)
    for i, (d, dist) in enumerate(zip(data, distinct, strict=True)):
        y_trip, counts = _triple_labels(d, dist)
        n = len(y_trip)
        X[i, :n], y[i, :n], w[i, :n] = dist[0], y_trip, counts
    return (
        torch.as_tensor(X, device=device),
        torch.as_tensor(y, device=device),
        torch.as_tensor(w, dtype=torch.float32, device=device),
    )


def _full_gradient(
    WE: torch.Tensor,
    WU: torch.Tensor,
    data: list[tuple[np.ndarray, np.ndarray]],
    distinct: list[tuple[np.ndarray, np.ndarray]],
    relu_mask: torch.Tensor,
    vocab_mask: torch.Tensor,
    members: list[int],
    rows_anchor: torch.Tensor,
) -> tuple[np.ndarray, np.ndarray]:
    """Negative full-dataset gradient -dL/dW^E_alpha (the gradient-flow velocity) for the given members, and their
    full-data loss.

    True-label data has y = f(X), so the loss over the 50k samples equals the count-weighted loss over the distinct
    triples; that is what we differentiate (exact, 12x cheaper).
    """
    out, losses = [], []
    for i in members:
        trip, _inv = distinct[i]
        y_trip, counts = _triple_labels(data[i], distinct[i])
        we = WE[i : i + 1].clone().requires_grad_(True)
        loss = models.member_loss(
            we,
            WU[i : i + 1],
            torch.as_tensor(trip[None], device=WE.device),
            torch.as_tensor(y_trip[None], device=WE.device),
            relu_mask[i : i + 1],
            vocab_mask[i : i + 1],
            torch.as_tensor(counts[None], dtype=WE.dtype, device=WE.device),
        ).sum()
        (g,) = torch.autograd.grad(loss, we)
        out.append(-g[0, rows_anchor[i]].cpu().numpy())
        losses.append(float(loss.detach()))
    return np.stack(out), np.asarray(losses)


@torch.no_grad()
def _phi_x_term(
    WE: torch.Tensor,
    WU: torch.Tensor,
    data: list[tuple[np.ndarray, np.ndarray]],
    vocab_mask: torch.Tensor,
    members: list[int],
    rows_anchor: torch.Tensor,
) -> np.ndarray:
    """Corollary 1's phi^X term for F_lin, (1/d_vob) W^{U,T} W^U W^E phi^X_alpha, per member and anchor ([|members|,
    |A|, d]). W^E phi^X_alpha is the mean hidden sum sum_{x in X} W^E_x over the training sequences, each weighted by
    how often alpha occurs in it (occurrence counting: the gradient of W^E_alpha sums over the positions holding
    alpha, Prop. 1). The prediction subtracts it from the phi^y term (eq. 1)."""
    out = []
    for i in members:
        X = torch.as_tensor(data[i][0], device=WE.device)  # [N, L] model rows
        h = WE[i][X].sum(dim=1)  # [N, d]: F_lin's hidden state per sequence
        w = (X[:, :, None] == rows_anchor[i][None, None, :]).sum(dim=1).to(h.dtype)  # [N, |A|] occurrences
        hbar = (w.T @ h) / w.sum(dim=0)[:, None]  # [|A|, d]
        wu = WU[i] * vocab_mask[i][:, None]
        d_vob = float(vocab_mask[i].sum())
        out.append(((hbar @ wu.T) @ wu / d_vob).cpu().numpy())
    return np.stack(out)


@torch.no_grad()
def _accuracy(
    WE: torch.Tensor,
    WU: torch.Tensor,
    data: list[tuple[np.ndarray, np.ndarray]],
    distinct: list[tuple[np.ndarray, np.ndarray]],
    relu_mask: torch.Tensor,
    vocab_mask: torch.Tensor,
) -> np.ndarray:
    """Training accuracy of every member on its own dataset (prediction per distinct triple, mapped back)."""
    acc = np.zeros(WE.shape[0])
    for i, ((trip, inv), (_, y)) in enumerate(zip(distinct, data, strict=True)):
        trip_t = torch.as_tensor(trip[None], device=WE.device)
        lg = models.logits(WE[i : i + 1], WU[i : i + 1], trip_t, relu_mask[i : i + 1], vocab_mask[i : i + 1])
        pred = lg[0].argmax(dim=-1).cpu().numpy()
        acc[i] = float(np.mean(pred[inv] == y))
    return acc
