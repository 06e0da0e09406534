"""What a user installs: one `eqzoo` namespace, shipped weights inside, nothing else touched.

The wheel is built from the repository as `pip wheel .` builds it, then installed (not editable)
into a throwaway virtual environment that already holds a stand-in for Hugging Face's top-level
`datasets` package, the collision users hit first.
"""

import os
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from eqzoo import zoo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out),
                    ROOT], check=True)
    (path,) = out.glob("eqzoo-*.whl")
    return path


def test_wheel_holds_only_the_eqzoo_namespace(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(archive.read(n).decode() for n in names
                            if n.endswith(".dist-info/entry_points.txt"))
    outside = [n for n in names if not (n.startswith("eqzoo/")
                                        or n.split("/")[0].startswith("eqzoo-")
                                        and n.split("/")[0].endswith(".dist-info"))]
    assert outside == []
    for module in ("eqzoo/train.py", "eqzoo/checkpoints.py", "eqzoo/layers/__init__.py",
                   "eqzoo/zoo/__init__.py", "eqzoo/datasets/__init__.py"):
        assert module in names
    # eqzoo is a namespace package: no __init__.py of ours claims the top-level name either.
    assert "eqzoo/__init__.py" not in names
    shipped = [zoo.get_preset(name)["metadata"]["weights"]["file"] for name in zoo.list_models()
               if "weights" in zoo.get_preset(name)["metadata"]]
    assert len(shipped) >= 3
    for file in shipped:
        assert f"eqzoo/zoo/{file}" in names
    assert not any(n.startswith(("eqzoo/tests/", "eqzoo/benchmarks/")) for n in names)
    assert "eqzoo-train = eqzoo.train:main" in entry_points


def test_install_leaves_hugging_face_datasets_alone(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([python, "-c", purelib],
                          check=True, capture_output=True, text=True).stdout.strip()
    # The dependencies (TensorFlow and the rest) come from this environment's site-packages, as a
    # plain path entry: .pth files inside it, eqzoo's own editable finder among them, do not run.
    deps = [p for p in sys.path if os.path.isdir(p) and "site-packages" in p
            and not os.path.abspath(p).startswith(ROOT)] or [sysconfig.get_paths()["purelib"]]
    with open(os.path.join(site, "_eqzoo_test_deps.pth"), "w") as f:
        f.write("\n".join(deps) + "\n")
    hugging_face = os.path.join(site, "datasets")
    os.makedirs(hugging_face)
    with open(os.path.join(hugging_face, "__init__.py"), "w") as f:
        f.write("WHOSE = 'hugging face'\n")

    pip = [sys.executable, "-m", "pip", "--python", python]
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--quiet", str(wheel)], check=True)
    probe = ("import datasets, eqzoo.zoo as zoo, eqzoo.datasets as eqd; "
             "print(datasets.WHOSE); print(zoo.__file__); print(eqd.__file__); "
             "m = zoo.create_model('symmetric_mlp_digits', weights='pretrained'); "
             "print(m.count_params())")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
    done = subprocess.run([python, "-c", probe], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    whose, zoo_file, datasets_file, params = done.stdout.splitlines()[-4:]
    assert whose == "hugging face"
    assert zoo_file.startswith(site) and datasets_file.startswith(site)
    assert int(params) > 0

    script = venv / "bin" / "eqzoo-train"
    assert script.exists()
    done = subprocess.run([str(script), "--help"], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0 and "--model" in done.stdout, done.stderr[-2000:]

    subprocess.run([*pip, "uninstall", "--yes", "--quiet", "eqzoo"], check=True)
    assert os.path.exists(os.path.join(hugging_face, "__init__.py"))
    assert not os.path.exists(os.path.join(site, "eqzoo"))
    done = subprocess.run([python, "-c", "import datasets; print(datasets.WHOSE)"], env=env,
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.stdout.strip() == "hugging face"
