"""examples/quickstart.py runs end to end (load, cache, a hook that ablates a head, discover, a
plot) and examples/quickstart.ipynb is the same code as a notebook."""

import importlib.util
import json
import os
import subprocess
import sys

from conftest import ROOT


def test_quickstart_runs(tmp_path):
    env = dict(os.environ, QUICKSTART_OUT=str(tmp_path))
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "logit difference ' Mary' - ' John'" in r.stdout and "changes the logit difference most" in r.stdout
    assert (tmp_path / "ioi" / "circuit.json").exists() and (tmp_path / "ioi" / "report.html").exists()
    try:
        import matplotlib  # noqa: F401
        assert (tmp_path / "heads.png").stat().st_size > 1000
    except ImportError:
        assert "skipping the plot" in r.stdout


def test_notebook_is_the_script():
    spec = importlib.util.spec_from_file_location("make_notebook", ROOT / "examples" / "make_notebook.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    want = make.notebook((ROOT / "examples" / "quickstart.py").read_text())
    have = json.loads((ROOT / "examples" / "quickstart.ipynb").read_text())
    assert have == want, "examples/quickstart.ipynb is stale: run examples/make_notebook.py"
