"""From-scratch rules checked in the parent, on the learner's source (not in their process).

A from-scratch check names the torch functions a task must not call (``Check.scratch``).
The runtime layer (calls counted in the learner's process) can be switched off by a
learner who patches the counters, so the parent also reads the source:

- any use of a forbidden function's name as an attribute, an import or a string
  (``F.batch_norm``, ``torch.batch_norm``, ``getattr(F, "batch_norm")``,
  ``from torch.nn.functional import batch_norm``); the learner's own function of the same
  name (ch07's ``group_norm``) is theirs to call;
- anything that hides what is called: ``eval``, ``exec``, ``compile``, ``__import__``,
  ``importlib``, ``sys.modules``, ``globals()``, ``vars()``, ``__dict__``,
  ``__builtins__``, ``torch.ops``, ``torch._C``, ``_VF``, and ``getattr`` on a torch
  module with a name that is not a plain string.

Docstrings and comments are not read. What this cannot see: a forbidden call made by
provided code the learner calls (the runtime layer counts those), or by a module the
learner's file does not contain (a learner file is one file).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

HIDING_CALLS = {"eval", "exec", "compile", "__import__", "globals", "vars", "locals"}
HIDING_NAMES = {"importlib", "__builtins__", "_VF", "__dict__", "modules_"}
HIDING_ATTRS = {"ops", "_C", "_VF", "__dict__", "modules", "__getattribute__"}
GENERIC = {"grad": "autograd", "backward": "autograd"}  # too common a name on its own


def identifiers(dotted: Iterable[str]) -> set[str]:
    """The names that give a forbidden function away: ``torch.nn.functional.batch_norm`` ->
    ``batch_norm``; ``torch.autograd.grad`` -> ``autograd``."""
    out = set()
    for name in dotted:
        last = name.rsplit(".", 1)[-1]
        out.add(GENERIC.get(last, last))
    return out


def _torch_aliases(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "torch":
                    names.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch":
            names.update(a.asname or a.name for a in node.names)
    return names


def _root(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                ids.add(id(value))
    return ids


def scan(source: str, forbidden: Iterable[str]) -> list[str]:
    """Findings ("line 12: F.batch_norm ...") that break the from-scratch rule; [] if none.

    A file that does not parse gives no findings here (its import error is reported).
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    names = identifiers(forbidden)
    torch_names = _torch_aliases(tree)
    docs = _docstrings(tree)
    found: list[tuple[int, str]] = []

    def note(node: ast.AST, what: str) -> None:
        found.append((getattr(node, "lineno", 0), what))

    for node in ast.walk(tree):
        if isinstance(node, ast.Name):  # the learner's own group_norm is fine; torch's is
            if node.id in HIDING_NAMES:  # caught where it is imported

                note(node, f"uses {node.id}, which can hide what is called")
        elif isinstance(node, ast.Attribute):
            if node.attr in names and _root(node) != "self":
                note(node, f"uses .{node.attr}")
            elif node.attr in HIDING_ATTRS and _root(node) in torch_names | {"sys"}:
                note(node, f"uses {_root(node)}...{node.attr}, which can hide what is called")
            elif node.attr == "__dict__":
                note(node, "uses __dict__, which can hide what is called")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                parts = set(alias.name.split("."))
                if parts & names:
                    note(node, f"imports {alias.name}")
                if "importlib" in parts:
                    note(node, "imports importlib, which can hide what is called")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in names and id(node) not in docs:
                note(node, f"names {node.value!r} in a string")
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in HIDING_CALLS:
                note(node, f"calls {func.id}(), which can hide what is called")
            if isinstance(func, ast.Name) and func.id in ("getattr", "setattr") and node.args:
                target = node.args[0]
                literal = len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
                if _root(target) in torch_names and not literal:
                    note(node, f"calls {func.id}() on a torch module with a computed name")
    return [f"line {line}: {what}" for line, what in sorted(set(found))]
