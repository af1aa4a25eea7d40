"""The repository's layout holds: no import cycles, one command line, leaf modules for paths and
settings. Imports are read from the source (ast), those inside functions included: a cycle
hidden in a function is still a cycle a reader has to untangle."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from flightpipe import cli

REPO = Path(__file__).resolve().parents[2]
# Each import root of the project's code and where its modules are.
ROOTS = {
    "flightpipe": REPO / "flightpipe",
    "awsglue": REPO / "flightpipe" / "gluelocal" / "shim" / "awsglue",
    "chalicelib": REPO / "chalice_app" / "chalicelib",
    "flightpipe_localstack": REPO / "localstack" / "flightpipe_localstack",
    "flightjob": REPO / "glue_job" / "flightjob",
}
GLUE_JOB = REPO / "glue_job"  # the job scripts, beside their package


def project_modules() -> dict[str, Path]:
    modules = {}
    for root, folder in ROOTS.items():
        for path in folder.rglob("*.py"):
            parts = [root, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            if root == "flightpipe" and "shim" in parts:
                continue  # the shim is its own root, awsglue
            modules[".".join(parts)] = path
    for path in GLUE_JOB.glob("*.py"):
        modules[path.stem] = path
    return modules


def imported(module: str, path: Path) -> Iterator[str]:
    """Every module name ``path`` imports, relative imports resolved."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *filter(None, [base])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target in imported(name, path):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_the_project_imports_itself_back():
    assert cycles(import_graph()) == []


def test_only_the_entry_point_imports_the_command_line():
    importers = sorted(
        name
        for name, targets in import_graph().items()
        if "flightpipe.cli" in targets and name != "flightpipe.__main__"
    )
    assert importers == []


def test_paths_and_settings_are_leaves():
    graph = import_graph()
    assert graph["flightpipe.paths"] == set()
    assert graph["flightpipe.settings"] <= {"flightpipe.paths"}


def test_every_command_module_is_on_the_command_line():
    """Each module of flightpipe/commands registers commands, each listed in ``cli.COMMANDS``
    with that module, and ``flightpipe --help`` offers exactly those."""
    folder = REPO / "flightpipe" / "commands"
    modules = {path.stem for path in folder.glob("*.py")} - {"__init__"}
    assert set(cli.COMMANDS.values()) == modules
    offered = cli.parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert list(offered) == list(cli.COMMANDS)
    for command, module in cli.COMMANDS.items():
        alone = cli.parser(command)._subparsers._group_actions[0].choices  # type: ignore[union-attr]
        assert command in alone, f"flightpipe.commands.{module} does not register {command}"


def test_the_makefile_runs_the_command_line_not_modules():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.findall(r"python -m flightpipe\S*", makefile) == []


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_each_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main([name, "--help"])
    assert exited.value.code == 0
    assert f"usage: flightpipe {name}" in capsys.readouterr().out


# The local awsglue's own helper module: private so that the conformance test, which compares
# the public surface of the local awsglue with AWS's, does not count it as surface AWS lacks.
PRIVATE_BY_DESIGN = {"awsglue._jvm"}


def test_tests_use_public_names_and_the_support_package():
    """Tests import what the project makes public, and share helpers through tests/support,
    never through a conftest or another test module."""
    problems = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        where = path.relative_to(REPO)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
                continue
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            if node.module.split(".")[0] in ROOTS:
                private = [
                    n
                    for n in names
                    if any(p.startswith("_") and not p.startswith("__") for p in n.split("."))
                    and n not in PRIVATE_BY_DESIGN
                ]
                problems += [f"{where}: imports private {n}" for n in private]
            parts = node.module.split(".")
            if parts[0] == "tests" and (parts[-1] == "conftest" or parts[-1].startswith("test_")):
                problems.append(f"{where}: imports from {node.module}")
    assert problems == []


def test_the_job_scripts_import_only_their_package_of_the_project():
    """The Glue job scripts reach the project's code only through ``flightjob``, the archive
    Glue gets, and ``awsglue``, which Glue provides (the local runtime's stand-in for it here);
    the package imports nothing of the local tooling."""
    graph = import_graph()
    scripts = {path.stem for path in GLUE_JOB.glob("*.py")}
    assert scripts == {"delayed_flights", "load_airports"}
    for name in scripts | {n for n in graph if n.startswith("flightjob")}:
        outside = {t for t in graph[name] if not t.startswith(("flightjob", "awsglue"))}
        assert outside == set(), name
