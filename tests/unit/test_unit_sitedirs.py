"""The site directories of an executable started with `python3 -S` (libcheck.sitedirs).

Each case runs in its own interpreter, started with -S as the packaged
executables are, so that this process's path stays as it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from harness.paths import REPO

# A .pth file as packages install them: a directory line and an import line.
PTH_LINES = "extra\nimport os; os.environ['PTH_RAN'] = 'yes'\n"


def run_without_site(code: str, path: list[Path] = ()) -> subprocess.CompletedProcess:
    """`code` under `python -S`, with the checkout (and `path`) on PYTHONPATH."""
    environment = {**os.environ,
                   "PYTHONPATH": os.pathsep.join(map(str, [REPO, *path]))}
    return subprocess.run([sys.executable, "-S", "-c", code], env=environment,
                          capture_output=True, text=True, timeout=60, check=False)


def site_directory(tmp_path: Path) -> Path:
    directory = tmp_path / "site-packages"
    (directory / "extra").mkdir(parents=True)
    (directory / "package.pth").write_text(PTH_LINES)
    return directory


def report_after(call: str) -> str:
    """Code that makes `call`, then prints the path and whether the .pth ran."""
    return ("import json, os, sys\n"
            "from libcheck.sitedirs import add_site_directories\n"
            f"{call}\n"
            "print(json.dumps({'path': sys.path, 'pth': os.environ.get('PTH_RAN')}))\n")


def test_a_site_directory_goes_on_the_path_without_running_its_pth_files(tmp_path):
    directory = site_directory(tmp_path)
    done = run_without_site(report_after(f"add_site_directories([{str(directory)!r}])"))
    report = json.loads(done.stdout)
    assert report["path"][-1] == str(directory)
    assert str(directory / "extra") not in report["path"]
    assert report["pth"] is None


def test_site_itself_would_have_run_that_pth_file(tmp_path):
    directory = site_directory(tmp_path)
    done = run_without_site(report_after(f"import site; site.addsitedir({str(directory)!r})"))
    report = json.loads(done.stdout)
    assert report["pth"] == "yes" and str(directory / "extra") in report["path"]


def test_a_missing_directory_is_left_out_and_none_is_added_twice(tmp_path):
    directory = site_directory(tmp_path)
    missing = tmp_path / "missing"
    call = f"add_site_directories([{str(missing)!r}, {str(directory)!r}, {str(directory)!r}])"
    report = json.loads(run_without_site(report_after(call)).stdout)
    assert str(missing) not in report["path"]
    assert report["path"].count(str(directory)) == 1


def test_sitecustomize_runs_as_site_would_run_it(tmp_path):
    (tmp_path / "sitecustomize.py").write_text("import os; os.environ['CUSTOMIZED'] = 'yes'\n")
    done = run_without_site("import os\nfrom libcheck.sitedirs import add_site_directories\n"
                            "add_site_directories([])\nprint(os.environ.get('CUSTOMIZED'))",
                            path=[tmp_path])
    assert done.stdout.strip() == "yes"


def test_a_failing_sitecustomize_is_one_line_on_stderr_and_the_start_goes_on(tmp_path):
    (tmp_path / "sitecustomize.py").write_text("raise RuntimeError('broken hook')\n")
    done = run_without_site("import libcheck\nprint('went on')", path=[tmp_path])
    assert (done.returncode, done.stdout.strip()) == (0, "went on")
    assert done.stderr == "Error in sitecustomize: RuntimeError: broken hook\n"


def test_importing_libcheck_under_dash_s_adds_the_interpreters_site_directories():
    code = ("import json, site, sys\n"
            "wanted = [d for d in site.getsitepackages() if __import__('os').path.isdir(d)]\n"
            "before = [d for d in wanted if d in sys.path]\n"
            "import libcheck\n"
            "print(json.dumps({'wanted': wanted, 'before': before, 'after': sys.path}))\n")
    report = json.loads(run_without_site(code).stdout)
    assert report["wanted"] and report["before"] == []
    assert all(directory in report["after"] for directory in report["wanted"])


def test_a_normal_start_does_not_load_the_module():
    code = "import sys, libcheck; print('libcheck.sitedirs' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60, check=True)
    assert done.stdout.strip() == "False"
