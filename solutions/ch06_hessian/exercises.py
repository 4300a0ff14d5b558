"""Chapter 6: Hessian outliers, and what batch norm does to them.

Fill in the five tasks, then grade them:

    dlbn grade ch06            # all tasks
    dlbn grade ch06 --task 2   # only ch06.2

Vectors: the model's parameters, in ``model.parameters()`` order, flattened and concatenated,
form a vector of length P; every Hessian-vector product (HVP) maps a (P,) tensor to a (P,)
tensor of the same dtype and device. ``batches`` is a list of (x (B, 1, 40), y (B,)) pairs;
the loss is the MEAN over batches of each batch's MEAN cross-entropy, computed in the model's
current mode (train mode: batch norm normalizes with each batch's statistics). The helpers
``flatten``, ``unflatten``, ``frozen_running_stats`` and ``as_linear_operator`` come from
``dlbn.hessian``. Papers: Page, "How to train your ResNet 7" (2019); Ghorbani et al. (2019).
"""

from __future__ import annotations

import copy  # noqa: F401 - the tasks use these (the starter does not yet)
from collections.abc import Callable, Sequence

import numpy as np  # noqa: F401
import torch
import torch.nn.functional as F  # noqa: F401
from scipy.sparse.linalg import eigsh  # noqa: F401
from torch import Tensor, nn
from torch.func import functional_call, grad, jvp  # noqa: F401
from torch.nn.modules.batchnorm import _BatchNorm  # noqa: F401

from dlbn.hessian import (  # noqa: F401
    OutlierConfig,
    as_linear_operator,
    fixed_batches,
    flatten,
    frozen_running_stats,
    num_params,
    train_outlier_nets,
    unflatten,
)
from dlbn.progress import track

Batches = Sequence[tuple[Tensor, Tensor]]
HVP = Callable[[Tensor], Tensor]  # (P,) -> (P,)


# Task ch06.1 - Hessian-vector products, two ways
# Hint 1: Pearlmutter's trick: H v is the gradient of the scalar g(w) . v, so the first gradient
#         has to stay differentiable. A train-mode batch-norm forward also updates the running
#         statistics, which the contract forbids.
# Hint 2: Double backward: per batch, take the gradient of the MEAN cross-entropy with a graph, dot
#         it with v split per parameter, differentiate that scalar w.r.t. the parameters, flatten
#         and average over the batches; use autograd.grad (never .backward(), which leaves .grad
#         behind), keep the model's own mode and wrap the passes in frozen_running_stats(model).
#         torch.func: f(w) is the batch loss through functional_call with w a dict of detached
#         parameters, and you take jvp of grad(f) with v unflattened under the same names as the
#         tangents (forward-over-reverse; grad of jvp is wrong on BN nets).
# Hint 3: H_b v = d/dw sum_p <g_p, v_p>, where g is the gradient of the batch loss taken with
#         create_graph=True and v_p comes from unflatten(v, params); sum the flattened second
#         gradients over the batches and divide by their number. Functional: per batch, the second
#         output of jvp(w -> grad(batch_loss)(w, x, y), (params,), (tangents,)), flattened in
#         named_parameters order.
def hvp_double_backward(model: nn.Module, batches: Batches, v: Tensor) -> Tensor:
    """H v by double backward (Pearlmutter 1994): differentiate g(w) . v once more.

    For each batch: loss = mean cross-entropy; g = dloss/dw with a graph (create_graph);
    H_b v = d(g . v)/dw. Return the mean of H_b v over the batches, flat (P,).

    Contract: the model's mode, parameters and BUFFERS are unchanged afterwards (train-mode
    batch norm would update its running statistics on every forward pass: wrap the passes
    in ``frozen_running_stats(model)``), and nothing is left in any ``p.grad``.
    """
    # BEGIN SOLUTION ch06.1
    # HINT: autograd.grad(loss, params, create_graph=True), then the grad of sum(g * v).
    params = list(model.parameters())
    vs = unflatten(v, params)
    out = torch.zeros_like(v)  # (P,)
    with frozen_running_stats(model):
        for x, y in batches:
            loss = F.cross_entropy(model(x), y)
            grads = torch.autograd.grad(loss, params, create_graph=True)
            dot = sum((g * u).sum() for g, u in zip(grads, vs, strict=True))
            out += flatten(torch.autograd.grad(dot, params))
    return out / len(batches)
    # END SOLUTION


def hvp_functional(model: nn.Module, batches: Batches, v: Tensor) -> Tensor:
    """The same H v with torch.func: forward-over-reverse, ``jvp(grad(f), (w,), (v,))``.

    f(w) = the batch loss of ``functional_call(model, w, (x,))`` with w a dict name ->
    tensor. Forward-over-reverse is the documented HVP; reverse-over-forward, grad of
    jvp, returns WRONG numbers on batch-norm nets (relative error ~0.3 here), and in-place
    running-stat updates make torch.func raise, so keep ``frozen_running_stats(model)``.
    Same contract and result as ``hvp_double_backward``.
    """
    # BEGIN SOLUTION ch06.1
    # HINT: params = {name: p.detach()}; tangents: the same names, from unflatten(v, ...).
    names = [name for name, _ in model.named_parameters()]
    params = {name: p.detach() for name, p in model.named_parameters()}
    tangents = dict(zip(names, unflatten(v, list(params.values())), strict=True))
    out = torch.zeros_like(v)  # (P,)

    def batch_loss(w: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(functional_call(model, w, (x,)), y)

    with frozen_running_stats(model):
        for x, y in batches:
            _, hv = jvp(lambda w, x=x, y=y: grad(batch_loss)(w, x, y), (params,), (tangents,))
            out += flatten([hv[name] for name in names])
    return out / len(batches)
    # END SOLUTION


# Task ch06.2 - top-k eigenpairs by Lanczos (scipy eigsh)
# Hint 1: eigsh only needs something that multiplies by a vector. Which of its `which` options
#         gives the largest ALGEBRAIC eigenvalues (a Hessian has negative ones too), and in which
#         order does it return them?
# Hint 2: Wrap the HVP with as_linear_operator, draw a fixed start vector from a seeded numpy
#         generator, and ask eigsh for the k largest-algebraic eigenpairs with the given tol.
#         Reverse to descending order and convert to float64 torch tensors; "LM" (largest
#         magnitude) would pick large negative eigenvalues, "SA" the smallest.
# Hint 3: op = as_linear_operator(hvp, n, dtype=dtype, device=device); v0 =
#         np.random.default_rng(seed).standard_normal(n); eigsh on op with k, which 'LA', tol and
#         v0; order = the argsort of the values, reversed; return torch.from_numpy of the reordered
#         values and of the reordered columns (copies, so that the strides are positive).
def top_eigenpairs(
    hvp: HVP, n: int, k: int, *, dtype: torch.dtype = torch.float32, device: str = "cpu",
    tol: float = 1e-4, seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """The k largest (algebraic) eigenvalues of the symmetric n x n operator ``hvp``.

    Wrap ``hvp`` in ``as_linear_operator(hvp, n, dtype=dtype, device=device)`` and call
    ``scipy.sparse.linalg.eigsh`` (implicitly restarted Lanczos) for the LARGEST ALGEBRAIC
    eigenvalues, with ``tol`` and a fixed start vector ``v0`` drawn from
    ``np.random.default_rng(seed)`` (reproducible). Sort descending.

    Returns (eigenvalues (k,) float64, eigenvectors (n, k) float64, unit columns).
    """
    # BEGIN SOLUTION ch06.2
    # HINT: which="LA" (largest algebraic), not "SA" or "LM"; eigsh sorts ascending.
    op = as_linear_operator(hvp, n, dtype=dtype, device=device)
    v0 = np.random.default_rng(seed).standard_normal(n)
    vals, vecs = eigsh(op, k=k, which="LA", tol=tol, v0=v0)
    order = np.argsort(vals)[::-1]
    return torch.from_numpy(vals[order].copy()), torch.from_numpy(vecs[:, order].copy())
    # END SOLUTION


# Task ch06.3 - gradients of the output moments
# Hint 1: Each requested statistic is one scalar function of the weights, so each gets its own
#         gradient column: compute the statistics first (averaged over the batches), then
#         differentiate them one at a time. The running statistics must stay untouched.
# Hint 2: Under frozen_running_stats, forward each batch once in the model's own mode; per class,
#         compute over the batch axis the mean, the biased variance and (for moments = 3) the skew,
#         concatenate means, then variances, then skews, and average these vectors over the
#         batches. Then take autograd.grad of each entry w.r.t. all parameters, with retain_graph
#         since the graph is reused, flatten, and stack the results as columns.
# Hint 3: For logits z (B, C): mean_c = mean_b z[b, c], var_c = mean_b (z[b, c] - mean_c)^2, skew_c
#         = mean_b (z[b, c] - mean_c)^3 / var_c^(3/2). Column j = flatten of
#         torch.autograd.grad(target[j], params, retain_graph=True), with target the batch-averaged
#         vector of C * moments numbers; stack the columns along dim 1 to (P, C * moments).
def output_moment_grads(model: nn.Module, batches: Batches, moments: int = 1) -> Tensor:
    """Gradients, w.r.t. all parameters, of per-class statistics of the logits z (B, C).

    Per batch and class c: mean_c = mean_b z[b, c]; var_c = mean_b (z[b, c] - mean_c)^2;
    skew_c = mean_b (z[b, c] - mean_c)^3 / var_c^1.5. Average each statistic over the
    batches (model in its current mode, running statistics untouched), then take the
    gradient of each of the C (means), 2C (+ variances) or 3C (+ skews) numbers.
    These are Page's directions: moving along them shifts the outputs of every example.

    Returns (P, C * moments): columns the mean gradients for classes 0..C-1, then (if
    moments >= 2) the variance gradients, then (if moments == 3) the skew gradients.
    """
    # BEGIN SOLUTION ch06.3
    # HINT: one forward per batch; autograd.grad(stat[j], params, retain_graph=True).
    params = list(model.parameters())
    with frozen_running_stats(model):
        per_batch = []
        for x, _ in batches:
            z = model(x)  # (B, C)
            mean = z.mean(dim=0)  # (C,)
            stats = [mean]
            var = ((z - mean) ** 2).mean(dim=0)  # (C,)
            if moments >= 2:
                stats.append(var)
            if moments >= 3:
                stats.append(((z - mean) ** 3).mean(dim=0) / var**1.5)
            per_batch.append(torch.cat(stats))
        target = torch.stack(per_batch).mean(dim=0)  # (C * moments,)
        cols = [flatten(torch.autograd.grad(t, params, retain_graph=True)) for t in target]
    return torch.stack(cols, dim=1)  # (P, C * moments)
    # END SOLUTION


# Task ch06.4 - overlap with a subspace, and the Hessian without it
# Hint 1: The basis columns are neither unit length nor orthogonal, so projecting onto each column
#         separately double-counts correlated directions. A projected operator must also project on
#         both sides to stay symmetric.
# Hint 2: Orthonormalize the basis with a reduced QR (in the vectors' dtype); the overlap of u is
#         then the squared norm of its coordinates Q^T u divided by its own squared norm. For the
#         projected eigenvalue, build Q the same way on the requested device and dtype, let P v = v
#         - Q (Q^T v), and hand v -> P(H(P v)) to your top_eigenpairs with k = 1.
# Hint 3: Q from torch.linalg.qr of the basis (converted first); overlap_i = sum over rows of (Q^T
#         u_i)^2 / sum of u_i^2, one value per column, shape (k,). Projected: top_eigenpairs of v
#         -> P(hvp(P(v))) with n = the basis's row count, k = 1 and the given dtype, device and
#         tol; return the float of its first eigenvalue.
def subspace_overlap(vectors: Tensor, basis: Tensor) -> Tensor:
    """Norm-squared overlap of each column of ``vectors`` (n, k) with span(``basis`` (n, m)).

    overlap_i = ||Q^T u_i||^2 / ||u_i||^2 with Q (n, m) an ORTHONORMAL basis of the span
    (reduced QR of ``basis``): 1 if u_i lies in the span, 0 if orthogonal, and m / n on
    average for a random direction. Returns (k,) in the dtype of ``vectors``.
    """
    # BEGIN SOLUTION ch06.4
    # HINT: q, _ = torch.linalg.qr(basis): its columns are neither unit nor orthogonal.
    q, _ = torch.linalg.qr(basis.to(vectors.dtype))
    coeffs = q.T @ vectors  # (m, k)
    return (coeffs**2).sum(dim=0) / (vectors**2).sum(dim=0)
    # END SOLUTION


def projected_top_eigenvalue(
    hvp: HVP, basis: Tensor, *, dtype: torch.dtype = torch.float32, device: str = "cpu",
    tol: float = 1e-4,
) -> float:
    """Top eigenvalue of (I - QQ^T) H (I - QQ^T), the Hessian with span(basis) projected out.

    Q (n, m) orthonormalizes ``basis`` as in ``subspace_overlap``; call your
    ``top_eigenpairs`` with k=1 on the projected product. Page: BN 128 -> 115, frozen
    2246 -> 407, no BN 3486 -> 1324 with the 29-dim mean/variance/skew span removed.
    """
    # BEGIN SOLUTION ch06.4
    # HINT: project before AND after the HVP: p(v) = v - Q (Q^T v).
    q, _ = torch.linalg.qr(basis.to(device=device, dtype=dtype))

    def project(v: Tensor) -> Tensor:
        return v - q @ (q.T @ v)

    vals, _ = top_eigenpairs(lambda v: project(hvp(project(v))), basis.shape[0], 1,
                             dtype=dtype, device=device, tol=tol)
    return float(vals[0])
    # END SOLUTION


# Task ch06.5 - frozen batch norm: refresh the statistics, then fix them
# Hint 1: The copy must be independent of the model, and its batch norms should end up normalizing
#         with statistics measured afresh on the given batches, every batch weighted equally, and
#         fixed from then on.
# Hint 2: Deep-copy the model; for every batch-norm layer of the copy (any _BatchNorm subclass)
#         reset the running statistics and set momentum to None, which makes the running averages a
#         cumulative mean; run all batches through the copy in train mode under no_grad. Then put
#         back each saved momentum and switch the copy to eval mode; the original's parameters,
#         buffers and mode stay as they were.
# Hint 3: Copy with copy.deepcopy; collect the copy's modules that are _BatchNorm instances, save
#         their momentum, call reset_running_stats() and set momentum to None on each; put the copy
#         in train mode and forward every x under torch.no_grad(); restore the momenta; return the
#         copy after .eval().
def freeze_bn(model: nn.Module, batches: Batches) -> nn.Module:
    """A COPY of ``model`` whose batch norms normalize with fixed, freshly measured statistics.

    1. deep-copy the model; 2. reset every batch norm's running statistics and set its
    momentum to None (a cumulative average); 3. run every batch through the copy in train
    mode without gradients; 4. restore each momentum and put the copy in EVAL mode, so
    that its batch norms use these statistics from then on. The Hessian of the copy is the
    "frozen BN" Hessian of Page's experiment. ``model`` itself is not modified.
    """
    # BEGIN SOLUTION ch06.5
    # HINT: copy.deepcopy, bn.reset_running_stats(), bn.momentum = None; end with .eval().
    frozen = copy.deepcopy(model)
    layers = [m for m in frozen.modules() if isinstance(m, _BatchNorm)]
    saved = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None
    frozen.train()
    with torch.no_grad():
        for x, _ in batches:
            frozen(x)
    for m, momentum in zip(layers, saved, strict=True):
        m.momentum = momentum
    frozen.eval()
    return frozen
    # END SOLUTION


# The experiment (provided): uses all five tasks.
def hessian_outliers(
    cfg: OutlierConfig, seed: int = 0, *, data=None, device: str = "cpu",
    progress: bool | None = False,
) -> dict[str, dict[str, object]]:
    """Page's experiment on three nets: BN (train mode), frozen BN (eval mode), no BN.

    For each net: the top-k eigenpairs of the Hessian of the loss on a fixed subset, the
    overlaps of those eigenvectors with the span of the output-mean gradients (C dims) and
    of the mean/variance/skew gradients (3C dims), and the top eigenvalue with the mean span
    projected out. ``progress``: draw progress bars (training epochs, then nets).
    """
    if data is None:
        from dlbn.data import load_mnist1d

        data = load_mnist1d(device)
    nets = train_outlier_nets(cfg, data, seed, device=device, progress=progress)
    batches = fixed_batches(data.x_train, data.y_train, cfg.hessian_examples,
                            cfg.hessian_batch_size, seed=seed)
    nets = {"batch": nets["batch"], "frozen": freeze_bn(nets["batch"], batches),
            "none": nets["none"]}
    out: dict[str, dict[str, object]] = {}
    for name, net in track(nets.items(), "Hessian of 3 nets", total=3, enabled=progress):
        n = num_params(net)

        def hvp(v: Tensor, net: nn.Module = net) -> Tensor:
            return hvp_double_backward(net, batches, v)

        vals, vecs = top_eigenpairs(hvp, n, cfg.k, device=device, tol=cfg.tol, seed=seed)
        means = output_moment_grads(net, batches, 1).cpu().double()
        all3 = output_moment_grads(net, batches, 3).cpu().double()
        out[name] = {
            "eigenvalues": vals,
            "overlap_mean": subspace_overlap(vecs, means),
            "overlap_moments": subspace_overlap(vecs, all3),
            "projected_top": projected_top_eigenvalue(hvp, means, device=device, tol=cfg.tol),
            "num_params": n,
            "net": net,
            "batches": batches,
            "mean_grads": means,
        }
    return out
