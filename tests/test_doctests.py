"""The >>> examples in pycluster's docstrings, and every code block of the docs/ pages, run
and show what they claim.

Every module under src/pycluster whose source has a ``>>>`` is one test here, so a new
module with examples is picked up without a list to keep. Examples that need a running
cluster are marked ``# doctest: +SKIP`` and stay skipped. A module that cannot be imported
because an optional library is missing is skipped, naming that library.

Every page under docs/ is one test too; each fenced block must say its language:
``pycon`` runs as a doctest, ``python`` is executed, ``console`` lines are ``$ pycluster ...``
commands parsed by the real CLI (a renamed command or option fails; nothing is started),
``$ curl ...`` requests checked against the REST app's own OpenAPI schema (the route, the
method, and a JSON body against the request model), or ``$ export NAME=value``; ``yaml``
and ``json`` must parse (a block starting ``# pycluster.yaml`` is also checked against the
settings' JSON schema and loaded), and ``text`` is output or a diagram, not code.
"""

from __future__ import annotations

import ast
import contextlib
import doctest
import functools
import importlib
import io
import json
import os
import re
import shlex
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import pycluster

SRC = Path(pycluster.__file__).parent
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def modules_with_examples() -> list[str]:
    """Dotted names of the modules whose source has a ``>>>`` (found without importing them)."""
    names = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "__main__.py" or ">>>" not in path.read_text(encoding="utf-8"):
            continue  # running a __main__ on import would start a program, not show an example
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = modules_with_examples()


def test_discovery_finds_the_modules_with_examples() -> None:
    # a few that have had examples for long: if these are missing the finder is broken,
    # and every parametrized test below would pass by testing nothing
    known = {
        "pycluster",
        "pycluster.compat",
        "pycluster.compat.windows",
        "pycluster.compat.network",
        "pycluster.cluster.local_heads",
        "pycluster.jobs.policy",
        "pycluster.net.protocol",
    }
    assert known <= set(MODULES), known - set(MODULES)
    assert len(MODULES) >= 40


def run_examples(name: str) -> tuple[doctest.TestResults, str]:
    """Run the examples of module ``name``; (results, the report of the failing ones)."""
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if not missing or missing == "pycluster":
            raise
        pytest.skip(f"{name} needs the optional library {missing!r}, which is not installed")
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test, out=report.write)
    return runner.summarize(verbose=False), report.getvalue()


@contextlib.contextmanager
def contained(tmp_path: Path) -> Iterator[None]:
    """Examples may set environment variables, change directory or make temp folders:
    all of it lands in ``tmp_path`` and is undone on leaving, the session's settings stay."""
    before = dict(os.environ)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # an example's mkdtemp() lands here
        try:
            yield
        finally:
            for key in set(os.environ) - set(before):
                del os.environ[key]
            for key, value in before.items():
                if os.environ.get(key) != value:
                    os.environ[key] = value


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, tmp_path: Path) -> None:
    with contained(tmp_path):
        results, report = run_examples(name)
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples failed:\n{report}"


def test_examples_leave_the_session_environment_alone(tmp_path: Path) -> None:
    # local_heads' example points PYCLUSTER_RUNTIME_DIR elsewhere; the heads of later tests
    # must still publish their connection files in the session's folder (tests/conftest.py)
    session_runtime = os.environ["PYCLUSTER_RUNTIME_DIR"]
    cwd = Path.cwd()
    with contained(tmp_path):
        results, report = run_examples("pycluster.cluster.local_heads")
        assert results.attempted > 0 and results.failed == 0, report
        assert os.environ["PYCLUSTER_RUNTIME_DIR"] != session_runtime  # the example did change it
    assert os.environ["PYCLUSTER_RUNTIME_DIR"] == session_runtime
    assert Path.cwd() == cwd


# ------------------------------------------------------------------ the documentation pages
DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
FENCE = re.compile(r"^```(?P<lang>[^\n`]*)\n(?P<code>.*?)^```[ \t]*$", re.M | re.S)


def test_the_docs_pages_are_found() -> None:
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    assert {"index.md", "configuration.md", "architecture.md", "how-to/progress.md"} <= names


def check_command(line: str) -> None:
    """``pycluster ...`` parsed by the real click commands, down to the last subcommand; nothing runs."""
    import click

    from pycluster.cli.main import cli

    args = shlex.split(line)
    assert args[0] == "pycluster", f"only pycluster commands can be checked: {line!r}"
    command: click.Command = cli
    ctx = command.make_context("pycluster", args[1:])
    while isinstance(command, click.Group):
        rest = [*ctx._protected_args, *ctx.args]
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None and name is not None, line
        command, ctx = sub, sub.make_context(name, rest, parent=ctx)


@functools.lru_cache(maxsize=1)
def openapi() -> dict[str, Any]:
    """The REST app's schema, from an app that is built but never opened or served."""
    from pycluster.config import Settings
    from pycluster.web.app import create_app
    from pycluster.web.controller import StandaloneController

    schema: dict[str, Any] = create_app(StandaloneController(Settings.load(False, env={}))).openapi()
    return schema


def check_curl(line: str) -> None:
    """``curl ...``: its method and path are a route of the app, and its -d body fits the route's model."""
    import jsonschema

    args = shlex.split(line)
    url = next(a for a in args if a.startswith("http"))
    body = args[args.index("-d") + 1] if "-d" in args else None
    method = args[args.index("-X") + 1] if "-X" in args else ("POST" if body else "GET")
    path = "/" + url.split("://", 1)[1].partition("/")[2].partition("?")[0]
    schema = openapi()
    routes = [p for p in schema["paths"] if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", p), path)]
    assert routes, f"no route {path} in the REST API: {line!r}"
    # /data/partition before /data/{dataset_id}: a literal segment wins, as in the app's routing
    operations = [schema["paths"][r].get(method.lower()) for r in sorted(routes, key=lambda r: r.count("{"))]
    operation = next((o for o in operations if o is not None), None)
    assert operation is not None, f"{method} is not a method of {routes}: {line!r}"
    if body is not None:
        model = operation["requestBody"]["content"]["application/json"]["schema"]
        data = json.loads(body)
        model = _variant_for(data, model, schema["components"]["schemas"])
        jsonschema.validate(data, {**model, "components": schema["components"]})


def _variant_for(data: Any, model: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """A ``oneOf`` body (one variant per job operation): the variant whose constant fields the body
    has, so that a mistake is reported against that variant ("'priorty' was unexpected"), not as
    "valid under none of ten"."""
    if "oneOf" not in model or not isinstance(data, dict):
        return model
    for variant in model["oneOf"]:
        resolved = components[variant["$ref"].rsplit("/", 1)[1]] if "$ref" in variant else variant
        constants = {k: p["const"] for k, p in resolved.get("properties", {}).items() if "const" in p}
        if constants and all(data.get(k) == v for k, v in constants.items()):
            return dict(variant)
    return model


def check_yaml(code: str) -> None:
    import jsonschema
    import yaml

    from pycluster.config import Settings
    from pycluster.config_schema import json_schema

    data = yaml.safe_load(code)
    if code.startswith("# pycluster.yaml"):
        jsonschema.validate(data, json_schema())
        Settings.load(False, env={}, config_values=data)


FRAGMENT = "# fragment:"  # first line of a python block that is compiled, not run (says what it needs)


def run_block(page: Path, lang: str, code: str, line: int, tmp_path: Path) -> None:
    where = f"{page.relative_to(DOCS)}:{line}"
    if lang == "text":
        return
    if lang == "pycon":
        test = doctest.DocTestParser().get_doctest(code, {}, where, str(page), line)
        runner = doctest.DocTestRunner(optionflags=FLAGS)
        report = io.StringIO()
        runner.run(test, out=report.write)
        assert runner.summarize(verbose=False).failed == 0, f"{where}:\n{report.getvalue()}"
    elif lang == "python" and code.startswith(FRAGMENT):
        # a fragment needs what a page cannot give (a deployed model, GPUs): it must compile,
        # and its imports must work; the rest is covered by the tests of that feature
        tree = ast.parse(code, where)
        imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
        exec(compile(ast.Module(imports, []), where, "exec"), {"__name__": "__docs__"})
    elif lang == "python":
        exec(compile(code, where, "exec"), {"__name__": "__docs__"})
    elif lang == "console":
        for command in (c[2:] for c in code.splitlines() if c.startswith("$ ")):
            if command.startswith("export "):
                assert re.fullmatch(r"export [A-Z_][A-Z0-9_]*=\S+", command), where
            elif command.startswith("curl "):
                check_curl(command)
            else:
                check_command(command)
    elif lang == "yaml":
        check_yaml(code)
    elif lang == "json":
        json.loads(code)
    else:
        raise AssertionError(
            f"{where}: a code block needs a language: pycon, python, console, yaml, json or text"
        )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_every_code_block_of_the_docs_runs(page: Path, tmp_path: Path) -> None:
    text = page.read_text(encoding="utf-8")
    with contained(tmp_path):
        for block in FENCE.finditer(text):
            line = text.count("\n", 0, block.start()) + 2
            run_block(page, block.group("lang").strip(), block.group("code"), line, tmp_path)


def test_a_console_block_with_a_wrong_command_or_option_fails() -> None:
    import click
    import jsonschema

    check_command("pycluster jobs --url http://127.0.0.1:1 wait job_1 --interval 0.5")
    submit = "curl -X POST http://127.0.0.1:8787/api/processing/jobs/submit -d"
    check_curl(submit + """ '{"operation": "sleep", "priority": "HIGH"}'""")
    with pytest.raises(jsonschema.ValidationError, match="'priorty' was unexpected"):
        check_curl(submit + """ '{"operation": "sleep", "priorty": "HIGH"}'""")
    with pytest.raises(AssertionError, match="no route /api/processing/job/x/status"):
        check_curl("curl http://127.0.0.1:8787/api/processing/job/x/status")
    for wrong in ("pycluster jobs wiat job_1", "pycluster head --local-worker 2", "pycluster config save"):
        with pytest.raises(click.UsageError):
            check_command(wrong)


def test_the_rest_reference_page_is_current() -> None:
    # docs/reference/rest.md is written from the app's OpenAPI schema; a route added, renamed
    # or re-described without running the generator leaves the page stale and fails here
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_rest_reference", DOCS / "gen_rest_reference.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    page = (DOCS / "reference" / "rest.md").read_text(encoding="utf-8")
    assert page == generator.render(openapi()), (
        "docs/reference/rest.md is stale: run python docs/gen_rest_reference.py"
    )
    assert "| `POST` | `/api/processing/jobs/submit` |" in page  # the generator lists real routes


def test_the_readmes_commands_are_real() -> None:
    # the README's quick start: each `pycluster ...` line parsed by the CLI, each `curl` a route
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    lines = [
        line.split("  #", 1)[0].strip()
        for block in FENCE.finditer(readme)
        if block.group("lang").strip() == "bash"
        for line in block.group("code").splitlines()
    ]
    checked = 0
    for line in lines:
        if line.startswith("pycluster "):
            check_command(line)
        elif line.startswith("curl "):
            check_curl(line)
        else:
            assert line.startswith("make "), f"README: a bash line this test cannot check: {line!r}"
            continue
        checked += 1
    assert checked >= 3, lines
