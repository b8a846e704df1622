"""The program's own numbers: gcscope leaves no footprint in what it reports, and the
program sees what python gives it (exit status, collector state, modules)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from conftest import line_of, load_json, run_gcscope, run_python

MODES = [[], ["--allocations"], ["--cycles"], ["--cycles", "--allocations"]]


@pytest.mark.parametrize(
    "code", ["False", "True", "256", "-1", "2**40", "2**31+5", "3.5", "'text'", "[1]", "None"]
)
def test_exit_status_is_pythons(workdir: Path, code: str) -> None:
    plain = run_python("sys_exit.py", code, cwd=workdir)
    scoped = run_gcscope("run", "-o", "c.json", "sys_exit.py", code, cwd=workdir)
    assert scoped.returncode == plain.returncode
    assert scoped.stderr.decode().split("gcscope: capture written")[0] == plain.stderr.decode()
    assert load_json(workdir / "c.json")["exit_code"] == plain.returncode


@pytest.mark.skipif(sys.version_info < (3, 13), reason="3.13 shows -c source lines")
def test_command_traceback_shows_its_source_line_as_python_does(workdir: Path) -> None:
    code = "x = 1\n1 / 0"
    plain = run_python("-c", code, cwd=workdir)
    scoped = run_gcscope("run", "-o", "c.json", "-c", code, cwd=workdir)
    assert scoped.returncode == plain.returncode == 1
    assert scoped.stderr.decode().split("gcscope: capture written")[0] == plain.stderr.decode()


@pytest.mark.parametrize("options", MODES, ids=["default", "alloc", "cycles", "both"])
def test_an_empty_program_shows_no_footprint_of_gcscope(workdir: Path, options: list[str]) -> None:
    result = run_gcscope("run", *options, "-o", "c.json", "empty.py", cwd=workdir)
    assert result.returncode == 0, result.stderr
    capture = load_json(workdir / "c.json")
    assert [g["collections"] for g in capture["generations"]] == [0] * len(capture["generations"])
    assert capture["gc"]["sites"] == []
    if "--allocations" in options:
        allocations = capture["allocations"]
        assert allocations["top_sites"] == []
        assert allocations["growth"] == []
        assert capture["type_growth"] == []
        assert not [t for t in capture["type_sizes"]["types"] if "array" in t["type"]]
    if "--cycles" in options:
        assert capture["cycles"]["total_objects"] == 0


def first_line(stdout: bytes) -> tuple[list[int], list[list[int]]]:
    line = stdout.decode().splitlines()[0]
    count, stats = line.removeprefix("start ").split(") ", 1)
    as_json = stats.replace("(", "[").replace(")", "]")
    return [int(n) for n in count.strip("(").split(",")], json.loads(as_json)


def collections_line(stdout: bytes) -> list[int]:
    return json.loads(stdout.decode().splitlines()[1].removeprefix("collections "))


@pytest.mark.parametrize("options", MODES, ids=["default", "alloc", "cycles", "both"])
def test_the_program_starts_with_pythons_collector_state(workdir: Path, options: list[str]) -> None:
    plain = run_python("first_line_state.py", "0", cwd=workdir)
    python_count, python_stats = first_line(plain.stdout)
    threshold = 2000 if sys.version_info >= (3, 13) else 700
    # bursts just short of and just past the young generation's threshold, from the
    # count python starts the program with: 0 and 1 young collections under python
    for margin, expected in ((-150, 0), (150, 1)):
        burst = str(threshold - python_count[0] + margin)
        plain = run_python("first_line_state.py", burst, cwd=workdir)
        scoped = run_gcscope(
            "run", *options, "-o", "c.json", "first_line_state.py", burst, cwd=workdir
        )
        assert scoped.returncode == 0, scoped.stderr
        count, stats = first_line(scoped.stdout)
        # within the few objects gcscope's runner makes reading and compiling the script
        assert abs(count[0] - python_count[0]) <= 100, (count, python_count)
        assert count[1:] == python_count[1:]
        assert stats == python_stats  # gc.get_stats() as python shows it at this point
        assert collections_line(plain.stdout)[0] == expected
        assert collections_line(scoped.stdout) == collections_line(plain.stdout)
    capture = load_json(workdir / "c.json")
    assert capture["gcscope"]["collector_counters"] == "as a fresh interpreter starts"


def test_gcscope_run_dash_m_pytest_behaves_as_python_dash_m_pytest(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    (tmp_path / "test_ok.py").write_text("def test_passes():\n    assert 1 + 1 == 2\n")
    # `-p gcscope` marks the package for assertion rewriting as an installed plugin's
    # entry point does (an editable install's entry point does not, so ask explicitly)
    args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "gcscope", "-W", "error"]
    plain = run_python(*args, cwd=tmp_path)
    scoped = run_gcscope("run", "--format", "none", "-o", "c.json", *args, cwd=tmp_path)
    assert plain.returncode == 0, plain.stdout
    assert scoped.returncode == 0, scoped.stdout + scoped.stderr
    assert b"PytestAssertRewriteWarning" not in scoped.stdout + scoped.stderr
    assert b"1 passed" in scoped.stdout


def test_importing_a_dash_m_package_is_the_programs_work(workdir: Path) -> None:
    """`-m heavypkg` of an installed package: its import's collections are its own."""
    env = {**os.environ, "PYTHONPATH": str(workdir / "site-packages")}
    plain = run_python("-m", "heavypkg", cwd=workdir, env=env)
    scoped = run_gcscope("run", "-o", "c.json", "-m", "heavypkg", cwd=workdir, env=env)
    assert scoped.returncode == plain.returncode == 0, scoped.stderr
    assert scoped.stdout == plain.stdout
    capture = load_json(workdir / "c.json")
    init = workdir / "site-packages" / "heavypkg" / "__init__.py"
    by_line = {
        (s["program"] or {}).get("lineno"): s["collections"]
        for s in capture["gc"]["sites"]
        if (s["program"] or {}).get("filename") == str(init)
    }
    assert by_line.get(line_of(init, "GC-LINE")) == 20
    assert not [s for s in capture["gc"]["sites"] if s["program"] is None and s["where"] is None]


def test_code_generated_from_strings_is_charged_to_its_caller(workdir: Path) -> None:
    result = run_gcscope("run", "-o", "c.json", "generated_code.py", cwd=workdir)
    assert result.returncode == 0, result.stderr
    sites = load_json(workdir / "c.json")["gc"]["sites"]
    call_line = line_of(workdir / "generated_code.py", "CALL-LINE")
    programs = [(s["program"] or {}).get("filename") for s in sites]
    assert "<string>" not in programs
    at_call = [s for s in sites if (s["program"] or {}).get("lineno") == call_line]
    assert sum(s["collections"] for s in at_call) == 25
    assert all(s["where"]["filename"] == "<string>" for s in at_call)


def test_gcscope_keeps_its_imports_out_of_the_programs_process(workdir: Path) -> None:
    code = "import sys; print(sorted(sys.modules))"
    plain = set(json.loads(run_python("-c", code, cwd=workdir).stdout.decode().replace("'", '"')))
    result = run_gcscope("run", "-o", "c.json", "-c", code, cwd=workdir)
    scoped = set(json.loads(result.stdout.decode().replace("'", '"')))
    added = {name for name in scoped - plain if name.partition(".")[0] != "gcscope"}
    assert added <= {"array", "gc", "collections.abc"}, added
    footprint = load_json(workdir / "c.json")["gcscope"]
    assert footprint["modules_added"] == len(scoped - plain)


@pytest.mark.parametrize(
    "source",
    [
        b"# -*- coding: latin-1 -*-\nprint('caf\xe9')\n",
        b"x = (\n",
        b"print('before')\ny = 2\0\nprint('after')\n",
    ],
    ids=["coding-cookie", "syntax-error", "nul-byte"],
)
def test_the_script_is_read_and_compiled_as_python_does(tmp_path: Path, source: bytes) -> None:
    (tmp_path / "prog.py").write_bytes(source)
    plain = run_python("prog.py", cwd=tmp_path)
    scoped = run_gcscope("run", "-o", "c.json", "prog.py", cwd=tmp_path)
    assert scoped.returncode == plain.returncode
    assert scoped.stdout == plain.stdout
    assert scoped.stderr.decode().split("gcscope: capture written")[0] == plain.stderr.decode()


def test_compiling_the_script_makes_no_objects_pythons_compile_does_not(workdir: Path) -> None:
    """The builtin compile() creates the AST node types on first use; python's doesn't."""
    code = "import gc, types\nprint(sum(type(o) is types.GenericAlias for o in gc.get_objects()))"
    (workdir / "aliases.py").write_text(code)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    run_gcscope("run", "-o", "c.json", "aliases.py", cwd=workdir, env=env)  # writes .pyc files
    plain = run_python("aliases.py", cwd=workdir, env=env)
    scoped = run_gcscope("run", "-o", "c.json", "aliases.py", cwd=workdir, env=env)
    assert scoped.stdout == plain.stdout  # no list[ast.stmt] and the like


def test_gcscopes_own_objects_are_out_of_the_collectors_way(workdir: Path) -> None:
    """Every full collection traverses every tracked object: gcscope's ~600 (its modules'
    functions, classes and dicts, its probes) are set aside, out of every generation."""
    count = "import gc\ngc.collect()\nprint(len(gc.get_objects()))\n"  # what collections see
    (workdir / "count.py").write_text(count)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    run_gcscope("run", "-o", "c.json", "count.py", cwd=workdir, env=env)  # writes .pyc files
    plain = int(run_python("count.py", cwd=workdir, env=env).stdout)
    scoped = int(run_gcscope("run", "-o", "c.json", "count.py", cwd=workdir, env=env).stdout)
    # measured: +3 to +5 on 3.10-3.12 (+44 to +51 before the hook lists, closures and
    # the console script's `__main__` were set aside); -15 on 3.13, whose start-up
    # leaves ~20 constant tuples tracked that gcscope's start-up collections untracked
    assert abs(scoped - plain) < 30, (scoped, plain)
    assert load_json(workdir / "c.json")["gcscope"]["objects_set_aside"] > 400


# Lists what, among the objects the program's collections traverse, is gcscope's or
# holds gcscope's: instances, functions, bound methods, classes and modules of gcscope,
# and the containers and cells that refer to them. Left out, as python holds every
# module and hook the same way: the import system's tables, gc.callbacks, the standard
# modules' dicts (gcscope's wrappers of os and signal functions live there) and the
# interpreter's list of extension modules; and frames (on 3.10 they are objects, and
# gcscope's runner's frames are below the program's, as coverage.py's are).
FIND_GCSCOPES_OBJECTS = """\
import gc, sys, types

def gcscopes(item):
    if isinstance(item, types.MethodType):
        item = item.__func__
    if isinstance(item, types.ModuleType):
        name = item.__name__
    elif isinstance(item, (type, types.FunctionType)):
        name = item.__module__
    else:
        name = type(item).__module__
    return isinstance(name, str) and name.split(".")[0] == "gcscope"

shared = {id(gc.callbacks), id(sys.meta_path), id(sys.path_hooks), id(sys.modules)}
shared |= {id(sys.path_importer_cache)}
shared |= {id(vars(module)) for module in list(sys.modules.values())}
gc.collect()
found = []
for item in gc.get_objects():
    if id(item) in shared or item is found or isinstance(item, types.FrameType):
        continue
    if gcscopes(item):
        found.append(type(item).__name__)
        continue
    held = [referent for referent in gc.get_referents(item) if gcscopes(referent)]
    if held and not all(isinstance(referent, types.ModuleType) for referent in held):
        found.append(type(item).__name__ + " holding " + type(held[0]).__name__)
print(sorted(found))
"""


@pytest.mark.parametrize("entry", ["console script", "python -m gcscope"])
def test_nothing_of_gcscopes_is_among_the_programs_objects(workdir: Path, entry: str) -> None:
    """Ground truth: python's heap has no gcscope; the program's collections under
    gcscope must traverse none of gcscope's objects either (its closures, the bound
    methods it registers as fork hooks or thread targets, the lists the interpreter
    keeps them in, the `__main__` it started as)."""
    (workdir / "find.py").write_text(FIND_GCSCOPES_OBJECTS)
    assert run_python("find.py", cwd=workdir).stdout == b"[]\n"
    if entry == "console script":
        scoped = run_gcscope("run", "-o", "c.json", "find.py", cwd=workdir)
    else:
        scoped = run_python("-m", "gcscope", "run", "-o", "c.json", "find.py", cwd=workdir)
    assert scoped.returncode == 0, scoped.stderr
    assert scoped.stdout == b"[]\n"


def test_nothing_of_gcscopes_is_among_the_objects_of_a_forking_program(workdir: Path) -> None:
    """After a fork gcscope's sampling thread starts again in both processes: that
    restart must leave nothing of gcscope's in either heap either."""
    forking = (
        "import os\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    exec(open('find.py').read(), {'__name__': 'child'})\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "exec(open('find.py').read(), {'__name__': 'parent'})\n"
    )
    (workdir / "find.py").write_text(FIND_GCSCOPES_OBJECTS)
    (workdir / "forking.py").write_text(forking)
    assert run_python("forking.py", cwd=workdir).stdout == b"[]\n[]\n"
    scoped = run_gcscope("run", "-o", "c.json", "forking.py", cwd=workdir)
    assert scoped.returncode == 0, scoped.stderr
    assert scoped.stdout == b"[]\n[]\n"


def test_a_program_running_gcscope_in_its_own_process_keeps_its_main(workdir: Path) -> None:
    """A launcher that calls gcscope's command line in its own process: its `__main__`
    is its own, not gcscope's to set aside. Set aside, a list it hands the measured
    program would never be traversed, and a cycle through it never collected."""
    (workdir / "launcher.py").write_text(
        "import builtins, sys\n"
        "shared = [[]]\n"
        "builtins.SHARED = shared\n"
        "if sys.argv[1:] == ['plain']:\n"
        "    exec(open('cycle_through_shared.py').read(), {'__name__': '__main__'})\n"
        "else:\n"
        "    from gcscope.cli import main\n"
        "    main(['run', '--format', 'none', '-o', 'c.json', 'cycle_through_shared.py'])\n"
    )
    (workdir / "cycle_through_shared.py").write_text(
        "import builtins, gc, weakref\n"
        "class Node: pass\n"
        "inner = builtins.SHARED.pop()\n"
        "node = Node(); node.link = inner; inner.append(node)\n"
        "alive = weakref.ref(node)\n"
        "del node, inner\n"
        "gc.collect()\n"
        "print('alive' if alive() else 'collected')\n"
    )
    assert run_python("launcher.py", "plain", cwd=workdir).stdout == b"collected\n"
    scoped = run_python("launcher.py", cwd=workdir)
    assert scoped.stdout == b"collected\n", scoped.stderr


def test_python_dash_m_gcscope_leaves_no_runpy_in_a_scripts_heap(workdir: Path) -> None:
    """`python -m gcscope run app.py` starts gcscope through runpy, which `python app.py`
    never imports: its ~50 tracked objects are set aside like gcscope's own."""
    count = "import gc\ngc.collect()\nprint(len(gc.get_objects()))\n"  # what collections see
    (workdir / "count.py").write_text(count)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    run_gcscope("run", "-o", "c.json", "count.py", cwd=workdir, env=env)  # writes .pyc files
    console = int(run_gcscope("run", "-o", "c.json", "count.py", cwd=workdir, env=env).stdout)
    dash_m = run_python("-m", "gcscope", "run", "-o", "m.json", "count.py", cwd=workdir, env=env)
    assert dash_m.returncode == 0, dash_m.stderr
    assert abs(int(dash_m.stdout) - console) < 15, (int(dash_m.stdout), console)  # runpy: 22+
    assert load_json(workdir / "m.json")["gcscope"]["modules_set_aside"] == ["array", "runpy"]


def test_gcscope_compiling_its_own_modules_leaves_nothing_in_the_programs_heap(
    workdir: Path, tmp_path: Path
) -> None:
    """With no bytecode for gcscope's modules (a fresh editable install, an edit,
    PYTHONDONTWRITEBYTECODE), importing them would compile them with compile(), which
    creates the ast module's node types (500+ objects python's heap does not have).
    Here gcscope runs from a copy of its package without any bytecode."""
    import gcscope

    package = Path(gcscope.__file__).parent
    copy = tmp_path / "site" / "gcscope"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(copy.parent)}
    plain = run_python("heap_at_start.py", cwd=workdir, env=env)
    scoped = run_gcscope("run", "-o", "c.json", "heap_at_start.py", cwd=workdir, env=env)
    assert scoped.returncode == plain.returncode == 0, scoped.stderr
    plain_lines = plain.stdout.decode().splitlines()
    lines = scoped.stdout.decode().splitlines()
    assert plain_lines[0] == "ast node types: False"
    assert lines[0] == "ast node types: False"  # and the program ran once:
    assert len(lines) == len(plain_lines) == 2
    plain_objects, objects = (int(text.split(": ")[1]) for text in (plain_lines[1], lines[1]))
    assert abs(objects - plain_objects) < 300, (objects, plain_objects)
    assert list(copy.glob("__pycache__/cli.*.pyc"))  # gcscope ran from the copy
    assert load_json(workdir / "c.json")["exit_code"] == 0


@pytest.mark.parametrize(
    "options",
    [[], ["--cycles"], ["--cycles", "--allocations"], ["--allocations=sampled"]],
    ids=["default", "cycles", "cycles-alloc", "sampled"],
)
def test_explicit_collections_leave_the_gen0_count_as_python_does(
    workdir: Path, options: list[str]
) -> None:
    """bm_gc_collect's loop (collect, make 2,100 cyclic objects, collect): a callback
    that allocated an argument tuple after each full collection made one gen-0 collection
    more per loop on 3.11-3.12 (161 against 111 in 50 loops)."""
    plain = run_python("collect_loop.py", cwd=workdir)
    scoped = run_gcscope(
        "run", *options, "-o", "c.json", "--format", "none", "collect_loop.py", cwd=workdir
    )
    assert scoped.returncode == plain.returncode == 0, scoped.stderr
    (young, middle, full), expected = json.loads(scoped.stdout), json.loads(plain.stdout)
    assert [middle, full] == expected[1:]
    # the count at the first line comes from a fresh interpreter's start-up, within a few
    # dozen objects of this one's: the first gen-0 collection may fall one period apart
    # (the bugs: +50, and +0 to +3 from GC allocations of the RSS thread)
    assert abs(young - expected[0]) <= 1, (young, expected)
    assert load_json(workdir / "c.json")["gc"]["get_stats"]["reconciled"]
