"""`gcscope run --follow`: every Python process of the tree writes its own capture, whose
figures are that process's own (ground truth: each process records its collections)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import load_json, run_gcscope, run_python
from follow_helpers import (
    assert_matches_truth,
    captures,
    full_collections,
    settle,
    truth,
    windows_full,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process trees")
ENDINGS = ["exit", "os_exit", "return", "exception", "sigterm"]


def run_tree(workdir: Path, *args: str, env: dict[str, str] | None = None):
    result = run_gcscope("run", "--follow", "-o", "out", *args, cwd=workdir, env=env)
    settle(workdir / "out")
    return result


@pytest.mark.parametrize(
    "method, ending", [("fork", "terminate"), ("spawn", "join"), ("forkserver", "join")]
)
def test_pool_workers_and_subprocess_children_write_their_own_captures(
    workdir: Path, method: str, ending: str
) -> None:
    plain = run_python("tree_truth.py", method, "plain.jsonl", ending, cwd=workdir)
    result = run_tree(workdir, "tree_truth.py", method, "truth.jsonl", ending)
    assert result.returncode == plain.returncode == 0, result.stderr
    assert result.stdout == plain.stdout == b"done 4\n"
    by_pid = captures(workdir / "out")
    windows = truth(workdir / "truth.jsonl")
    assert_matches_truth(by_pid, windows)
    main = next(pid for pid, c in by_pid.items() if c["process"]["role"] == "main")
    child = next(pid for pid, c in by_pid.items() if c["process"]["role"] == "subprocess")
    assert by_pid[child]["process"]["parent_pid"] == main
    assert (by_pid[child]["exit_code"], by_pid[child]["ended_by"]) == (0, "exit")
    workers = {w["pid"] for w in windows} - {main, child}
    # the pool's two workers, each ran its initializer (unless the pool's end killed one
    # that was still starting)
    assert len(workers) == 2 or (ending == "terminate" and len(workers) == 1)
    expected_role = "spawned" if method == "spawn" else "forked"
    for pid in workers:
        process = by_pid[pid]["process"]
        assert process["role"] == expected_role
        if method == "forkserver":  # forked by multiprocessing's fork server, a new interpreter
            server = by_pid[process["parent_pid"]]["process"]
            assert (server["role"], server["parent_pid"]) == ("spawned", main)
        else:
            assert process["parent_pid"] == main
        # only the worker's own collections: none of its parent's before the fork
        assert full_collections(by_pid[pid]) == windows_full(windows, pid)
        assert process["tree"] == by_pid[main]["process"]["tree"]
        assert process["start_offset_s"] > 0
    if method == "fork":
        assert by_pid[main]["process"]["children"] == {"forked": 2, "started": 1}


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_every_option_of_run_applies_to_each_followed_process(workdir: Path, method: str) -> None:
    options = ["--cycles", "--allocations", "--rss-interval", "20ms"]
    result = run_tree(workdir, *options, "tree_truth.py", method, "truth.jsonl", "join")
    assert result.returncode == 0, result.stderr
    by_pid = captures(workdir / "out")
    windows = truth(workdir / "truth.jsonl")
    assert_matches_truth(by_pid, windows)
    for pid in {w["pid"] for w in windows}:
        capture = by_pid[pid]
        knots = {
            row["type"]: row["count"]
            for row in capture["cycles"]["by_type"]
            if row["type"].endswith(".Knot")
        }
        assert sum(knots.values()) == sum(w["knots"] for w in windows if w["pid"] == pid)
        assert capture["allocations"]["snapshots"] >= 2
        assert capture["allocations"]["started_by"] in ("gcscope", "program")
        assert capture["rss"]["interval_s"] <= 0.04
    # --interval too (not against ground truth: while gcscope's interval snapshot runs,
    # a collection of the program's in another thread is counted as gcscope's own)
    (workdir / "truth.jsonl").unlink()
    result = run_tree(workdir, "--interval", "50ms", "tree_truth.py", method, "truth.jsonl", "join")
    assert result.returncode == 0, result.stderr
    for pid in {w["pid"] for w in truth(workdir / "truth.jsonl")}:
        allocations = captures(workdir / "out")[pid]["allocations"]
        assert allocations["interval_s"] == 0.05 and allocations["snapshots"] >= 2


def test_forked_children_leave_a_capture_however_they_end(
    workdir: Path, callback: tuple[str, dict[str, str]]
) -> None:
    _, env = callback
    result = run_tree(workdir, "fork_endings.py", "truth.jsonl", env=env)
    plain = run_python("fork_endings.py", "plain.jsonl", cwd=workdir)
    assert result.returncode == plain.returncode == 0, result.stderr
    assert result.stdout == plain.stdout
    by_pid = captures(workdir / "out")
    windows = truth(workdir / "truth.jsonl")
    assert_matches_truth(by_pid, windows)
    main = next(pid for pid, c in by_pid.items() if c["process"]["role"] == "main")
    assert full_collections(by_pid[main]) == 3  # the parent's: none of its children's
    children = sorted((w["pid"] for w in windows), key=lambda pid: by_pid[pid]["process"]["pid"])
    endings = {
        (by_pid[pid]["exit_code"], by_pid[pid]["ended_by"], windows_full(windows, pid))
        for pid in children
    }
    assert endings == {
        (3, "exit", 1),
        (4, "os._exit", 2),
        (0, "return", 3),
        (1, "exception", 4),
        (143, "SIGTERM", 5),
    }
    for pid in children:
        assert full_collections(by_pid[pid]) == windows_full(windows, pid)
        assert by_pid[pid]["process"]["parent_pid"] == main
    assert by_pid[main]["process"]["children"]["forked"] == 5
    assert by_pid[main]["forks"] == 5


def test_without_follow_children_run_untouched_and_are_counted(workdir: Path) -> None:
    result = run_gcscope("run", "-o", "c.json", "tree_truth.py", "fork", "truth.jsonl", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert list(workdir.glob("gcscope-*")) == []
    capture = load_json(workdir / "c.json")
    assert capture["process"]["followed"] is False
    assert capture["process"]["children"] == {"forked": 2, "started": 1}
    assert "3 child processes (2 forked, 1 started" in result.stderr.decode()
    code = (
        "import subprocess, sys; subprocess.run([sys.executable, '-c', "
        '\'import os, sys; print(os.environ.get("GCSCOPE_FOLLOW"), '
        '[m for m in sys.modules if m.startswith("gcscope")])\'])'
    )
    result = run_gcscope("run", "-o", "c.json", "-c", code, cwd=workdir)
    assert result.stdout == b"None []\n"
    assert load_json(workdir / "c.json")["process"]["children"] == {"forked": 0, "started": 1}


def test_a_child_given_its_own_environment_is_followed_and_behaves_as_under_python(
    workdir: Path,
) -> None:
    code = (
        "import subprocess, sys\n"
        "r = subprocess.run([sys.executable, '-c', 'import sys; print(sys.argv[1:]); "
        "sys.stderr.write(\"err\\\\n\"); sys.exit(7)', 'a b'], env={'PATH': '/usr/bin'})\n"
        "print(r.returncode)\n"
        "r = subprocess.run([sys.executable, 'no_such_script.py'])\n"
        "print(r.returncode)\n"
    )
    plain = run_python("-c", code, cwd=workdir)
    started = time.monotonic()
    result = run_tree(workdir, "-c", code)
    # the child ends before gcscope's sampling thread has run a line: had it been held
    # as one of the program's threads, the child would have waited out the hold's 10 s
    assert time.monotonic() - started < 8
    assert result.returncode == plain.returncode == 0
    assert result.stdout == plain.stdout == b"['a b']\n7\n2\n"
    stderr = result.stderr.decode()
    assert stderr.startswith(plain.stderr.decode())  # the child's own err line, python's error
    by_pid = captures(workdir / "out")
    roles = sorted((c["process"]["role"], c["exit_code"]) for c in by_pid.values())
    assert roles == [("main", 0), ("subprocess", 7)]  # the missing script ran unmeasured


def test_the_output_folder(workdir: Path) -> None:
    marker = workdir / "ran"
    program = f"open({str(marker)!r}, 'w').close()"

    def refused(output: str) -> str:
        result = run_gcscope("run", "--follow", "-o", output, "-c", program, cwd=workdir)
        assert result.returncode == 2
        assert not marker.exists()
        lines = result.stderr.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith("gcscope: "), lines
        return lines[0]

    (workdir / "a-file").write_text("mine")
    assert "not a folder" in refused("a-file")
    assert "does not exist" in refused("missing/out")
    (workdir / "busy").mkdir()
    (workdir / "busy" / "notes.txt").write_text("mine")
    assert "notes.txt" in refused("busy")
    assert (workdir / "busy" / "notes.txt").read_text() == "mine"
    assert (workdir / "a-file").read_text() == "mine"
    # created when missing; a previous run's captures are replaced
    for _ in range(2):
        result = run_gcscope("run", "--follow", "-o", "new", "-c", program, cwd=workdir)
        assert result.returncode == 0, result.stderr
        assert len(list((workdir / "new").iterdir())) == 1
    # without -o: a folder named after the program and the pid
    result = run_gcscope("run", "--follow", "empty.py", cwd=workdir)
    assert result.returncode == 0, result.stderr
    (folder,) = workdir.glob("gcscope-empty-*")
    assert folder.is_dir() and len(list(folder.glob("gcscope-*.json"))) == 1


def site_packages(python: str) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip())


def test_the_pth_hook_is_installed_and_idle_without_the_variable(tmp_path: Path) -> None:
    pth = site_packages(sys.executable) / "gcscope-follow.pth"
    lines = pth.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("import os; 'GCSCOPE_FOLLOW' in os.environ")
    code = (
        "import sys; print([m for m in sys.modules if m.startswith('gcscope')], sys.orig_argv[1])"
    )
    env = {k: v for k, v in os.environ.items() if k != "GCSCOPE_FOLLOW"}
    assert run_python("-c", code, cwd=tmp_path, env=env).stdout == b"[] -c\n"
    # a value gcscope did not write: the program runs as it is, not re-executed
    env["GCSCOPE_FOLLOW"] = "not gcscope's"
    assert run_python("-c", code, cwd=tmp_path, env=env).stdout.endswith(b" -c\n")


def test_a_regular_install_ships_the_pth_and_uninstall_removes_it(tmp_path: Path) -> None:
    """`pip install .` (a wheel, not editable) into a fresh virtual environment."""
    project = Path(__file__).resolve().parent.parent
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    source = tmp_path / "src"
    for name in files:
        if (project / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((project / name).read_bytes())
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", str(source)], capture_output=True, timeout=600
    )
    assert install.returncode == 0, install.stderr
    pth = site_packages(python) / "gcscope-follow.pth"
    assert pth.exists()
    code = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'print(1)'], check=True)"
    result = subprocess.run(
        [str(venv / "bin" / "gcscope"), "run", "--follow", "-o", "out", "-c", code],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    settle(tmp_path / "out")
    roles = sorted(c["process"]["role"] for c in captures(tmp_path / "out").values())
    assert roles == ["main", "subprocess"]
    subprocess.run([python, "-m", "pip", "uninstall", "-q", "-y", "gcscope"], check=True)
    assert not pth.exists()


def test_a_followed_script_child_has_no_runpy_of_gcscopes_in_its_heap(workdir: Path) -> None:
    """A followed child is started as `python -m gcscope.follow_child script.py`: the
    runpy that -m imported is gcscope's (`python script.py` never imports it), so it is
    set aside with gcscope's own objects, out of the child's collections."""
    (workdir / "child.py").write_text(
        "import gc, sys\n"
        "gc.collect()\n"
        "print(any(getattr(o, '__name__', None) == 'runpy' for o in gc.get_objects()))\n"
    )
    code = "import subprocess, sys\nsubprocess.run([sys.executable, 'child.py'])\n"
    plain = run_python("-c", code, cwd=workdir)
    result = run_tree(workdir, "-c", code)
    assert result.returncode == plain.returncode == 0, result.stderr
    assert result.stdout == plain.stdout == b"False\n"
    by_pid = captures(workdir / "out")
    child = next(c for c in by_pid.values() if c["process"]["role"] == "subprocess")
    assert "runpy" in child["gcscope"]["modules_set_aside"]
