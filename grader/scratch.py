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
import re
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


def _aliases(tree: ast.AST, packages: tuple[str, ...]) -> set[str]:
    """Names the file binds to modules or objects of ``packages`` (provided code)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in packages:
                    names.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in packages:
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


def _family(name: str) -> str:
    return name.lower().replace("_", "")


def _defined(tree: ast.AST) -> set[str]:
    """Names the learner's file defines itself (functions, classes, arguments, variables)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def scan(source: str, forbidden: Iterable[str]) -> list[str]:
    """Findings ("line 12: uses .batch_norm") that break the from-scratch rule; [] if none.

    A forbidden function gives away a *family* of names: ``batch_norm`` forbids every
    torch name that contains "batchnorm" once underscores and case are ignored
    (``native_batch_norm``, ``BatchNorm1d``, ``modules.batchnorm``, ``_BatchNorm``), as an
    attribute, an import or an identifier-like string; the learner's own definitions
    (``batch_norm_forward``, a class ``BatchNorm``) are theirs to use.
    A file that does not parse gives no findings here (its import error is reported); one
    too deep for the parent to parse fails closed.
    """
    try:
        tree = ast.parse(source)
        nodes = list(ast.walk(tree))
    except (SyntaxError, ValueError):
        return []
    except (RecursionError, MemoryError):
        return ["line 0: the file is nested too deeply for the grader to read"]
    families = {_family(n) for n in identifiers(forbidden)}
    torch_names = _torch_aliases(tree)
    docs = _docstrings(tree)
    own = _defined(tree)
    found: list[tuple[int, str]] = []

    def note(node: ast.AST, what: str) -> None:
        found.append((getattr(node, "lineno", 0), what))

    def forbidden_name(name: str) -> bool:
        return any(f in _family(name) for f in families)

    for node in nodes:
        if isinstance(node, ast.Name):
            if node.id in HIDING_NAMES:
                note(node, f"uses {node.id}, which can hide what is called")
            elif forbidden_name(node.id) and node.id not in own:
                note(node, f"uses {node.id}")
        elif isinstance(node, ast.Attribute):
            if forbidden_name(node.attr) and _root(node) != "self":
                note(node, f"uses .{node.attr}")
            elif node.attr in HIDING_ATTRS and _root(node) in torch_names | {"sys"}:
                note(node, f"uses {_root(node)}...{node.attr}, which can hide what is called")
            elif node.attr == "__dict__":
                note(node, "uses __dict__, which can hide what is called")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            module = getattr(node, "module", None) or ""
            for alias in node.names:
                full = f"{module}.{alias.name}" if module else alias.name
                if forbidden_name(full):
                    note(node, f"imports {full}")
                if "importlib" in full.split("."):
                    note(node, "imports importlib, which can hide what is called")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            words = re.findall(r"[A-Za-z_]\w*", node.value)
            if id(node) not in docs and any(forbidden_name(w) and w not in own for w in words):
                note(node, f"names {node.value[:60]!r} in a string")
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


# ----------------------------------------------------------------------------- graded mode
# In graded mode a learner's file must be ordinary numeric code: the ways a file could
# forge frames on its pipe, reach the grader's objects in its own process, or hide what it
# calls are outside this dialect, and a file that uses them fails every check as an
# integrity error. Every reference solution is inside it (tests/test_scratch.py).
ALLOWED_IMPORTS = (
    "__future__", "math", "cmath", "typing", "dataclasses", "collections", "functools",
    "itertools", "enum", "abc", "numbers", "random", "statistics", "copy", "warnings",
    "numpy", "scipy", "torch", "dlbn",
)
STANDARD_MODULES = tuple(m for m in ALLOWED_IMPORTS if m not in ("numpy", "scipy", "torch", "dlbn"))
DENIED_MODULES = ("torch._C", "torch.ops", "torch.hub", "torch.library",
                  "torch.utils.cpp_extension", "torch._dynamo", "torch._inductor", "torch._ops",
                  "torch.multiprocessing", "numpy.ctypeslib", "numpy.lib.format")
DENIED_NAMES = {"eval", "exec", "compile", "__import__", "globals", "locals", "vars", "open",
                "breakpoint", "input", "memoryview", "__builtins__", "__loader__", "__spec__",
                "exit", "quit", "dir"}
# Modules and introspection that torch, numpy and dlbn re-export as attributes
# (torch.os, torch.sys.modules, torch.inspect...): reaching one is importing it.
MODULE_ATTRS = {"os", "sys", "inspect", "builtins", "importlib", "subprocess", "io", "pickle",
                "json", "ctypes", "shutil", "socket", "signal", "gc", "argv",
                "environ", "marshal", "types", "threading", "pathlib", "tempfile", "glob",
                "fcntl", "resource", "mmap", "codecs", "getattr_static", "signature",
                "getmembers", "getsource", "traceback", "weakref", "platform", "sysconfig",
                "operator"}
DENIED_ATTRS = {"save", "load", "from_file", "tofile", "fromfile", "savetxt", "savez",
                "savez_compressed", "loadtxt", "memmap", "hub", "cpp_extension", "library",
                "ops", "_C", "_VF", "_ops", "system", "popen", "fdopen", "multiprocessing",
                "get_type_hints", "ForwardRef", "_eval_type", "evaluate_forward_ref"}
ALLOWED_DUNDERS = {"__init__", "__name__", "__class__", "__doc__", "__repr__", "__str__",
                   "__len__", "__getitem__", "__call__", "__post_init__", "__iter__"}


def _module_allowed(name: str) -> bool:
    if any(name == d or name.startswith(d + ".") for d in DENIED_MODULES):
        return False
    return name.split(".")[0] in ALLOWED_IMPORTS


def read_source(data: bytes) -> str:
    """The text Python's import system runs: PEP 263 coding cookies honoured."""
    import importlib.util

    return importlib.util.decode_source(data)


def graded_findings(source: str) -> list[str]:
    """Where the learner's file leaves graded mode's dialect; [] if it does not.

    A file too deep for the parent to parse fails closed (one finding)."""
    try:
        tree = ast.parse(source)
        nodes = list(ast.walk(tree))
    except (SyntaxError, ValueError):
        return []  # the child reports the syntax error
    except (RecursionError, MemoryError):
        return ["the file is nested too deeply for the grader to read"]
    torch_names = _torch_aliases(tree)
    provided = _aliases(tree, ("torch", "numpy", "scipy", "dlbn", "math", "random"))
    found: list[tuple[int, str]] = []

    def note(node: ast.AST, what: str) -> None:
        found.append((getattr(node, "lineno", 0), what))

    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not _module_allowed(alias.name):
                    note(node, f"imports {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level or not _module_allowed(module):
                note(node, f"imports from {'.' * node.level}{module}")
            for alias in node.names:
                bench = module.split(".")[0] == "dlbn"  # the course's own bench
                if not _module_allowed(f"{module}.{alias.name}") or (
                    alias.name in DENIED_ATTRS and not bench
                ):
                    note(node, f"imports {module}.{alias.name}")
        elif isinstance(node, ast.Name):
            if node.id in DENIED_NAMES:
                note(node, f"uses {node.id}")
            elif node.id in ("getattr", "setattr", "delattr"):
                parent_call = any(isinstance(n, ast.Call) and n.func is node for n in nodes)
                if not parent_call:
                    note(node, f"passes {node.id} around")
        elif isinstance(node, ast.Attribute):
            attr = node.attr
            if attr.startswith("__") and attr.endswith("__") and attr not in ALLOWED_DUNDERS:
                note(node, f"uses .{attr}")
            elif attr in DENIED_ATTRS or attr in MODULE_ATTRS:
                note(node, f"uses .{attr}")
            elif attr.startswith("_") and _root(node) in torch_names:
                note(node, f"uses torch's private .{attr}")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                for t in ast.walk(target):
                    if isinstance(t, ast.Attribute) and _root(t) in provided:
                        note(node, f"changes {_root(t)}.{t.attr}, provided code")
        if isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Name) and func.id in ("setattr", "delattr") and node.args
                    and _root(node.args[0]) in provided):
                note(node, f"calls {func.id}() on provided code")
            if isinstance(func, ast.Name) and func.id in ("getattr", "setattr", "delattr"):
                literal = len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
                if not literal:
                    note(node, f"calls {func.id}() with a computed name")
                elif str(node.args[1].value).startswith("__"):
                    note(node, f"calls {func.id}() on {node.args[1].value}")
    return [f"line {line}: {what}" for line, what in sorted(set(found))]
