"""A run is never lost: every way the program ends leaves a capture, and only one."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import gcscope_command, load_json, run_gcscope, run_python

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process endings")


def start(workdir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    process = subprocess.Popen(
        [*gcscope_command(), "run", *args],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    return process


def wait_ready(process: subprocess.Popen) -> list[bytes]:
    """Lines the program printed up to and including "ready"."""
    lines = []
    while True:
        line = process.stdout.readline()  # type: ignore[union-attr]
        assert line, "the program ended before it was ready"
        lines.append(line)
        if line == b"ready\n":
            return lines


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_termination_signal_writes_the_capture_then_dies_of_it(workdir: Path, signum: int) -> None:
    name = signal.Signals(signum).name
    (workdir / "c.json").write_text("a previous run's capture")
    process = start(workdir, "-o", "c.json", "endings.py", name.lower())
    wait_ready(process)
    time.sleep(0.3)  # collections happen
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == -signum  # as python: killed by the same signal
    capture = load_json(workdir / "c.json")
    assert capture["ended_by"] == name
    assert capture["exit_code"] == 128 + signum
    assert capture["generations"][0]["collections"] > 0
    assert stderr.decode().count("capture written") == 1


def test_program_handler_is_respected_and_gcscope_is_invisible(workdir: Path) -> None:
    process = start(workdir, "-o", "c.json", "endings.py", "own-handler")
    lines = wait_ready(process)
    # signal.getsignal shows the default, signal.signal returns it: as under python
    assert lines[:2] == [b"default True\n", b"previous True\n"]
    process.send_signal(signal.SIGTERM)
    stdout, _ = process.communicate(timeout=30)
    assert process.returncode == 3
    assert stdout == b"handled 15\n"
    capture = load_json(workdir / "c.json")
    assert (capture["ended_by"], capture["exit_code"]) == ("exit", 3)


def test_a_signal_handler_that_exits_inside_gcscopes_code_loses_nothing(workdir: Path) -> None:
    """gcscope's gc callback runs Python on a trigger site's first sight; the program's
    signal handler can run there, and exit. The exit is the program's, and the capture
    keeps every collection with its site: 5,000 lines each run a collection, each line
    a site of its own."""
    plain = run_python("signal_inside_gcscope.py", "5000", cwd=workdir)
    assert (plain.returncode, plain.stdout) == (0, b"done\n")  # no gcscope code to exit in
    scoped = run_gcscope("run", "-o", "c.json", "signal_inside_gcscope.py", "5000", cwd=workdir)
    assert b"internal error" not in scoped.stderr, scoped.stderr.decode()[-2000:]
    assert scoped.returncode == 3, "the handler never ran inside gcscope's code"
    capture = load_json(workdir / "c.json")
    assert (capture["ended_by"], capture["exit_code"]) == ("exit", 3)
    assert capture["gc"]["callback_errors"] == 0
    collections = sum(row["collections"] for row in capture["generations"])
    assert len(capture["gc"]["events"]["rows"]) == collections
    assert len(capture["gc"]["sites"]) == collections  # the interrupted one has its own
    assert max(row[2] for row in capture["gc"]["events"]["rows"]) < 1e9  # no made-up pause


def test_os_exit_writes_the_capture_and_flushes_nothing(workdir: Path) -> None:
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    plain = run_python("endings.py", "os-exit", "5", cwd=workdir, env=buffered)
    scoped = run_gcscope(
        "run", "-o", "c.json", "endings.py", "os-exit", "5", cwd=workdir, env=buffered
    )
    assert scoped.returncode == plain.returncode == 5
    assert plain.stdout == b""  # os._exit flushes nothing: the buffered line is lost...
    assert scoped.stdout == plain.stdout  # ...under gcscope too
    capture = load_json(workdir / "c.json")
    assert (capture["ended_by"], capture["exit_code"]) == ("os._exit", 5)
    assert capture["generations"][-1]["collections"] >= 3


def test_exec_writes_the_capture_first(workdir: Path) -> None:
    scoped = run_gcscope("run", "-o", "c.json", "endings.py", "exec", cwd=workdir)
    assert scoped.returncode == 0, scoped.stderr
    assert scoped.stdout == b"the new program\n"
    capture = load_json(workdir / "c.json")
    assert capture["ended_by"] == "exec"
    assert capture["generations"][-1]["collections"] >= 1
    # the report never claims an exit status: the new program's is its own
    report = run_gcscope("report", "c.json", cwd=workdir).stdout + scoped.stderr
    assert b"exit 0" not in report and b"exit status is not known" in report


def test_forked_child_never_writes_the_parents_capture(workdir: Path) -> None:
    plain = run_python("forks.py", "late", cwd=workdir)
    scoped = run_gcscope("run", "-o", "c.json", "forks.py", "late", cwd=workdir)
    time.sleep(1.5)  # the child has ended by now
    assert scoped.returncode == plain.returncode == 0
    assert scoped.stdout == plain.stdout
    capture = load_json(workdir / "c.json")
    assert (capture["exit_code"], capture["ended_by"]) == (0, "return")
    assert capture["forks"] == 1
    stderr = scoped.stderr.decode()
    assert stderr.count("capture written") == 1
    # no warning python would not print (3.12+: "multi-threaded, use of fork()")
    assert stderr.split("gcscope: capture written")[0] == plain.stderr.decode()


@pytest.mark.parametrize("options", [[], ["--cycles", "--allocations", "--interval", "50ms"]])
def test_forked_child_runs_as_under_plain_python(workdir: Path, options: list[str]) -> None:
    plain = run_python("forks.py", "inherit", cwd=workdir)
    started = time.monotonic()
    scoped = run_gcscope("run", *options, "-o", "c.json", "forks.py", "inherit", cwd=workdir)
    # gcscope's sampling thread restarts after the fork, and may not have run a line when
    # the program ends: held as one of the program's, it made the run wait out the hold's
    # 10 s limit (its thread state has no ident of its own yet)
    assert time.monotonic() - started < 8
    assert scoped.returncode == plain.returncode == 0, scoped.stderr
    assert scoped.stdout == plain.stdout  # no callback, no debug flags, no tracing inherited
    assert b"child callbacks 0 debug 0 tracing False" in scoped.stdout
    assert scoped.stderr.decode().split("gcscope: capture written")[0] == plain.stderr.decode()


# -- the output path --------------------------------------------------------------


def refused_before_running(workdir: Path, output: str) -> str:
    """Run a program that would leave a marker file; gcscope must refuse first."""
    marker = workdir / "ran"
    result = run_gcscope(
        "run", "-o", output, "-c", f"open({str(marker)!r}, 'w').close()", cwd=workdir
    )
    assert result.returncode == 2
    assert not marker.exists(), "the program ran"
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gcscope: "), lines
    return lines[0]


def test_devices_fifos_and_folders_are_refused_and_left_alone(workdir: Path) -> None:
    assert "character device" in refused_before_running(workdir, "/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    fifo = workdir / "fifo"
    os.mkfifo(fifo)
    assert "FIFO" in refused_before_running(workdir, "fifo")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    (workdir / "folder").mkdir()
    assert "directory" in refused_before_running(workdir, "folder")
    assert "folder" in refused_before_running(workdir, "newdir/")
    assert "does not exist" in refused_before_running(workdir, "missing/c.json")


def test_symlink_is_written_through(workdir: Path) -> None:
    (workdir / "real.json").write_text("old")
    (workdir / "link.json").symlink_to("real.json")
    result = run_gcscope("run", "-o", "link.json", "empty.py", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert (workdir / "link.json").is_symlink()
    assert load_json(workdir / "real.json")["argv"] == ["empty.py"]


def test_relative_output_is_resolved_before_the_program_changes_folder(workdir: Path) -> None:
    (workdir / "sub").mkdir()
    (workdir / "elsewhere").mkdir()
    result = run_gcscope(
        "run", "-o", "sub/c.json", "endings.py", "chdir", str(workdir / "elsewhere"), cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    assert (workdir / "sub" / "c.json").exists()
    assert not (workdir / "elsewhere" / "sub").exists()
    assert "capture written to sub/c.json" in result.stderr.decode()


def test_a_capture_that_cannot_be_written_where_asked_is_not_lost(workdir: Path) -> None:
    (workdir / "out").mkdir()
    result = run_gcscope("run", "-o", "out/c.json", "removes_folder.py", "out", cwd=workdir)
    assert result.returncode == 0
    stderr = result.stderr.decode()
    line = next(line for line in stderr.splitlines() if "instead" in line)
    fallback = Path(line.split("capture written to ")[1].split(" instead")[0])
    try:
        assert load_json(fallback)["argv"] == ["removes_folder.py", "out"]
        assert "Collections by generation" in stderr  # the report is printed all the same
    finally:
        fallback.unlink()


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_files(workdir: Path) -> None:
    (workdir / "c.json").write_text("the previous capture")

    def small_files() -> None:  # every capture write fails (EFBIG), here and in /tmp
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))

    result = subprocess.run(
        [*gcscope_command(), "run", "-o", "c.json", "empty.py"],
        cwd=workdir,
        capture_output=True,
        preexec_fn=small_files,
        timeout=120,
    )
    assert result.returncode == 0  # the program's status
    stderr = result.stderr.decode()
    assert "could not be written anywhere" in stderr
    assert "Collections by generation" in stderr
    assert (workdir / "c.json").read_text() == "the previous capture"
    assert not [p for p in workdir.iterdir() if p.name.startswith(".")]


def test_concurrent_runs_with_one_output_each_report_their_own_figures(workdir: Path) -> None:
    counts = [3, 5, 7, 9, 11, 13]
    processes = [
        start(workdir, "--format", "json", "-o", "same.json", "collects_n.py", str(n))
        for n in counts
    ]
    for n, process in zip(counts, processes):
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0
        report = stderr.decode().split("\n", 1)[1]
        import json

        generations = json.loads(report)["generations"]
        assert generations[-1]["collections"] == n
    assert not [p for p in workdir.iterdir() if p.name.startswith(".same")]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/task")
def test_gcscopes_threads_leave_signals_to_the_main_thread(workdir: Path) -> None:
    """A SIGTERM the kernel hands to gcscope's sampling thread would never run the program's
    handler while its main thread waits on a lock (a pool worker waiting for work): seen
    as a spawned pool worker that never ended after Pool.terminate()."""
    result = run_gcscope(
        "run", "--rss-interval", "10ms", "-o", "c.json", "thread_masks.py", cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"thread True\n"


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="the wakeup file is Linux's")
def test_a_signal_recorded_while_the_main_thread_blocks_still_ends_the_run(workdir: Path) -> None:
    """gcscope's SIGTERM handler stands in for the default, which kills at once: a signal
    CPython recorded but could not run (the main thread blocked in C) must not leave the
    process waiting forever (seen: a pool worker after Pool.terminate(), 1 run in ~20)."""
    result = run_gcscope(
        "run", "--rss-interval", "20ms", "-o", "c.json", "tripped_signal.py", cwd=workdir,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == -signal.SIGTERM, result.stderr
    assert load_json(workdir / "c.json")["ended_by"] == "SIGTERM"


# -- the program's threads while gcscope finishes ---------------------------------------


def test_threads_held_while_the_capture_is_written_go_on_as_they_were(workdir: Path) -> None:
    """gcscope holds the program's other threads while it finishes (python would be
    exiting); in the program's atexit handler they run again, with their own profile
    function, and the main thread's is the program's."""
    plain = run_python("busy_daemon.py", cwd=workdir, timeout=60)
    measured = run_gcscope("run", "-o", "c.json", "busy_daemon.py", cwd=workdir, timeout=60)
    assert plain.stdout.decode().splitlines()[1:] == [
        "the daemon thread goes on: True",
        "with its own profile function: True",
        "the main thread's profile function: None",
    ]
    assert measured.stdout == plain.stdout
    assert measured.returncode == plain.returncode == 0
    assert load_json(workdir / "c.json")["exit_code"] == 0
