"""Time Hessian-vector products and top-k eigenvalues: ours (ch06) against PyHessian.

Usage:
    python benchmarks/hessian.py                    # the ch06 net, 1,000 examples, top 20, 10
    python benchmarks/hessian.py --top 5 --examples 256 --epochs 0

One model, one batch, one mode for everyone: the ch06 BN net (6 blocks, width 32, softplus,
trained ``--epochs`` epochs) in EVAL mode, because PyHessian calls ``model.eval()`` itself;
its Hessian is then the frozen-BN Hessian. The loss is the mean cross-entropy over the batch.

(a) one HVP for each variant: double backward rebuilding the gradient graph (ch06.1's
    ``hvp_double_backward``), double backward reusing one graph (create_graph once, then
    retain_graph), torch.func ``jvp(grad)`` (``hvp_functional``),
    ``torch.autograd.functional.hvp``, and PyHessian's ``hessian_vector_product``;
(b) the top ``--top`` eigenvalues by ``eigsh`` on the reused-graph HVP and by PyHessian's
    ``hessian(...).eigenvalues(top_n=...)`` (deflated power iteration), with the relative
    differences of the eigenvalues. Power iteration converges to the eigenvalues of LARGEST
    MAGNITUDE, which include negative ones once the top n reach the bulk, so like is compared
    with like: ``eigsh(which="LM")``. ``which="LA"`` (the chapter's top algebraic) is timed
    too. PyHessian runs at its defaults (maxIter=100, tol=1e-3), then with tighter settings
    until every eigenvalue matches ours to a relative difference below ``--match``; the
    speed-up "at matching eigenvalues" is against the first setting that matches.

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
# PyHessian's (maxIter, tol): its defaults first, then tighter until the eigenvalues match.
SETTINGS = ((100, 1e-3), (300, 1e-4), (1000, 1e-5))


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
        # d(g . v)/dw as a vector-Jacobian product of g with cotangent v (= H v, H symmetric):
        # no dot-product nodes are added to the kept graph on each call.
        vs = unflatten(v, params)
        return flatten(torch.autograd.grad(grads, params, grad_outputs=vs, retain_graph=True))

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
                              seed: int = 0, device: str = "cpu") -> tuple[list[float], int]:
    """PyHessian's ``eigenvalues``: power iteration, deflated by Gram-Schmidt against the
    eigenvectors found so far, stopped when the Rayleigh quotient changes by < tol (relative)."""
    gen = torch.Generator().manual_seed(seed)
    vals, vecs, calls = [], [], 0
    while len(vals) < top_n:
        v = torch.randn(n, generator=gen).to(device)
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


def matched_prefix(theirs: np.ndarray, ours: np.ndarray, match: float) -> int:
    """How many leading eigenvalues (both sorted descending) agree to ``match`` relative."""
    ok = np.abs(theirs - ours) / np.abs(ours) < match
    return int(ok.argmin()) if not ok.all() else len(ok)


def top_eigenvalues(reused, ph, n: int, top: int, match: float,
                    device: str = "cpu") -> dict[str, object]:
    """(b) for one ``top``: eigsh (LM, then LA) and the ladder of PyHessian settings."""
    v0 = np.random.default_rng(0).standard_normal(n)
    eig: dict[str, dict[str, object]] = {}
    for which in ("LM", "LA"):
        op = as_linear_operator(reused, n, device=device)
        tic = time.perf_counter()
        vals = np.sort(eigsh(op, k=top, which=which, tol=1e-4, v0=v0)[0])[::-1]
        eig[which] = {"seconds": round(time.perf_counter() - tic, 2), "hvps": op.calls,
                      "eigenvalues": vals.tolist()}
        print(f"  top-{top} eigsh which={which}   {eig[which]['seconds']:8.1f} s  "
              f"({op.calls} HVPs)  {np.round(vals, 3).tolist()}")
    ours = np.array(eig["LM"]["eigenvalues"])
    t_ours = float(eig["LM"]["seconds"])
    runs = []
    for max_iter, tol in SETTINGS:
        tic = time.perf_counter()
        if ph is not None:
            theirs, _ = ph.eigenvalues(maxIter=max_iter, tol=tol, top_n=top)
            calls: int | None = None
        else:
            theirs, calls = pyhessian_power_iteration(reused, n, top, max_iter, tol,
                                                      device=device)
        seconds = time.perf_counter() - tic
        theirs = np.array(sorted(theirs, reverse=True))
        rel = np.abs(theirs - ours) / np.abs(ours)
        run = {"maxIter": max_iter, "tol": tol, "seconds": round(seconds, 2), "hvps": calls,
               "speedup": round(seconds / t_ours, 2), "max_rel_diff": float(rel.max()),
               "median_rel_diff": float(np.median(rel)),
               "matched_prefix": matched_prefix(theirs, ours, match),
               "eigenvalues": theirs.tolist()}
        runs.append(run)
        print(f"  top-{top} power iteration maxIter={max_iter} tol={tol:g}: {seconds:8.1f} s "
              f"= {seconds / t_ours:.1f}x eigsh(LM); rel. diff max {rel.max():.1e}, median "
              f"{np.median(rel):.1e}; first {run['matched_prefix']} match  "
              f"{np.round(theirs, 3).tolist()}")
        if rel.max() < match:
            break
    matched = next((r for r in runs if r["max_rel_diff"] < match), None)
    print(f"  top-{top}: speed-up at matching eigenvalues (rel. diff < {match:g}): "
          + (f"{matched['speedup']}x" if matched else "none of the settings matched"))
    return {"eigsh": eig, "power_iteration": runs, "match": match,
            "speedup_at_defaults": runs[0]["speedup"],
            "speedup_at_match": matched["speedup"] if matched else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--examples", type=int, default=1000)
    ap.add_argument("--top", type=int, nargs="+", default=[20, 10],
                    help="how many eigenvalues; several values run one after the other")
    ap.add_argument("--epochs", type=int, default=4, help="training epochs before measuring")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--match", type=float, default=1e-2,
                    help="largest relative eigenvalue difference that counts as matching")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the GPU check uses cuda)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "hessian.json")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    data = load_mnist1d("cpu")
    cfg = OutlierConfig(stop_epoch=max(args.epochs, 1))
    model = train_outlier_nets(cfg, data, args.seed)["batch"] if args.epochs else None
    if model is None:
        from dlbn.hessian import outlier_model

        model = outlier_model(cfg, "batch")
    model.eval()  # PyHessian's mode, for everyone
    model.to(args.device)
    x = data.x_train[: args.examples].to(args.device)
    y = data.y_train[: args.examples].to(args.device)
    n = num_params(model)
    sol = solutions()
    v = torch.randn(n, generator=torch.Generator().manual_seed(1)).to(args.device)
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

        ph = hessian(model, torch.nn.CrossEntropyLoss(), data=(x, y),
                     cuda=args.device.startswith("cuda"))
        variants["PyHessian hessian_vector_product"] = lambda u: flatten(hessian_vector_product(
            ph.gradsH, ph.params, unflatten(u, ph.params)))
        source = "PyHessian (installed)"
    except ImportError:
        ph, source = None, "PyHessian not installed: a faithful copy of its power iteration"

    reference = reused(v)
    report: dict[str, object] = {"params": n, "examples": args.examples,
                                 "torch": torch.__version__, "threads": torch.get_num_threads(),
                                 "device": args.device,
                                 "machine": platform.platform(), "pyhessian": source, "hvp_ms": {}}
    print(f"{n} parameters, {args.examples} examples, eval mode, {torch.get_num_threads()} "
          f"threads; {source}")
    for name, fn in variants.items():
        err = float((fn(v) - reference).norm() / reference.norm())
        ms = 1000 * timed(lambda fn=fn: fn(v), args.repeats)
        report["hvp_ms"][name] = round(ms, 1)
        print(f"  one HVP  {name:34s} {ms:8.1f} ms   rel. diff vs reused graph {err:.1e}")

    report["eigenvalues"] = {str(top): top_eigenvalues(reused, ph, n, top, args.match,
                                                   args.device)
                             for top in args.top}
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
