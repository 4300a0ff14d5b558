"""ch06.2-4 checks: eigsh on an operator, output-moment gradients, overlaps and projection.

torch is the oracle where it can be: ``torch.linalg.eigh`` for the eigenpairs of an explicit
symmetric matrix, a pseudo-inverse projector for the overlaps.
"""

from __future__ import annotations

from typing import Any

from grader.lazy import torch
from grader.probing import ProbeContext, expect_tensor, expect_tuple
from grader.spec import Checks, contract, fail
from grader.specs.ch06.config import snapshot, tiny_batches, tiny_net, unchanged, unit_vector

N = 60  # size of the explicit test matrix

checks = Checks()


def test_matrix(ctx: ProbeContext) -> Any:
    """Symmetric (N, N), eigenvalues from -12 to 6: the most negative has the largest modulus."""
    q, _ = torch.linalg.qr(ctx.randn(N, N, dtype=torch.float64, offset=300))
    vals = torch.linspace(-12.0, 6.0, N, dtype=torch.float64)
    vals[-4:] = torch.tensor([4.5, 5.0, 5.6, 6.0], dtype=torch.float64)  # a small gap on top
    return (q * vals) @ q.T


# ---------------------------------------------------------------- ch06.2 eigsh


def eigh_top4(ctx: ProbeContext) -> dict[str, Any]:
    vals, vecs = torch.linalg.eigh(test_matrix(ctx))
    return {"vals": vals.flip(0)[:4], "vecs": vecs.flip(1)[:, :4]}


@checks.match("ch06.2.matrix", "top 4 eigenpairs of a 60 x 60 symmetric matrix (torch.linalg.eigh)",
              against=eigh_top4,
              hint='eigsh(op, k=k, which="LA"): largest ALGEBRAIC (not "LM", which picks -12, nor '
              '"SA"); eigsh returns ascending order: flip it; return float64 torch tensors.')
def matrix_eigs(top_eigenpairs: Any, ctx: ProbeContext) -> dict[str, Any]:
    a = test_matrix(ctx)
    vals, vecs = expect_tuple(top_eigenpairs(lambda v: a @ v, N, 4, dtype=torch.float64),
                              2, "top_eigenpairs")
    return {"vals": vals, "vecs": vecs}


@matrix_eigs.judge
def _(got: dict[str, Any], expected: dict[str, Any]) -> None:
    vals, vecs, want = got["vals"], got["vecs"], expected["vals"]
    if tuple(vals.shape) != (4,) or tuple(vecs.shape) != (N, 4):
        fail(f"shapes {tuple(vals.shape)}, {tuple(vecs.shape)}; expected (4,), ({N}, 4)")
    if vals.dtype != torch.float64 or vecs.dtype != torch.float64:
        fail(f"dtypes {vals.dtype}, {vecs.dtype}; expected torch.float64")
    if not torch.allclose(vals, want, rtol=1e-6, atol=1e-8):
        fail(f"eigenvalues {[round(float(x), 4) for x in vals]}, expected the largest "
             f"algebraic, descending: {[round(float(x), 4) for x in want]}")
    cos = (vecs * expected["vecs"]).sum(0).abs()  # sign is arbitrary
    if not bool((cos > 1 - 1e-6).all()):
        fail(f"eigenvectors: |cos| with the true ones {cos.tolist()}, expected 1")


@checks.match("ch06.2.hessian", "top 3 Hessian eigenvalues of a tiny BN net match the reference",
              hint="Wrap hvp with as_linear_operator(hvp, n, dtype=dtype) and pass tol and v0.")
def hessian_eigs(top_eigenpairs: Any, ctx: ProbeContext) -> dict[str, Any]:
    from dlbn.hessian import flatten, frozen_running_stats

    model = tiny_net(ctx, "batch", offset=5).train()
    batches = tiny_batches(ctx, offset=400)
    params = list(model.parameters())

    def hvp(v: Any) -> Any:  # the bench's own HVP, so that only eigsh is graded here
        with frozen_running_stats(model):
            out = torch.zeros_like(v)
            for x, y in batches:
                loss = torch.nn.functional.cross_entropy(model(x), y)
                g = flatten(torch.autograd.grad(loss, params, create_graph=True))
                out += flatten(torch.autograd.grad(g @ v, params))
            return out / len(batches)

    n = sum(p.numel() for p in params)
    vals, _ = expect_tuple(top_eigenpairs(hvp, n, 3, dtype=torch.float64), 2, "top_eigenpairs")
    return {"vals": vals}


@hessian_eigs.judge
def _(got: dict[str, Any], expected: dict[str, Any]) -> None:
    vals, want = got["vals"].double(), expected["vals"].double()
    if vals.shape != want.shape or not torch.allclose(vals, want, rtol=1e-4, atol=1e-6):
        fail(f"top 3 Hessian eigenvalues {vals.tolist()}, expected {want.tolist()}")


# ---------------------------------------------------------------- ch06.3 moments


def moment_check(name: str, moments: int, norm: str, training: bool, hint: str) -> None:
    @checks.match(f"ch06.3.{name}",
                  f"moments={moments}, {norm} net in {'train' if training else 'eval'} mode",
                  hint=hint)
    def probe(output_moment_grads: Any, ctx: ProbeContext) -> dict[str, Any]:
        model = tiny_net(ctx, norm, offset=7).train(training)
        before = snapshot(model)
        g = expect_tensor(output_moment_grads(model, tiny_batches(ctx, offset=500), moments),
                          "output_moment_grads")
        return {"grads": g, **{k: torch.tensor(v) for k, v in unchanged(model, before).items()}}


moment_check("means_bn", 1, "batch", True,
             hint="Column c is d/dw of mean_b z[b, c], averaged over the batches; under "
             "train-mode BN keep the running statistics frozen (frozen_running_stats).")
moment_check("means_eval", 1, "batch", False,
             hint="Use the model in its own mode; one column per class.")
moment_check("three_moments", 3, "none", True,
             hint="Order: C mean columns, then C variance columns (biased, divide by B), then "
             "C skew columns mean((z - mean)^3) / var^1.5.")

# ---------------------------------------------------------------- ch06.4 overlap


def pinv_overlap(vectors: Any, basis: Any) -> Any:
    proj = basis @ torch.linalg.pinv(basis)  # orthogonal projector onto the span
    return ((proj @ vectors) ** 2).sum(0) / (vectors**2).sum(0)


def overlap_run(subspace_overlap: Any, ctx: ProbeContext) -> Any:
    n, m = 40, 6  # columns of very different norms that share a common direction:
    basis = ctx.randn(n, m, dtype=torch.float64, offset=600)
    basis = basis + 2.0 * ctx.randn(n, 1, dtype=torch.float64, offset=601)
    basis = basis * torch.logspace(-1, 1, m, dtype=torch.float64)
    inside = basis @ ctx.randn(m, 1, dtype=torch.float64, offset=610)
    q, _ = torch.linalg.qr(basis)
    r = ctx.randn(n, 1, dtype=torch.float64, offset=611)
    vectors = torch.cat([3 * inside, r - q @ (q.T @ r),  # inside, outside the span, random
                         ctx.randn(n, 3, dtype=torch.float64, offset=612)], dim=1)  # (40, 5)
    return expect_tensor(subspace_overlap(vectors, basis), "subspace_overlap")


checks.same_as("ch06.4.overlap", "overlaps with a correlated, unnormalized basis (pinv projector)",
               overlap_run, trusted={"subspace_overlap": pinv_overlap},
               hint="Orthonormalize first: q, _ = torch.linalg.qr(basis); overlap = ||q^T u||^2 / "
               "||u||^2. Unit columns are not enough when they are correlated.")


def projection_case(ctx: ProbeContext) -> tuple[Any, Any]:
    a = test_matrix(ctx)
    vals, vecs = torch.linalg.eigh(a)
    basis = vecs[:, -2:] @ ctx.randn(2, 2, dtype=torch.float64, offset=620)  # top-2 span, mixed
    return a, torch.cat([basis, ctx.randn(N, 1, dtype=torch.float64, offset=621)], dim=1)


def eigvalsh_projected(ctx: ProbeContext) -> float:
    a, basis = projection_case(ctx)
    proj = torch.eye(N, dtype=torch.float64) - basis @ torch.linalg.pinv(basis)
    return float(torch.linalg.eigvalsh(proj @ a @ proj)[-1])


@checks.match("ch06.4.projected", "top eigenvalue with a 3-dim span projected out (eigvalsh)",
              against=eigvalsh_projected,
              hint="Project before and after the product, v -> P H P v with P = I - QQ^T, and "
              "reuse top_eigenpairs with k=1.")
def projected(projected_top_eigenvalue: Any, ctx: ProbeContext) -> float:
    a, basis = projection_case(ctx)
    return float(projected_top_eigenvalue(lambda v: a @ v, basis, dtype=torch.float64))


@checks.api("ch06.4.self_overlap", "a vector overlaps its own span with 1",
            judge=contract({"self_overlap_is_one": "subspace_overlap(u, 5u) should be 1: "
                            "normalize by ||u||^2 and orthonormalize the basis"}),
            hint="overlap = ||Q^T u||^2 / ||u||^2 with Q orthonormal.")
def self_overlap(subspace_overlap: Any, ctx: ProbeContext) -> dict[str, Any]:
    v = unit_vector(ctx, 30, offset=630).reshape(30, 1)
    return {"self_overlap_is_one": abs(float(subspace_overlap(v, v * 5)[0]) - 1) < 1e-9}
