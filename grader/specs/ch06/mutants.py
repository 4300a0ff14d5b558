"""ch06 mutants: typical mistakes, each a text substitution on the reference solution."""

from grader.model import Mutant

MUTANTS = (
    Mutant("loss_sum_not_mean",
           "the double-backward HVP differentiates the summed loss instead of the mean",
           (("            loss = F.cross_entropy(model(x), y)\n",
             '            loss = F.cross_entropy(model(x), y, reduction="sum")\n'),),
           ("ch06.1.double_backward_fd", "ch06.1.double_backward_modes")),
    Mutant("no_create_graph", "the first gradient is taken without create_graph and detached",
           (("grads = torch.autograd.grad(loss, params, create_graph=True)",
             "grads = [g.detach().requires_grad_() for g in torch.autograd.grad(loss, params)]"),),
           ("ch06.1.double_backward_fd",)),
    Mutant("running_stats_updated",
           "the double-backward HVP lets train-mode BN update its running statistics",
           (("    with frozen_running_stats(model):\n        for x, y in batches:\n"
             "            loss = F.cross_entropy",
             "    if True:\n        for x, y in batches:\n            loss = F.cross_entropy"),),
           ("ch06.1.contract",)),
    Mutant("functional_drops_buffers",
           "the torch.func HVP follows torch.func's batch-norm recipe, "
           "replace_all_batch_norm_modules_, which deletes the running statistics",
           (("    with frozen_running_stats(model):\n        for x, y in batches:\n"
             "            _, hv = jvp(",
             "    torch.func.replace_all_batch_norm_modules_(model)\n    if True:\n"
             "        for x, y in batches:\n            _, hv = jvp("),),
           ("ch06.1.functional_modes", "ch06.1.contract")),
    Mutant("functional_reverse_over_forward",
           "torch.func HVP as grad of jvp (reverse-over-forward), wrong on BN nets",
           (("_, hv = jvp(lambda w, x=x, y=y: grad(batch_loss)(w, x, y), (params,), (tangents,))",
             "hv = grad(lambda w, x=x, y=y: jvp(lambda u: batch_loss(u, x, y), (w,), "
             "(tangents,))[1])(params)"),), ("ch06.1.functional_fd",)),
    Mutant("eigsh_smallest", "eigsh asked for the smallest algebraic eigenvalues",
           (('vals, vecs = eigsh(op, k=k, which="LA", tol=tol, v0=v0)',
             'vals, vecs = eigsh(op, k=k, which="SA", tol=tol, v0=v0)'),),
           ("ch06.2.matrix", "ch06.2.hessian")),
    Mutant("eigsh_largest_magnitude",
           "eigsh asked for the largest magnitude, which picks large negative eigenvalues",
           (('vals, vecs = eigsh(op, k=k, which="LA", tol=tol, v0=v0)',
             'vals, vecs = eigsh(op, k=k, which="LM", tol=tol, v0=v0)'),), ("ch06.2.matrix",)),
    Mutant("overlap_without_qr", "overlap with unit-norm but non-orthogonal basis columns (no QR)",
           (("    q, _ = torch.linalg.qr(basis.to(vectors.dtype))\n",
             "    q = basis.to(vectors.dtype) / basis.to(vectors.dtype).norm(dim=0)\n"),),
           ("ch06.4.overlap",)),
    Mutant("overlap_not_normalized",
           "overlap uses the raw basis columns and forgets to divide by ||u||^2",
           (("    q, _ = torch.linalg.qr(basis.to(vectors.dtype))\n"
             "    coeffs = q.T @ vectors  # (m, k)\n"
             "    return (coeffs**2).sum(dim=0) / (vectors**2).sum(dim=0)",
             "    coeffs = basis.to(vectors.dtype).T @ vectors  # (m, k)\n"
             "    return (coeffs**2).sum(dim=0)"),), ("ch06.4.",)),
    Mutant("projector_without_qr",
           "the projection uses unit-norm but non-orthogonal basis columns, so P is no projector",
           (("    q, _ = torch.linalg.qr(basis.to(device=device, dtype=dtype))\n",
             "    q = basis.to(device=device, dtype=dtype)\n    q = q / q.norm(dim=0)\n"),),
           ("ch06.4.projected",)),
    Mutant("frozen_left_in_train_mode",
           "the frozen-BN copy is left in train mode (still normalizes with batch statistics)",
           (("    frozen.eval()\n    return frozen", "    return frozen"),),
           ("ch06.5.frozen", "ch06.5.contract")),
    Mutant("variance_for_skew_columns", "moments=3 returns the variance twice instead of the skew",
           (("stats.append(((z - mean) ** 3).mean(dim=0) / var**1.5)", "stats.append(var)"),),
           ("ch06.3.three_moments",)),
)
