"""The sandbox holds against code that loops, hogs memory, reaches the network or writes outside
its working directory, and still lets legitimate workbook edits through.

Each containment test runs in every mode this machine supports: bubblewrap (kernel layers plus
audit hook), basic (the explicit opt-in SKILLFIT_SANDBOX=basic: network namespace when root, plus
audit hook), and the kernel layers alone (audit hook off) where a kernel layer exists for that
threat. Without bubblewrap and without that opt-in, code is refused: see
tests/reliability/test_containment.py, which also runs the adversarial attacks."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from waits import HANG_S

from skillfit.tasks import sandbox
from skillfit.tasks.sandbox import run_python, sandbox_layers

HAS_BWRAP = sandbox._probe_bwrap() is not None


@pytest.fixture(params=["bwrap", "basic"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "bwrap" and not HAS_BWRAP:
        pytest.skip("bubblewrap not installed or not usable here (apt-get install bubblewrap)")
    monkeypatch.setenv("SKILLFIT_SANDBOX", request.param)
    return str(request.param)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    wd = tmp_path / "work"
    wd.mkdir()
    return wd


@pytest.fixture
def listener() -> Iterator[int]:
    """A loopback TCP server the sandboxed code tries to reach; counts accepted connections."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            accepted.append(conn)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield srv.getsockname()[1]
    stop.set()
    thread.join()
    srv.close()
    assert accepted == [], "the sandboxed code reached the loopback server"


def test_layers_reported(mode: str, workdir: Path) -> None:
    result = run_python("print('hi')", workdir)
    assert result.ok and result.stdout == "hi\n"
    assert result.isolation == sandbox_layers()
    assert ("bwrap" in result.isolation) == (mode == "bwrap")
    assert "audit" in result.isolation and "rlimit" in result.isolation


def test_infinite_loop_is_killed_at_wall_limit(mode: str, workdir: Path) -> None:
    result = run_python("while True:\n    pass\n", workdir, timeout_s=1.5)
    assert result.timed_out and result.killed_reason == "timeout"
    assert result.returncode != 0
    assert 1.5 <= result.seconds < HANG_S  # killed at the limit, not earlier, never left to run


def test_memory_hog_is_stopped(mode: str, workdir: Path) -> None:
    code = "chunks = []\nwhile True:\n    chunks.append(bytearray(64 * 1024 * 1024))\n"
    result = run_python(code, workdir, memory_mb=300, timeout_s=HANG_S)
    assert result.killed_reason == "memory"
    assert not result.timed_out and result.returncode != 0


@pytest.mark.parametrize("audit", [True, False])
def test_no_network_even_to_loopback(mode: str, workdir: Path, listener: int, audit: bool) -> None:
    if not audit and "netns" not in sandbox_layers() and mode != "bwrap":
        pytest.skip("no kernel network layer here (not root, no bubblewrap)")
    code = (
        "import socket\n"
        f"s = socket.create_connection(('127.0.0.1', {listener}), timeout=2)\n"
        "print('CONNECTED')\n"
    )
    result = run_python(code, workdir, timeout_s=HANG_S, audit=audit)
    assert "CONNECTED" not in result.stdout
    assert result.returncode != 0
    assert "Error" in result.stderr  # refused, unreachable or not allowed: never connected


@pytest.mark.parametrize("audit", [True, False])
@pytest.mark.parametrize("target", ["tmp", "parent", "symlink"])
def test_no_writes_outside_workdir(
    mode: str, workdir: Path, tmp_path: Path, audit: bool, target: str
) -> None:
    if not audit and mode != "bwrap":
        pytest.skip("without bubblewrap the audit hook is the only write guard")
    marker = f"escape-{uuid.uuid4().hex}.txt"
    if target == "tmp":
        outside = Path("/tmp") / marker
        code = f"open({str(outside)!r}, 'w').write('x')\n"
    elif target == "parent":
        outside = workdir.parent / marker
        code = f"open('../{marker}', 'w').write('x')\n"
    else:
        outside = tmp_path / marker
        code = (
            "import os\n"
            f"os.symlink({str(outside)!r}, 'link.txt')\n"
            "open('link.txt', 'w').write('x')\n"
        )
    result = run_python(code, workdir, audit=audit)
    try:
        assert not outside.exists(), f"sandboxed code wrote {outside}"
    finally:
        outside.unlink(missing_ok=True)
    assert result.returncode != 0
    assert "Error" in result.stderr


def test_no_deleting_outside_workdir(mode: str, workdir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "keep.txt"
    victim.write_text("keep")
    result = run_python(f"import os\nos.remove({str(victim)!r})\n", workdir)
    assert victim.read_text() == "keep"
    assert result.returncode != 0


def test_openpyxl_edit_inside_workdir(mode: str, workdir: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Sheet1"
    for row in range(1, 4):
        ws.cell(row=row, column=1, value=row)
    wb.save(workdir / "input.xlsx")
    code = (
        "import openpyxl, os\n"
        "wb = openpyxl.load_workbook('input.xlsx')\n"
        "ws = wb['Sheet1']\n"
        "for r in range(1, 4):\n"
        "    ws.cell(row=r, column=2, value=ws.cell(row=r, column=1).value * 10)\n"
        "os.makedirs('out', exist_ok=True)\n"
        "wb.save('out/output.xlsx')\n"
        "print('saved')\n"
    )
    result = run_python(code, workdir)
    assert result.ok, result.stderr
    out = openpyxl.load_workbook(workdir / "out" / "output.xlsx")["Sheet1"]
    assert [out.cell(row=r, column=2).value for r in range(1, 4)] == [10, 20, 30]


def test_exception_traceback_shows_user_code_only(mode: str, workdir: Path) -> None:
    result = run_python("def f():\n    return 1 / 0\n\nf()\n", workdir)
    assert result.returncode == 1 and result.killed_reason is None
    assert 'File "main.py", line 2' in result.stderr
    assert "return 1 / 0" in result.stderr
    assert "ZeroDivisionError" in result.stderr
    assert "bootstrap" not in result.stderr


def test_cannot_start_processes(mode: str, workdir: Path) -> None:
    result = run_python("import subprocess\nsubprocess.run(['true'])\n", workdir)
    assert result.returncode != 0 and "not allowed" in result.stderr


def test_missing_workdir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        run_python("print(1)", tmp_path / "nope")


def test_concurrent_runs_stay_separate(mode: str, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    dirs = [tmp_path / f"w{i}" for i in range(4)]
    for d in dirs:
        d.mkdir()
    code = "import os\nopen('me.txt', 'w').write(os.getcwd())\nprint(sorted(os.listdir('.')))\n"
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda d: run_python(code, d), dirs))
    assert all(r.ok and r.stdout.strip() == "['me.txt']" for r in results)
    assert [(d / "me.txt").read_text() for d in dirs] == [str(d.resolve()) for d in dirs]


@pytest.mark.parametrize("audit", [True, False])
def test_hidden_files_cannot_be_read(mode: str, workdir: Path, tmp_path: Path, audit: bool) -> None:
    if not audit and mode != "bwrap":
        pytest.skip("without bubblewrap the audit hook is the only read guard")
    secret_dir = tmp_path / "answers"
    secret_dir.mkdir()
    (secret_dir / "key.txt").write_text("SECRET")
    lone = tmp_path / "lone.txt"
    lone.write_text("SECRET")
    code = (
        "for p in [{!r}, {!r}]:\n"
        "    try:\n"
        "        print(open(p).read())\n"
        "    except OSError as e:\n"
        "        print('refused', type(e).__name__)\n"
    ).format(str(secret_dir / "key.txt"), str(lone))
    result = run_python(code, workdir, hide=[secret_dir, lone], audit=audit)
    assert result.ok, result.stderr
    assert "SECRET" not in result.stdout
    assert (secret_dir / "key.txt").read_text() == "SECRET"  # hidden, not harmed


def test_cannot_hide_the_workdir(workdir: Path) -> None:
    with pytest.raises(ValueError, match="holds the working directory"):
        run_python("print(1)", workdir, hide=[workdir.parent])
