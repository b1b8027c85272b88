"""What a Jetson imports runs on JetPack 5.1's Python 3.8 (TensorRT 8.5's bindings exist
only for 3.8 there). No Python 3.8 interpreter is available to CI, so this is checked
statically, on exactly the modules that `dms run`, `dms build-engine`, `dms doctor`,
`dms bench` and the command's argument parser import:

* vermin: standard-library members, syntax and builtins newer than 3.8;
* an AST check for what vermin does not see because `from __future__ import annotations`
  hides annotations: PEP 585 / 604 types evaluated at run time (`Alias = tuple[...]`,
  `cast(list[int], ...)`, `x: int = y | None` defaults, collections.abc subscripts).
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROOMS = ("dms", "runtime", "deploy", "fleet", "train", "synth", "model", "export", "calibration")
# What the car's commands import (the parser imports every subcommand's declaration module).
ENTRY_POINTS = ("dms.cli", "runtime.run_cli", "runtime.bench_cli", "runtime.assemble", "runtime.pipeline",
                "runtime.backends.onnxruntime_backend", "runtime.backends.tensorrt_backend", "runtime.sinks",
                "runtime.sources", "runtime.head_detector", "runtime.haar", "deploy.build_cli",
                "deploy.engine_build", "deploy.engine_job", "deploy.target_checks", "deploy.sd_notify", "dms.doctor",
                "fleet.uploader", "fleet.drive_log", "fleet.upload_cli")
BUILTIN_GENERICS = {"list", "dict", "tuple", "set", "frozenset", "type"}
ABC_GENERICS = {"Iterator", "Iterable", "Sequence", "Mapping", "MutableMapping", "Callable", "Generator",
                "deque", "defaultdict", "OrderedDict", "Counter", "AsyncResult", "Pattern", "Match"}
TYPE_NAMES = BUILTIN_GENERICS | {"int", "float", "str", "bytes", "bool", "object"}


def jetson_modules() -> list[Path]:
    """Our files that the entry points import (the closure, measured in a fresh interpreter)."""
    code = ("import json, sys\n"
            f"for m in {list(ENTRY_POINTS)!r}: __import__(m)\n"
            "import dms.cli\ndms.cli.build_parser()\n"
            f"rooms = {ROOMS!r}\n"
            "print(json.dumps(sorted({m.__file__ for n, m in list(sys.modules.items()) "
            "if n.split('.')[0] in rooms and getattr(m, '__file__', None)})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         check=True)
    return [Path(p) for p in json.loads(out.stdout.strip().splitlines()[-1])]


class RuntimeTypes(ast.NodeVisitor):
    """PEP 585 / 604 constructs outside annotations (annotations are strings under
    `from __future__ import annotations`, which every such module must have)."""

    def __init__(self, path: Path, abc_names: set[str]) -> None:
        self.path, self.abc, self.found = path, abc_names, []

    def visit_arg(self, node: ast.arg) -> None:            # an annotation: never evaluated
        return

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for n in [*node.decorator_list, *node.args.defaults, *(d for d in node.args.kw_defaults if d)]:
            self.visit(n)
        for n in node.body:
            self.visit(n)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Subscript(self, node: ast.Subscript) -> None:
        v = node.value
        name = v.id if isinstance(v, ast.Name) else v.attr if isinstance(v, ast.Attribute) else None
        if name in BUILTIN_GENERICS or name in self.abc:
            self.found.append(f"{self.path.relative_to(ROOT)}:{node.lineno}: {name}[...] at run time needs 3.9")
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.BitOr) and any(
                (isinstance(s, ast.Constant) and s.value is None) or (isinstance(s, ast.Name) and s.id in TYPE_NAMES)
                for s in (node.left, node.right)):
            self.found.append(f"{self.path.relative_to(ROOT)}:{node.lineno}: X | Y at run time needs 3.10")
        self.generic_visit(node)


def runtime_type_problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    problems = []
    has_annotations = any(isinstance(n, (ast.AnnAssign, ast.arg)) and getattr(n, "annotation", None) is not None
                          or isinstance(n, ast.FunctionDef) and n.returns is not None for n in ast.walk(tree))
    future = any(isinstance(n, ast.ImportFrom) and n.module == "__future__"
                 and any(a.name == "annotations" for a in n.names) for n in tree.body)
    if has_annotations and not future:
        problems.append(f"{path.relative_to(ROOT)}: annotations without `from __future__ import annotations`")
    abc = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
           and n.module in ("collections.abc", "collections", "multiprocessing.pool", "re", "typing_extensions")
           for a in n.names if a.name in ABC_GENERICS}
    visitor = RuntimeTypes(path, abc)
    visitor.visit(tree)
    return problems + visitor.found


@pytest.fixture(scope="module")
def modules() -> list[Path]:
    found = jetson_modules()
    assert any(p.name == "tensorrt_backend.py" for p in found) and any(p.name == "run_cli.py" for p in found)
    return found


def test_no_run_time_types_newer_than_python_3_8(modules: list[Path]) -> None:
    problems = [p for m in modules for p in runtime_type_problems(m)]
    assert not problems, "\n".join(problems)


def test_the_check_catches_what_python_3_8_would_fail_on(tmp_path: Path) -> None:
    bad = ROOT / "runtime" / "_floor_probe.py"       # inside ROOT so that paths print relative
    try:
        bad.write_text("from __future__ import annotations\nfrom collections.abc import Callable\n"
                       "Pose = tuple[float, float, float]\nHook = Callable[[int], None] | None\n"
                       "def f(x: list[int] | None = None) -> dict[str, int]:\n    return {}\n")
        found = runtime_type_problems(bad)
    finally:
        bad.unlink()
    assert len(found) == 3 and "tuple[...]" in found[0] and "3.10" in " ".join(found), found


@pytest.mark.skipif(shutil.which("vermin", path=str(Path(sys.executable).parent)) is None and
                    shutil.which("vermin") is None, reason="vermin (the dev extra) is not installed")
def test_vermin_finds_nothing_newer_than_python_3_8(modules: list[Path]) -> None:
    exe = shutil.which("vermin", path=str(Path(sys.executable).parent)) or shutil.which("vermin")
    assert exe is not None
    proc = subprocess.run([exe, "--no-tips", "--violations", "-t=3.8-", *map(str, modules)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
