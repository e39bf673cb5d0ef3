"""The module graph: every module of ``app`` imports on its own, and imports follow the layers.

The layers are router → service → repository → model: a router reaches storage only through a
service, a repository knows nothing of services or API schemas, a service nothing of HTTP, and a
module's ``_private`` names stay its own.
"""

import ast
import functools
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"

# Imports that still break a rule, in modules another change is reworking: (module file, imported
# name). The list only shrinks: an entry that no longer breaks a rule fails the last test below.
ALLOWED: set[tuple[str, str]] = set()
# Modules outside the repositories that still build SQL statements themselves.
ALLOWED_SQL: set[str] = set()

# Forbidden import prefixes per layer (the package directly under app/).
FORBIDDEN = {
    "routers": ("app.repositories", "app.models.flags"),
    "repositories": ("app.services", "app.schemas"),
    "services": ("fastapi", "starlette"),
}
SQL_BUILDERS = frozenset({"select", "insert", "update", "delete", "text"})


def _modules() -> list[str]:
    names = []
    for path in sorted(APP.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted name) of every import: ``from a.b import c`` gives ``a.b.c``."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
    return out


@functools.cache  # parsed once: every rule below reads the same trees
def _files() -> list[tuple[str, ast.Module]]:
    return [
        (path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(), filename=str(path)))
        for path in sorted(APP.rglob("*.py"))
    ]


# Runs in a fresh interpreter. Every child it forks starts with no module of ``app`` loaded and
# imports just the one (an import loop shows as "partially initialized module" there); what the
# children share is only what no module of ``app`` runs:
# - every module outside ``app`` that the app ends up importing, which a first child (importing
#   every module of ``app``) names and the parent then imports: without it each child would load
#   the same submodules of FastAPI, pydantic and SQLAlchemy again;
# - the app's bytecode, compiled once into a cache directory of the test's own (the environment
#   may turn writing bytecode off, and each child would compile every module it runs again);
# - frozen garbage (gc.freeze), so that a child's collections do not walk the libraries' objects.
# The children run as many at a time as there are processors.
_CHECKER = """
import compileall, gc, importlib, os, sys, traceback, warnings
warnings.simplefilter("ignore")
modules, libraries, cache = sys.argv[1].split(), sys.argv[2].split(), sys.argv[3]
sys.dont_write_bytecode = False
sys.pycache_prefix = cache
assert compileall.compile_dir("app", quiet=2)

def ours(name):
    return name == "app" or name.startswith("app.")

def fork(job):
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            job()
        except BaseException:
            code = 1
            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return pid

for name in libraries:
    try:
        importlib.import_module(name)
    except Exception:
        pass
read, write = os.pipe()

def probe():
    os.close(read)
    before = set(sys.modules)
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:  # the module's own child below reports it
            pass
    with os.fdopen(write, "w") as out:
        out.write(" ".join(n for n in set(sys.modules) - before if not ours(n)))

pid = fork(probe)
os.close(write)
with os.fdopen(read) as inp:
    outside = inp.read().split()
os.waitpid(pid, 0)
for name in sorted(outside):
    if name not in sys.modules:
        try:
            importlib.import_module(name)
        except Exception:  # names that are no importable module (``__mp_main__``), skipped
            pass
assert not any(ours(m) for m in sys.modules)
gc.freeze()
failed, running, todo = 0, {}, list(reversed(modules))
while todo or running:
    while todo and len(running) < (os.cpu_count() or 1):
        module = todo.pop()
        running[fork(lambda: importlib.import_module(module))] = module
    pid, status = os.wait()
    module = running.pop(pid)
    if status != 0:
        failed += 1
        print(f"--- {module} failed (its traceback is on stderr)")
print(f"checked {len(modules)}, failed {failed}")
"""


def _libraries(files: list[tuple[str, ast.Module]]) -> list[str]:
    """The top-level packages outside ``app`` that the app imports."""
    return sorted({name.split(".")[0] for _, tree in files for _, name in _imports(tree)} - {"app"})


def _graph() -> dict[str, set[str]]:
    """Module → the app modules its module-level imports run (an import inside a function is a
    deliberate deferral). Importing ``a.b.c`` first runs the packages ``a`` and ``a.b``; that edge
    counts unless the importer lies inside the package, which is then already running."""
    modules = set(_modules())
    graph = {}
    for path, tree in _files():
        parts = Path(path).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        targets = set()
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module in modules:
                targets |= {
                    f"{node.module}.{a.name}"
                    if f"{node.module}.{a.name}" in modules
                    else node.module
                    for a in node.names
                }
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name in modules}
        for target in set(targets):
            pieces = target.split(".")
            for k in range(2, len(pieces)):
                package = ".".join(pieces[:k])
                if not name.startswith(package + "."):
                    targets.add(package)
        graph[name] = targets - {name}
    return graph


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for w in graph[todo.pop()] - seen:
            seen.add(w)
            todo.append(w)
    return seen


def _loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = stack[stack.index(v) :]
            del stack[stack.index(v) :]
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


class TestFreshImports:
    def test_every_module_imports_on_its_own(self, tmp_path: Path) -> None:
        modules = _modules()
        libraries = " ".join(_libraries(_files()))
        result = subprocess.run(  # noqa: S603 - this interpreter, this repository's modules
            [sys.executable, "-c", _CHECKER, " ".join(modules), libraries, str(tmp_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            # one BLAS thread: the checker forks, and a forked thread pool can hang
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().endswith(f"checked {len(modules)}, failed 0"), (
            result.stdout + result.stderr
        )
        assert len(modules) > 50

    def test_no_import_loops(self) -> None:
        graph = _graph()
        assert _loops(graph) == []
        # the graph was read: the app's entry point reaches the routers and the services
        assert {"app.routers.projects", "app.services.matching.service"} <= _reach(
            graph, "app.main"
        )


def _layer_breaks() -> dict[tuple[str, str], int]:
    """(module file, imported name) → line, for every import a module's layer forbids."""
    out = {}
    for path, tree in _files():
        parts = path.split("/")
        forbidden = FORBIDDEN.get(parts[1], ()) if len(parts) > 2 else ()
        for line, name in _imports(tree):
            if forbidden and name.startswith(forbidden):
                out[path, name] = line
    return out


def _private_breaks() -> dict[tuple[str, str], int]:
    """(module file, imported name) → line, for every import of another module's private name."""
    out = {}
    for path, tree in _files():
        for line, name in _imports(tree):
            parts = name.split(".")
            if parts[0] == "app" and any(p.startswith("_") and p[:2] != "__" for p in parts):
                out[path, name] = line
    return out


def _sql_breaks() -> dict[str, list[int]]:
    """Module file → lines, where a module outside the repositories builds a SQL statement."""
    out: dict[str, list[int]] = {}
    for path, tree in _files():
        if path.split("/")[1] in ("repositories", "models"):
            continue
        bound = set()  # names bound to sqlalchemy things: builders (select), modules (postgresql)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                bound |= {alias.asname or alias.name for alias in node.names}
            elif isinstance(node, ast.Import):
                bound |= {
                    alias.asname or alias.name.split(".")[0]
                    for alias in node.names
                    if alias.name.startswith("sqlalchemy")
                }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if (isinstance(func, ast.Name) and func.id in bound & SQL_BUILDERS) or (
                isinstance(func, ast.Attribute)
                and func.attr in SQL_BUILDERS
                and isinstance(func.value, ast.Name)
                and func.value.id in bound
            ):
                out.setdefault(path, []).append(node.lineno)
    return out


class TestLayering:
    def test_imports_follow_the_layers(self) -> None:
        breaks = _layer_breaks()
        assert sorted(f"{p}:{breaks[p, n]} imports {n}" for p, n in set(breaks) - ALLOWED) == []

    def test_no_module_imports_a_private_name_of_another(self) -> None:
        breaks = _private_breaks()
        assert sorted(f"{p}:{breaks[p, n]} imports {n}" for p, n in set(breaks) - ALLOWED) == []

    def test_queries_are_built_in_repositories_only(self) -> None:
        breaks = _sql_breaks()
        assert {path: lines for path, lines in breaks.items() if path not in ALLOWED_SQL} == {}

    def test_the_allow_lists_name_only_what_still_breaks_a_rule(self) -> None:
        # A fixed entry fails here: remove it from the list.
        assert set(ALLOWED) - set(_layer_breaks()) - set(_private_breaks()) == set()
        assert ALLOWED_SQL - set(_sql_breaks()) == set()
