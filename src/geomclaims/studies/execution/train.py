"""Training of seed ensembles with trajectory snapshots, per-m accuracy, attention entropy and SGD commutators.

``train_run(config, seed)`` is the pure, module-level experiment function handed to ``RunContext.run``: every knob
is in ``config`` (variant name and device included) and the result is a flat dict of numpy arrays whose leading
dimension is the ensemble member. ``seed`` is the first data seed of the ensemble (the cache key's seed); the
member seeds are ``config["seeds"]``.

Per member ``e`` (paper E Sec. 3.2-3.3):
* data from ``numpy.random.default_rng`` streams of ``seeds[e]`` (task.data_rng), weights from
  ``torch.Generator(init_seeds[e])`` (``init_seeds`` defaults to ``seeds``; equal init seeds with different data
  seeds give the "same initialisation, different data order" pairs);
* ``n_snapshots`` evenly spaced snapshots (step 0 included) of every parameter;
* at each snapshot: accuracy per m and the normalised final-token attention entropy of every layer (also per m) on
  a fixed evaluation set;
* at ``n_commutators`` checkpoints: the SGD commutator of two fresh minibatches (plain SGD steps at
  ``commutator_lr``, float64, geomclaims.metrics.sgd_commutator) and the minibatch gradient (positive control).

``config["compile"]`` runs the training steps through ``torch.compile`` (issue 30's lever, measured side by side in
benchmarks/bench_execution_levers.py: 1.37x on the attention-only step and 1.19x on the MLP step over the eager
query-only step, compile time ~20 s per process and model shape). Evaluation, snapshots and commutators stay eager
(the evaluation records attention probabilities; the commutator runs in float64). Compiled kernels sum in another
order than eager ones, so a compiled run's numbers differ from an eager run's within float noise that training
amplifies; the flag is part of the config and hence of the cache key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from geomclaims.metrics import attention_entropy, param_slices, sgd_commutator
from geomclaims.studies.execution import sae as S
from geomclaims.studies.execution.model import EnsembleTransformer, ModelSpec, member_losses
from geomclaims.studies.execution.task import Batch, Stages, TaskSpec, data_rng, sample


def training_forward(model: EnsembleTransformer, config: Mapping[str, Any]) -> torch.nn.Module:
    """The module the training steps call: ``model`` itself, or ``torch.compile(model)`` when ``config["compile"]``
    (the compiled wrapper shares the parameters, so evaluation and snapshots read the same weights eagerly)."""
    if not config.get("compile", False):
        return model
    import torch._inductor.config as inductor_config

    # One compile worker: the ci box has 2 cores and two training jobs already use both.
    inductor_config.compile_threads = 1
    return torch.compile(model, dynamic=False)


EVAL_SEED = 10_007  # one fixed evaluation set for every member and variant of a task


def build_model(config: Mapping[str, Any]) -> tuple[EnsembleTransformer, TaskSpec]:
    spec = TaskSpec.from_config(dict(config["task"]))
    seeds = [int(s) for s in config["seeds"]]
    init_seeds = [int(s) for s in config.get("init_seeds") or seeds]
    model = EnsembleTransformer(
        ModelSpec.from_config(dict(config["model"])), spec.vocab.size, spec.T, spec.C, init_seeds
    )
    return model, spec


def _optimizer(model: torch.nn.Module, optim: Mapping[str, Any]) -> torch.optim.Optimizer:
    name, lr, wd = optim["name"], float(optim["lr"]), float(optim.get("weight_decay", 0.0))
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    raise ValueError(f"unknown optimizer {name!r}")


def lr_factor(optim: Mapping[str, Any], step: int) -> float:
    """Learning-rate multiplier at ``step``: ``constant`` (default) or linear warmup then cosine decay.

    Warmup lasts ``round(warmup_frac * steps)`` steps (a fraction, so every profile's length scales alike); the
    cosine then decays to ``min_factor`` (default 0.1) of the base rate at ``steps``. The late, small steps let
    Adam settle on the harder m (profiles.py has the measured curves).
    """
    kind = str(optim.get("schedule", "constant"))
    if kind == "constant":
        return 1.0
    if kind != "cosine":
        raise ValueError(f"optim.schedule must be 'constant' or 'cosine', got {kind!r}")
    total = int(optim["steps"])
    frac_w = float(optim.get("warmup_frac", 0.0))
    if not 0.0 <= frac_w < 1.0:
        raise ValueError(f"optim.warmup_frac must be in [0, 1), got {frac_w}")
    warm = round(frac_w * total)
    floor = float(optim.get("min_factor", 0.1))
    if step < warm:
        return (step + 1) / warm
    frac = (step - warm) / max(total - warm, 1)
    return floor + (1.0 - floor) * 0.5 * (1.0 + float(np.cos(np.pi * min(frac, 1.0))))


def _stack(batches: list[Batch], device: str) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(np.stack([b.tokens for b in batches]), device=device)
    y = torch.as_tensor(np.stack([b.target for b in batches]), device=device)
    return x, y


def ensemble_loss(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Sum of the members' mean cross-entropies: members stay independent because their gradients never mix."""
    x, y = batch
    return member_losses(model(x), y).sum()


def eval_set(spec: TaskSpec, n_per_m: int) -> list[Batch]:
    rng = data_rng(EVAL_SEED, "eval")
    return [sample(spec, rng, n_per_m, (m,)) for m in spec.m_values]


@torch.no_grad()
def evaluate(
    model: EnsembleTransformer, batches: list[Batch], device: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Accuracy [E, n_m], loss [E, n_m], normalised final-token attention entropy [E, L] (mean over heads and m)
    and the same entropy per m [E, L, n_m] (Fig. 2 shows entropy across difficulties, so each m is kept too)."""
    accs, losses, ents = [], [], []
    for b in batches:
        cache: dict[str, torch.Tensor] = {}
        x = torch.as_tensor(b.tokens, device=device)
        y = torch.as_tensor(b.target, device=device).expand(model.n_members, -1)
        logits = model(x, cache=cache)
        accs.append((logits.argmax(-1) == y).float().mean(1).cpu().numpy())
        losses.append(member_losses(logits, y).cpu().numpy())
        per_layer = []
        for layer in range(model.spec.layers):
            final_row = cache[f"attn{layer}"][..., -1:, :].double().cpu().numpy()  # [E,B,H,1,T]
            per_layer.append(attention_entropy(final_row, causal=True, normalize=True).mean(axis=(1, 2, 3)))
        ents.append(np.stack(per_layer, axis=1))
    return np.stack(accs, 1), np.stack(losses, 1), np.mean(ents, axis=0), np.stack(ents, axis=2)


def _targets(batches: list[Batch], label_rngs: list[np.random.Generator] | None, C: int) -> None:
    """Shuffled-label control: replace targets by fresh uniform labels, independent of the input."""
    if label_rngs is None:
        return
    for b, r in zip(batches, label_rngs, strict=True):
        b.target = r.integers(0, C, size=b.target.shape[0])


def train_run(config: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Train ``len(config["seeds"])`` members together; see the module docstring for what is recorded."""
    device = str(config.get("device", "cpu"))
    torch.set_num_threads(max(1, min(torch.get_num_threads(), int(config.get("threads", 2)))))
    seeds = [int(s) for s in config["seeds"]]
    if int(seed) != seeds[0]:
        raise ValueError(f"seed {seed} must be the first member seed {seeds[0]} (it keys the cache)")
    model, spec = build_model(config)
    model.to(device)
    optim_cfg = config["optim"]
    steps, batch = int(optim_cfg["steps"]), int(optim_cfg["batch"])
    opt = _optimizer(model, optim_cfg)
    forward = training_forward(model, config)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: lr_factor(optim_cfg, k))
    shuffled = config.get("labels", "true") == "shuffled"

    stages = Stages(spec, len(seeds), float(config["curriculum_threshold"]))
    train_rngs = [data_rng(s, "train") for s in seeds]
    comm_rngs = [data_rng(s, "commutator") for s in seeds]
    label_rngs = [data_rng(s, "labels") for s in seeds] if shuffled else None
    comm_label_rngs = [data_rng(s + 7_919, "labels") for s in seeds] if shuffled else None
    evals = eval_set(spec, int(config.get("eval_per_m", 256)))

    n_snap = int(config["n_snapshots"])
    snap_steps = np.unique(np.linspace(0, steps, n_snap).round().astype(int))
    n_comm = int(config.get("n_commutators", 0))
    comm_steps = np.unique(np.linspace(0, steps, n_comm).round().astype(int)) if n_comm else np.zeros(0, int)
    comm_lr = float(config.get("commutator_lr", 1e-3))
    names = list(model.params.keys())
    slices = {k.removeprefix("params."): v for k, v in param_slices(model).items()}
    tracked = model.matrix_names()

    snaps: dict[str, list[np.ndarray]] = {n: [] for n in names}
    acc, loss, ent, ent_m, comm_norm, comm_d = [], [], [], [], [], []
    stage_at: list[np.ndarray] = []
    comm_delta: dict[str, list[np.ndarray]] = {n: [] for n in tracked}
    comm_grad: dict[str, list[np.ndarray]] = {n: [] for n in tracked}
    train_loss = np.zeros((len(seeds), len(snap_steps)))
    running = torch.zeros(len(seeds))
    n_running = 0

    for step in range(steps + 1):
        if step in comm_steps:
            model.eval()
            ba = [sample(spec, r, batch, stages.m_values(e)) for e, r in enumerate(comm_rngs)]
            bb = [sample(spec, r, batch, stages.m_values(e)) for e, r in enumerate(comm_rngs)]
            _targets(ba, comm_label_rngs, spec.C)
            _targets(bb, comm_label_rngs, spec.C)
            res = sgd_commutator(model, ensemble_loss, _stack(ba, device), _stack(bb, device), comm_lr)
            E = len(seeds)
            delta_e = torch.cat([res.delta[slices[n]].reshape(E, -1) for n in names], dim=1)
            ga = torch.cat([res.grad_a[slices[n]].reshape(E, -1) for n in names], dim=1)
            gb = torch.cat([res.grad_b[slices[n]].reshape(E, -1) for n in names], dim=1)
            norm = delta_e.norm(dim=1)
            comm_norm.append(norm.cpu().numpy())
            comm_d.append((norm / ((comm_lr * ga).norm(dim=1) * (comm_lr * gb).norm(dim=1))).cpu().numpy())
            for n in tracked:
                comm_delta[n].append(res.delta[slices[n]].reshape(E, -1).float().cpu().numpy())
                comm_grad[n].append(res.grad_a[slices[n]].reshape(E, -1).float().cpu().numpy())
            model.train()
        if step in snap_steps:
            for n in names:
                snaps[n].append(model.params[n].detach().cpu().numpy().copy())
            a, lo, en, en_m = evaluate(model, evals, device)
            stages.update(
                step, a
            )  # a member that has learned its curriculum stage moves on from the next step
            stage_at.append(stages.stage.copy())
            acc.append(a)
            loss.append(lo)
            ent.append(en)
            ent_m.append(en_m)
            k = len(acc) - 1
            train_loss[:, k] = (running / max(n_running, 1)).numpy() if n_running else lo.mean(1)
            running.zero_()
            n_running = 0
        if step == steps:
            break
        batches = [sample(spec, r, batch, stages.m_values(e)) for e, r in enumerate(train_rngs)]
        _targets(batches, label_rngs, spec.C)
        x, y = _stack(batches, device)
        per_member = member_losses(forward(x), y)
        opt.zero_grad(set_to_none=True)
        per_member.sum().backward()
        opt.step()
        sched.step()
        running += per_member.detach().cpu()
        n_running += 1

    out: dict[str, Any] = {
        "seeds": np.asarray(seeds),
        "init_seeds": np.asarray([int(s) for s in config.get("init_seeds") or seeds]),
        "data_seed_streams": "numpy default_rng([seed, stream, 0x5EED]); torch Generator(init_seed) for weights",
        "snap_steps": snap_steps,
        "comm_steps": comm_steps,
        "m_values": np.asarray(spec.m_values),
        "acc": np.stack(acc, 1),  # [E, S, n_m]
        "eval_loss": np.stack(loss, 1),  # [E, S, n_m]
        "train_loss": train_loss,  # [E, S] mean training loss since the previous snapshot
        "entropy": np.stack(ent, 1),  # [E, S, L]
        "entropy_per_m": np.stack(ent_m, 1),  # [E, S, L, n_m]
        # Curriculum bookkeeping (all zeros / -1 under mixed training): the stage index each member trains at
        # after each snapshot [E, S], and the step at which it left each stage [E, n_m] (-1: never left).
        "stage_at_snap": np.stack(stage_at, 1),
        "stage_end_step": stages.ended.copy(),
        "matrices": list(tracked),
        "snap": {n: np.stack(v, 1) for n, v in snaps.items()},  # [E, S, *shape]
    }
    if config.get("sae"):
        out["sae"] = sae_analyses(config, out["snap"], snap_steps)
    if n_comm:
        out["comm_norm"] = np.stack(comm_norm, 1)
        out["comm_D"] = np.stack(comm_d, 1)
        out["comm_delta"] = {n: np.stack(v, 1) for n, v in comm_delta.items()}  # [E, K, numel]
        out["comm_grad"] = {n: np.stack(v, 1) for n, v in comm_grad.items()}
    return out


def sae_stage_indices(n_snapshots: int, fractions: list[float]) -> list[int]:
    return [round(f * (n_snapshots - 1)) for f in fractions]


def sae_analyses(
    config: Mapping[str, Any], snaps: Mapping[str, np.ndarray], snap_steps: np.ndarray
) -> dict[str, Any]:
    """SAE probes (sae.analyse) of every member at the configured training stages, for each SAE kind.

    A fresh model is loaded with the float32 snapshot weights of each stage, so the result depends only on the
    recorded snapshots (as if it were computed later from the cache).
    """
    sae_cfg = dict(config["sae"])
    spec = TaskSpec.from_config(dict(config["task"]))
    fit = sample(spec, data_rng(20_011, "sae"), int(sae_cfg["n_fit"]))
    test = sample(spec, data_rng(20_012, "sae"), int(sae_cfg["n_eval"]))
    stages = sae_stage_indices(len(snap_steps), list(sae_cfg["stage_fractions"]))
    out: dict[str, Any] = {"stage_steps": np.asarray(snap_steps)[stages]}
    for kind in sae_cfg["kinds"]:
        per_kind: dict[str, Any] = {}
        for j, stage in enumerate(stages):
            model, _ = build_model(config)
            model.load_member_states(
                [
                    {n: torch.as_tensor(snaps[n][e, stage]) for n in model.params}
                    for e in range(model.n_members)
                ]
            )
            model.eval()
            per_kind[f"stage{j}"] = S.analyse(
                model, fit, test, spec.vocab.marker, kind, sae_cfg, seed=31 + stage
            )
        out[kind] = per_kind
    return out
