"""Time Hessian-vector products and top-k eigenvalues: ours (ch06) against PyHessian.

Usage:
    python benchmarks/hessian.py                    # the ch06 net, 1,000 examples, top 20
    python benchmarks/hessian.py --top 5 --examples 256 --epochs 0

One model, one batch, one mode for everyone: the ch06 BN net (6 blocks, width 32, softplus,
trained ``--epochs`` epochs) in EVAL mode, because PyHessian calls ``model.eval()`` itself;
its Hessian is then the frozen-BN Hessian. The loss is the mean cross-entropy over the batch.

(a) one HVP for each variant: double backward rebuilding the gradient graph (ch06.1's
    ``hvp_double_backward``), double backward reusing one graph (create_graph once, then
    retain_graph), torch.func ``jvp(grad)`` (``hvp_functional``),
    ``torch.autograd.functional.hvp``, and PyHessian's ``hessian_vector_product``;
(b) the top ``--top`` eigenvalues by ``eigsh`` on the reused-graph HVP and by PyHessian's
    ``hessian(...).eigenvalues(top_n=...)`` (deflated power iteration, its defaults maxIter=100,
    tol=1e-3), with the relative differences of the eigenvalues.

PyHessian is a benchmark-only extra (``pip install pyhessian``); without it, part (b) runs a
faithful copy of its algorithm and says so. Writes benchmarks/results/hessian.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse.linalg import eigsh

from dlbn.data import load_mnist1d
from dlbn.hessian import (
    OutlierConfig,
    as_linear_operator,
    flatten,
    num_params,
    train_outlier_nets,
    unflatten,
)

ROOT = Path(__file__).resolve().parents[1]


def solutions() -> object:
    path = ROOT / "solutions" / "ch06_hessian" / "exercises.py"
    spec = importlib.util.spec_from_file_location("ch06_solution", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def reused_graph_hvp(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    """Double backward with one gradient graph built once and kept (retain_graph)."""
    params = list(model.parameters())
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), params, create_graph=True)

    def hvp(v: torch.Tensor) -> torch.Tensor:
        dot = sum((g * u).sum() for g, u in zip(grads, unflatten(v, params), strict=True))
        return flatten(torch.autograd.grad(dot, params, retain_graph=True))

    return hvp


def autograd_functional_hvp(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach() for p in model.parameters())

    def loss(*ps: torch.Tensor) -> torch.Tensor:
        out = torch.func.functional_call(model, dict(zip(names, ps, strict=True)), (x,))
        return F.cross_entropy(out, y)

    def hvp(v: torch.Tensor) -> torch.Tensor:
        vs = tuple(unflatten(v, list(params)))
        return flatten(torch.autograd.functional.hvp(loss, params, vs)[1])

    return hvp


def pyhessian_power_iteration(hvp, n: int, top_n: int, max_iter: int = 100, tol: float = 1e-3,
                              seed: int = 0) -> tuple[list[float], int]:
    """PyHessian's ``eigenvalues``: power iteration, deflated by Gram-Schmidt against the
    eigenvectors found so far, stopped when the Rayleigh quotient changes by < tol (relative)."""
    gen = torch.Generator().manual_seed(seed)
    vals, vecs, calls = [], [], 0
    while len(vals) < top_n:
        v = torch.randn(n, generator=gen)
        v /= v.norm()
        value = None
        for _ in range(max_iter):
            for u in vecs:
                v = v - (v @ u) * u
            v = v / v.norm()
            hv = hvp(v)
            calls += 1
            new = float(hv @ v)
            v = hv / hv.norm()
            if value is not None and abs(value - new) / (abs(value) + 1e-6) < tol:
                break
            value = new
        vals.append(value if value is not None else new)
        vecs.append(v)
    return vals, calls


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - tic)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--examples", type=int, default=1000)
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=4, help="training epochs before measuring")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    data = load_mnist1d("cpu")
    cfg = OutlierConfig(stop_epoch=max(args.epochs, 1))
    model = train_outlier_nets(cfg, data, args.seed)["batch"] if args.epochs else None
    if model is None:
        from dlbn.hessian import outlier_model

        model = outlier_model(cfg, "batch")
    model.eval()  # PyHessian's mode, for everyone
    x, y = data.x_train[: args.examples], data.y_train[: args.examples]
    n = num_params(model)
    sol = solutions()
    v = torch.randn(n, generator=torch.Generator().manual_seed(1))
    v /= v.norm()
    reused = reused_graph_hvp(model, x, y)
    variants = {
        "double backward, rebuilt graph": lambda u: sol.hvp_double_backward(model, [(x, y)], u),
        "double backward, reused graph": reused,
        "torch.func jvp(grad)": lambda u: sol.hvp_functional(model, [(x, y)], u),
        "torch.autograd.functional.hvp": autograd_functional_hvp(model, x, y),
    }
    try:
        from pyhessian import hessian
        from pyhessian.utils import hessian_vector_product

        ph = hessian(model, torch.nn.CrossEntropyLoss(), data=(x, y), cuda=False)
        variants["PyHessian hessian_vector_product"] = lambda u: flatten(hessian_vector_product(
            ph.gradsH, ph.params, unflatten(u, ph.params)))
        source = "PyHessian (installed)"
    except ImportError:
        ph, source = None, "PyHessian not installed: a faithful copy of its power iteration"

    reference = reused(v)
    report: dict[str, object] = {"params": n, "examples": args.examples, "top": args.top,
                                 "torch": torch.__version__, "threads": torch.get_num_threads(),
                                 "machine": platform.platform(), "pyhessian": source, "hvp_ms": {}}
    print(f"{n} parameters, {args.examples} examples, eval mode, {torch.get_num_threads()} "
          f"threads; {source}")
    for name, fn in variants.items():
        err = float((fn(v) - reference).norm() / reference.norm())
        ms = 1000 * timed(lambda fn=fn: fn(v), args.repeats)
        report["hvp_ms"][name] = round(ms, 1)
        print(f"  one HVP  {name:34s} {ms:8.1f} ms   rel. diff vs reused graph {err:.1e}")

    op = as_linear_operator(reused, n)
    tic = time.perf_counter()
    ours = eigsh(op, k=args.top, which="LA", tol=1e-4,
                 v0=np.random.default_rng(0).standard_normal(n))[0][::-1]
    t_ours, calls_ours = time.perf_counter() - tic, op.calls
    tic = time.perf_counter()
    if ph is not None:
        theirs, _ = ph.eigenvalues(top_n=args.top)
        calls_theirs = None
    else:
        theirs, calls_theirs = pyhessian_power_iteration(reused, n, args.top)
    t_theirs = time.perf_counter() - tic
    theirs = np.array(sorted(theirs, reverse=True))
    rel = np.abs(theirs - ours) / np.abs(ours)
    print(f"  top-{args.top} eigsh            {t_ours:8.1f} s  ({calls_ours} HVPs)")
    print(f"  top-{args.top} power iteration  {t_theirs:8.1f} s  "
          f"({calls_theirs if calls_theirs else 'HVP count not exposed by PyHessian'})")
    print(f"  speed-up {t_theirs / t_ours:.1f}x; eigenvalue relative differences: max "
          f"{rel.max():.2e}, median {np.median(rel):.2e}, top-1 {rel[0]:.2e}")
    print("  ours  ", np.round(ours, 4).tolist())
    print("  theirs", np.round(theirs, 4).tolist())
    report.update(eigsh_s=round(t_ours, 2), eigsh_hvps=calls_ours, power_s=round(t_theirs, 2),
                  speedup=round(t_theirs / t_ours, 2), eig_ours=ours.tolist(),
                  eig_theirs=theirs.tolist(), rel_diff=rel.tolist())
    out = ROOT / "benchmarks" / "results" / "hessian.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
