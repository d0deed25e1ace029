"""Code versions of workflow scripts: a hash of every ``clipcurate`` module a script can run.

Snakemake reruns a ``script:`` rule when the script itself changes, but it does not see the library
modules the script imports. Each rule therefore passes ``code_version(<its script>)`` as a param:
a hash of the script and of the *import closure* of its ``clipcurate`` imports, so that editing any
module the rule can reach (directly, through another module, or through an import inside a
function) reruns exactly the rules that reach it.

The closure is found statically with :mod:`ast` (no module is imported, so this stays cheap at
parse time, which the Slurm executor repeats in every job):

- ``import clipcurate.a.b`` and ``from clipcurate.a import b`` (``b`` a module or a name in ``a``),
  relative imports inside the package, at any depth of the file (function-local imports too);
- importing ``clipcurate.a.b`` runs ``clipcurate/__init__.py`` and ``clipcurate/a/__init__.py``, so
  those count as well;
- a string that names a ``clipcurate`` module (``"-m", "clipcurate.train.entry"``: a module run in
  a subprocess) counts as an import of it;
- a module that calls ``importlib.import_module`` is a plug-in registry that loads its package's
  modules by name (``clipcurate.scores``: score methods, ``clipcurate.embed.variants``: image variants).
  A job runs only some of them (a score job its one method, an embed job its one variant, a mix
  none), so this dynamic load counts only for the plug-in modules the caller names (``plugins``);
  with ``plugins=None`` it counts as importing every module of the package. Adding or editing a
  plug-in thus changes exactly the code versions of the jobs that name it;
- data files shipped inside the package (``*.json`` in a plain directory next to a reached module,
  e.g. ``model_configs/``) count when that module's source names the directory.

Only this module's standard-library imports run at parse time.
"""

from __future__ import annotations

import ast
import hashlib
import re
from functools import lru_cache
from pathlib import Path

PACKAGE = "clipcurate"
_MODULE_STRING = re.compile(rf"^{PACKAGE}(\.[A-Za-z_]\w*)+$")
DATA_SUFFIXES = (".json",)


def _module_file(src: Path, name: str) -> Path | None:
    """The file of module ``name`` (dotted, under ``src``): ``a/b.py`` or ``a/b/__init__.py``."""
    parts = name.split(".")
    path = src.joinpath(*parts[:-1], parts[-1] + ".py")
    if path.is_file():
        return path
    path = src.joinpath(*parts, "__init__.py")
    return path if path.is_file() else None


def _module_name(src: Path, path: Path) -> str:
    rel = path.relative_to(src).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _direct_imports(src: Path, path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Names of the ``clipcurate`` modules one file imports (anywhere in the file), and those it may
    load by name (a plug-in registry's package modules: ``importlib.import_module``), listed now so
    that a module added since is seen."""
    found, registries = _parse_imports(src, path, path.read_bytes())
    dynamic = sorted(
        _module_name(src, sub) for package in registries for sub in src.joinpath(*package.split(".")).glob("*.py")
    )
    return found, tuple(d for d in dynamic if d not in registries)


@lru_cache(maxsize=None)
def _parse_imports(src: Path, path: Path, source: bytes) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Cached on the file's content, so an edited file is parsed again."""
    tree = ast.parse(source, filename=str(path))
    in_package = path.is_relative_to(src)
    package = ""
    if in_package:
        name = _module_name(src, path)
        package = name if _is_package(path) else name.rpartition(".")[0]
    found: set[str] = set()
    registries: set[str] = set()  # packages whose modules this file loads by name

    def add(name: str) -> None:
        if name == PACKAGE or name.startswith(PACKAGE + "."):
            found.add(name)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if not in_package:
                    continue
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            add(base)
            for alias in node.names:
                add(f"{base}.{alias.name}")  # kept only if it is a module (checked by the caller)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _MODULE_STRING.match(node.value):
            add(node.value)  # a module run as ``python -m clipcurate.x`` in a subprocess
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and in_package
            and package
        ):
            registries.add(package)
    return tuple(sorted(found)), tuple(sorted(registries))


def import_closure(script: str | Path, src: str | Path, skip=(), plugins=()) -> list[Path]:
    """Every ``clipcurate`` module file ``script`` can run, parent ``__init__`` files included.

    ``plugins`` names the registry plug-ins the job runs (module names, e.g. its score method's
    module): a registry's load-by-name reaches those, and only those, of its package's modules
    (none by default); ``None`` reaches them all. ``skip`` names modules left out with what only
    they import.
    """
    src = Path(src).resolve()
    wanted = None if plugins is None else frozenset(plugins)
    seen: dict[str, Path] = {}

    def imports(path: Path) -> list[str]:
        found, dynamic = _direct_imports(src, path)
        return [*found, *(d for d in dynamic if wanted is None or d in wanted)]

    todo = imports(Path(script).resolve())
    while todo:
        name = todo.pop()
        if name in seen or name in skip:
            continue
        path = _module_file(src, name)
        if path is None:
            continue  # ``from clipcurate.a import some_function``: not a module
        seen[name] = path
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        todo.extend(imports(path))
    return [seen[name] for name in sorted(seen)]


def code_version(script: str | Path, src: str | Path, skip=(), plugins=()) -> str:
    """A 16-hex-digit hash of ``script``, its import closure and the package data beside it.

    ``plugins``: the registry plug-in modules the job runs (none by default; see
    :func:`import_closure`). Paths enter the hash relative to ``src`` so that the version does not
    depend on where the repository lives.
    """
    src = Path(src).resolve()
    script = Path(script)
    h = hashlib.sha256()
    h.update(b"script\0" + script.read_bytes())
    files = import_closure(script, src, frozenset(skip), None if plugins is None else frozenset(plugins))
    for module in list(files):
        text = module.read_text()
        for sub in sorted(module.parent.iterdir()):
            if sub.is_dir() and not (sub / "__init__.py").exists() and sub.name in text:
                files.extend(sorted(f for f in sub.iterdir() if f.suffix in DATA_SUFFIXES))
    for path in sorted(set(files)):
        h.update(path.relative_to(src).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]
