"""Check femopt's layering: python scripts/check_layers.py [PACKAGE_DIR]

Reads every module of the package with ``ast`` (nothing is imported) and reports, one line
each, and exits 1 when any is found:

- an import of a layer above the importing module's own (docs/architecture.md lists the
  layers bottom to top; a module may import its own layer and the ones below);
- an import circle between modules, counting imports inside functions too (a circle held
  together by an import in a function is still a circle);
- a module of more than MAX_LINES lines;
- an import inside a function or class without a comment on its line or above its group
  of imports saying why it is not at the top (start-up time, an optional dependency).

Run by tests/test_layers.py.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_LINES = 600

# Bottom to top. A module's layer is the longest prefix of its dotted name listed here.
LAYERS = (
    ("femopt", "femopt.errors", "femopt.registry", "femopt.signals"),  # the ground (femopt/__init__.py imports nothing)
    ("femopt.element",),
    ("femopt.mesh",),
    ("femopt.fem",),
    ("femopt.solvers",),
    ("femopt.adjoint",),
    ("femopt.optimizers",),
    ("femopt.design",),
    ("femopt.responses",),
    ("femopt.loop",),
    ("femopt.config",),
    ("femopt.build",),
    ("femopt.output",),
    ("femopt.api",),
    ("femopt.study",),
    ("femopt.cli",),
    ("femopt.launcher", "femopt.__main__"),
)
RANK = {prefix: rank for rank, prefixes in enumerate(LAYERS) for prefix in prefixes}


def layer(module: str) -> str:
    """The LAYERS prefix that ``module`` belongs to (the longest one that matches)."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in RANK:
            return prefix
    raise ValueError(f"{module}: in no layer; add its folder to LAYERS in {__file__}")


def module_names(package: Path) -> dict[str, Path]:
    """Dotted module name → file, for every .py file below ``package``."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imports(module: str, path: Path, modules: dict[str, Path]):
    """(line, imported femopt module, nested) for every import statement in the file;
    ``nested`` is True for an import inside a function or class."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # ``from package import submodule`` imports the submodule.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # import a.b.c where only a.b is ours
                target = target.rpartition(".")[0]
            if target:
                yield node.lineno, target, id(node) not in top and not _in_module_block(node, tree)


def _in_module_block(node, tree) -> bool:
    """True when ``node`` sits in a module-level ``try``/``if`` (not in a function or class)."""
    for statement in tree.body:
        if isinstance(statement, (ast.Try, ast.If)):
            for inner in ast.walk(statement):
                if inner is node:
                    return True
    return False


def nested_imports(path: Path):
    """(line, text) of imports inside a function or class that no comment explains."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source, str(path))
    found, import_lines = set(), set()  # import_lines: every line of every import, continuations too
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            import_lines.update(range(node.lineno, node.end_lineno + 1))
    for scope in ast.walk(tree):
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.update(node.lineno for node in ast.walk(scope) if isinstance(node, (ast.Import, ast.ImportFrom)))
    for line in sorted(found):
        # A comment on the import's line, or on the line above its group of imports.
        above = line - 1
        while above > 0 and above in import_lines:
            above -= 1
        here = lines[line - 1]
        if "#" not in here and not (above > 0 and "#" in lines[above - 1]):
            yield line, here.strip()


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def check(package: Path) -> list[str]:
    """Every problem found in ``package`` (a folder), one line each."""
    modules = module_names(package)
    problems, graph = [], {}
    for module, path in modules.items():
        where = path.relative_to(package.parent)
        n_lines = len(path.read_text(encoding="utf-8").splitlines())
        if n_lines > MAX_LINES:
            problems.append(f"{where}: {n_lines} lines, more than {MAX_LINES}")
        own = layer(module)
        for line, target, _ in sorted(set(imports(module, path, modules))):
            if target == module:
                continue
            graph.setdefault(module, set()).add(target)
            if RANK[layer(target)] > RANK[own]:
                problems.append(f"{where}:{line}: {module} ({own}) imports {target} "
                                f"({layer(target)}), a layer above it")
        for line, text in nested_imports(path):
            problems.append(f"{where}:{line}: an import inside a function without a comment "
                            f"saying why it is not at the top: {text}")
    for component in cycles(graph):
        problems.append("import circle: " + " ↔ ".join(component))
    return problems


def main(argv: list[str]) -> int:
    package = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "femopt"
    problems = check(package)
    for problem in problems:
        print(problem)
    n = len(module_names(package))
    print(f"{n} modules, {len(LAYERS)} layers: "
          + ("no problems" if not problems else f"{len(problems)} problems"), file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
