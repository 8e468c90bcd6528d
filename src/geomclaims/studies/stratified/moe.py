"""The dictionary-learning mixture of experts of paper S (Sec. 4, eqs. 6-10), and the released code's variant.

Text method (default, ``variant="text"``):

* ``E`` experts; expert ``e`` owns a dictionary ``D^(e)`` (``L x M``, unit-norm atoms) and a LISTA encoder
  (Gregor & LeCun 2010): ``n_iter`` unrolled steps ``x <- soft(W z + S x, theta)`` with learnable ``W``, ``S`` and
  ``theta``. The last step's pre-activation is hard-thresholded to its ``s_e`` largest-magnitude entries (eq. 7),
  with a straight-through gradient (Bengio et al. 2013): the backward pass treats the selection as the identity.
* Attention gate (eqs. 8-10): ``q = W_q z``; learnable keys ``k_e``; ``w = softmax(q k^T / sqrt(Q))``.
* Output ``y = sum_e w_e D^(e) gamma^(e)`` (eq. 5); trained end to end, unsupervised, on reconstruction.
* Objective: reconstruction only, as the paper states it (``balance_weight`` 0 in the main recipe). The named
  variant ``text-balanced`` adds the load-balancing term ``KL(mean_batch(w) || uniform)`` with weight
  ``profiles.BALANCED_WEIGHT``; it was added against a feared drift of the soft gate to the densest expert (s = M
  reconstructs best). It constrains only the *average* usage, not each row's entropy. Measured (ci, MiniLM, seed 0):
  without it the gate does not collapse (largest arg-max share 0.22, mean normalised entropy 0.9936 vs 0.9939
  with it), so the near-uniform gate is not produced by the term; the study reports the arg-max share
  (``gate_top_share``) so a collapse would show.

Released-code variant (``variant="released-code"``), as CLAIMS.md describes the released repository: input is the
PCA-64 projection, the gate makes a hard arg-max choice that receives no gradient, the dictionaries get no gradient
(no reconstruction term), and the only loss is a supervised contrastive loss on the mixed per-source labels. So only
the LISTA encoders move; the gate and the dictionaries stay at their initial values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

VARIANTS = ("text", "released-code")


def top_s_straight_through(c: torch.Tensor, s: torch.Tensor | int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the ``s`` largest-magnitude entries of each row of ``c``; the gradient passes as the identity.

    ``c`` is ``(..., B, M)``; ``s`` is an int or a tensor of shape ``(...)`` (one sparsity per leading index, e.g.
    per expert). Returns ``(gamma, mask)``. Forward: ``gamma = c * mask`` with exactly ``s`` ones per mask row (the ``s``
    largest magnitudes). Backward: the classic straight-through estimator, d gamma / d c = I on
    every entry, so atoms that are not selected now can still learn to be selected (a masked gradient would leave
    them dead).
    """
    s_t = torch.as_tensor(s, device=c.device)
    if bool((s_t < 1).any()) or bool((s_t > c.shape[-1]).any()):
        raise ValueError(f"sparsity {s_t.tolist()} outside [1, {c.shape[-1]}]")
    # One sort gives each row's s-th largest magnitude; keep entries at or above it (ties have probability 0 for
    # continuous pre-activations; the property tests check the count).
    mag = c.detach().abs()
    idx = (s_t - 1).reshape(*s_t.shape, 1, 1).expand(*mag.shape[:-1], 1)
    kth = mag.sort(dim=-1, descending=True).values.gather(-1, idx)
    mask = (mag >= kth).to(c.dtype)
    hard = c * mask
    return c + (hard - c).detach(), mask


class LISTAExperts(nn.Module):
    """All E dictionary experts at once (batched over experts; each has its own W, S, theta and dictionary).

    Expert ``e``: LISTA encoder + dictionary ``D^(e)`` (``L x M``) + hard top-``s_e`` sparsity.
    """

    def __init__(self, dim: int, n_atoms: int, sparsities: Sequence[int], n_iter: int) -> None:
        super().__init__()
        if n_iter < 1:
            raise ValueError("LISTA needs at least one step")
        n_exp = len(sparsities)
        if any(not 1 <= s <= n_atoms for s in sparsities):
            raise ValueError(f"sparsities {list(sparsities)} must lie in [1, {n_atoms}]")
        self.n_iter = int(n_iter)
        self.register_buffer("sparsity", torch.as_tensor([int(s) for s in sparsities]))
        d = F.normalize(torch.randn(n_exp, dim, n_atoms), dim=1)
        self.dictionary = nn.Parameter(d)
        # LISTA initialisation from ISTA on the initial dictionary: W = D^T / Lip, S = I - D^T D / Lip.
        gram = d.transpose(1, 2) @ d
        lip = torch.linalg.eigvalsh(gram).amax(-1)[:, None, None]
        self.W = nn.Parameter(d.transpose(1, 2) / lip)  # (E, M, L)
        self.S = nn.Parameter(torch.eye(n_atoms).expand(n_exp, -1, -1) - gram / lip)  # (E, M, M)
        self.theta = nn.Parameter(torch.full((n_exp, 1, n_atoms), 0.01))

    def atoms(self) -> torch.Tensor:
        """(E, L, M) unit-norm atoms; the normalisation removes the scale ambiguity between D and gamma."""
        return F.normalize(self.dictionary, dim=1)

    def preactivation(self, z: torch.Tensor) -> torch.Tensor:
        """(E, B, M) input of the final hard-threshold step after ``n_iter - 1`` soft-threshold LISTA steps."""
        n_exp, n_atoms, dim = self.W.shape
        # One (B, L) x (L, E*M) product instead of E small ones: the experts share the input.
        b = (z @ self.W.reshape(n_exp * n_atoms, dim).T).reshape(-1, n_exp, n_atoms).transpose(0, 1)
        x = torch.zeros_like(b)
        thr = F.relu(self.theta)
        for _ in range(self.n_iter - 1):
            pre = b + x @ self.S.transpose(1, 2)
            x = torch.sign(pre) * F.relu(pre.abs() - thr)
        return b + x @ self.S.transpose(1, 2)

    def encode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(E, B, M) sparse codes with exactly ``s_e`` non-zeros per row, and their support masks.

        The last LISTA step uses the hard top-s selection instead of the soft threshold, so the support has exactly
        s entries (eq. 7); a soft threshold could leave fewer than s non-zeros.
        """
        return top_s_straight_through(self.preactivation(z), self.sparsity)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """(E, B, L) per-expert reconstructions D^(e) gamma^(e)."""
        return codes @ self.atoms().transpose(1, 2)

    def mix(self, codes: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """(B, L) gate-weighted sum of the experts' reconstructions, sum_e w_e D^(e) gamma^(e) (eq. 5)."""
        n_exp, dim, n_atoms = self.dictionary.shape
        weighted = (codes * w.T[:, :, None]).transpose(0, 1).reshape(-1, n_exp * n_atoms)
        return weighted @ self.atoms().transpose(0, 1).reshape(dim, n_exp * n_atoms).T


class AttentionGate(nn.Module):
    """Soft dictionary lookup (eqs. 8-10): softmax over experts of q.k_e / sqrt(Q)."""

    def __init__(self, dim: int, n_experts: int, query_dim: int) -> None:
        super().__init__()
        self.query_dim = int(query_dim)
        self.query = nn.Linear(dim, query_dim, bias=False)
        # Unit-variance keys (as attention embeddings usually start); 1/sqrt(Q) lives in the score (eq. 10).
        self.keys = nn.Parameter(torch.randn(n_experts, query_dim))

    def scores(self, z: torch.Tensor) -> torch.Tensor:
        return self.query(z) @ self.keys.T / math.sqrt(self.query_dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.scores(z), dim=-1)


@dataclass
class MoEOutput:
    recon: torch.Tensor  # (B, L)
    gate: torch.Tensor  # (B, E) weights actually used in the mixture (one-hot for the hard gate)
    gate_soft: torch.Tensor  # (B, E) softmax of the gate scores
    codes: torch.Tensor  # (E, B, M)
    masks: torch.Tensor  # (E, B, M)


class DictionaryMoE(nn.Module):
    """Mixture of LISTA dictionary experts with an attention gate. ``hard_gate``: arg-max choice, no gradient."""

    def __init__(
        self,
        dim: int,
        n_atoms: int,
        sparsities: Sequence[int],
        query_dim: int,
        n_iter: int,
        hard_gate: bool = False,
    ) -> None:
        super().__init__()
        self.sparsities = [int(s) for s in sparsities]
        self.hard_gate = hard_gate
        self.experts = LISTAExperts(dim, n_atoms, self.sparsities, n_iter)
        self.gate = AttentionGate(dim, len(self.sparsities), query_dim)

    def forward(self, z: torch.Tensor) -> MoEOutput:
        soft = self.gate(z)
        if self.hard_gate:
            w = F.one_hot(soft.argmax(-1), soft.shape[-1]).to(z.dtype).detach()
        else:
            w = soft
        codes, masks = self.experts.encode(z)
        recon = self.experts.mix(codes, w)
        return MoEOutput(recon=recon, gate=w, gate_soft=soft, codes=codes, masks=masks)


def build_moe(dim: int, cfg: Mapping[str, Any]) -> DictionaryMoE:
    released = cfg["variant"] == "released-code"
    model = DictionaryMoE(
        dim,
        n_atoms=cfg["n_atoms"],
        sparsities=cfg["sparsities"],
        query_dim=cfg["query_dim"],
        n_iter=cfg["lista_iters"],
        hard_gate=released,
    )
    if released:
        # Released code: neither the gate nor the dictionaries ever receive a gradient.
        for p in model.gate.parameters():
            p.requires_grad_(False)
        model.experts.dictionary.requires_grad_(False)
    return model


def balance_loss(gate: torch.Tensor) -> torch.Tensor:
    """KL(mean gate usage || uniform) over a batch: 0 iff experts are used equally on average."""
    usage = gate.mean(0).clamp_min(1e-12)
    return (usage * (usage * gate.shape[1]).log()).sum()


def supcon_loss(feats: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020) over a batch; anchors without a positive are skipped."""
    f = F.normalize(feats, dim=-1)
    sim = f @ f.T / temperature
    n = f.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=f.device)
    sim = sim.masked_fill(eye, -1e9)
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (labels[:, None] == labels[None, :]) & ~eye
    n_pos = pos.sum(1)
    keep = n_pos > 0
    if not bool(keep.any()):
        return sim.sum() * 0.0
    mean_log_pos = (log_prob * pos).sum(1)[keep] / n_pos[keep]
    return -mean_log_pos.mean()


def train_moe(
    X: np.ndarray,
    cfg: Mapping[str, Any],
    torch_seed: int,
    device: str = "cpu",
    labels: np.ndarray | None = None,
) -> tuple[DictionaryMoE, dict[str, np.ndarray]]:
    """Train the MoE on rows of ``X`` (already standardised) and return it with its loss history.

    Text variant: loss = ||y - z||^2 / mean ||z||^2 (+ balance_weight * KL(usage || uniform) when the weight is
    non-zero, the ``text-balanced`` variant).
    Released-code variant: loss = supervised contrastive on the mixture output with ``labels``.
    Batches are drawn with a torch generator seeded by ``torch_seed`` (the data RNG is separate, in the caller).
    """
    torch.manual_seed(torch_seed)
    gen = torch.Generator().manual_seed(torch_seed)
    z_all = torch.as_tensor(X, dtype=torch.float32)
    model = build_moe(z_all.shape[1], cfg).to(device)
    released = cfg["variant"] == "released-code"
    if released and labels is None:
        raise ValueError("the released-code variant trains on labels (supervised contrastive loss)")
    y_all = None if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.long)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg["lr"])
    scale = float((z_all**2).sum(1).mean())
    n, bs = z_all.shape[0], int(cfg["batch_size"])
    hist_loss, hist_recon = [], []
    for _ in range(int(cfg["epochs"])):
        perm = torch.randperm(n, generator=gen)
        tot = rec = 0.0
        for start in range(0, n, bs):
            idx = perm[start : start + bs]
            z = z_all[idx].to(device)
            out = model(z)
            recon = ((out.recon - z) ** 2).sum(1).mean() / scale
            if released:
                loss = supcon_loss(out.recon, y_all[idx].to(device), cfg["temperature"])  # type: ignore[index]
            else:
                loss = recon
                if cfg["balance_weight"]:
                    loss = loss + cfg["balance_weight"] * balance_loss(out.gate)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(idx)
            rec += float(recon.detach()) * len(idx)
        hist_loss.append(tot / n)
        hist_recon.append(rec / n)
    model.eval()
    return model, {"loss": np.asarray(hist_loss), "recon": np.asarray(hist_recon)}


@torch.no_grad()
def gate_probs(model: DictionaryMoE, X: np.ndarray, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """(weights used in the mixture, softmax gate) for every row of ``X``."""
    out = model(torch.as_tensor(X, dtype=torch.float32, device=device))
    return out.gate.cpu().numpy().astype(np.float64), out.gate_soft.cpu().numpy().astype(np.float64)


@torch.no_grad()
def code_support_sizes(model: DictionaryMoE, X: np.ndarray, device: str = "cpu") -> np.ndarray:
    """(n, E) number of non-zero entries of each expert's code for every row of ``X``."""
    out = model(torch.as_tensor(X, dtype=torch.float32, device=device))
    return (out.codes != 0).sum(-1).T.cpu().numpy()


def ste_identity_error(model: DictionaryMoE, X: np.ndarray, device: str = "cpu", seed: int = 0) -> float:
    """Max |d<g, gamma>/dc - g| over the selected entries for a random upstream gradient g (0 = identity).

    Checks the straight-through estimator on the trained model: re-runs every expert's final top-s selection on its
    pre-activation ``c`` with ``c.requires_grad`` and compares the gradient to the upstream vector.
    """
    z = torch.as_tensor(X, dtype=torch.float32, device=device)
    with torch.no_grad():
        c0 = model.experts.preactivation(z)
    c = c0.clone().requires_grad_(True)
    gamma, mask = top_s_straight_through(c, model.experts.sparsity)
    g = torch.randn(gamma.shape, generator=torch.Generator().manual_seed(seed)).to(device)
    (grad,) = torch.autograd.grad((gamma * g).sum(), c)
    sel = mask.bool()
    return float((grad[sel] - g[sel]).abs().max())


@torch.no_grad()
def dictionary_distances(model: DictionaryMoE) -> np.ndarray:
    """(E, E) subspace distance between experts' dictionary spans: 1 - mean squared cosine of principal angles."""
    q, _ = torch.linalg.qr(model.experts.atoms().cpu().double())
    cos = torch.linalg.svdvals(q[:, None].transpose(-1, -2) @ q[None]).clamp(0, 1)
    return (1.0 - (cos**2).mean(-1)).numpy()
