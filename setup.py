"""pip's entry point for the circuitscan Python module: CMake builds the circuitscan._core
extension (the target circuitscan_python of CMakeLists.txt) with the interpreter running this
script, and the package ships python/circuitscan plus a copy of data/ (the bundled GPT-2
tokenizer and ground truths), which an installed module cannot read from the source tree.

    python3 -m venv --system-site-packages venv    # sees Debian's numpy and pybind11
    venv/bin/pip install --no-build-isolation .

The CMake build goes to build-python/cmake (CS_PIP_BUILD_DIR overrides it), so reinstalling
recompiles only what changed.
"""

import os
import pathlib
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = pathlib.Path(__file__).resolve().parent


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build = pathlib.Path(os.environ.get("CS_PIP_BUILD_DIR", ROOT / "build-python" / "cmake")).resolve()
        configure = ["cmake", "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                     f"-DPython_EXECUTABLE={sys.executable}", "-DCS_PYTHON=ON", "-DCS_PYTHON_TESTS=OFF"]
        if shutil.which("ninja") and not (build / "CMakeCache.txt").exists():
            configure[1:1] = ["-G", "Ninja"]
        subprocess.check_call(configure)
        subprocess.check_call(["cmake", "--build", str(build), "--target", "circuitscan_python"])
        built = sorted((build / "python" / "circuitscan").glob("_core*.so"))
        if not built:
            sys.exit(f"setup.py: CMake built no circuitscan/_core*.so under {build}")
        dest = pathlib.Path(self.get_ext_fullpath(ext.name))
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built[0], dest)


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        data = pathlib.Path(self.build_lib) / "circuitscan" / "data"
        for d in ("gpt2-tokenizer", "truth"):
            shutil.copytree(ROOT / "data" / d, data / d, dirs_exist_ok=True)


setup(
    name="circuitscan",
    version="0.1.0",
    description="Find the circuits inside transformer language models (C++ engine, TransformerLens-style API)",
    packages=["circuitscan"],
    package_dir={"": "python"},
    ext_modules=[Extension("circuitscan._core", sources=[])],
    cmdclass={"build_ext": CMakeBuild, "build_py": BuildPyWithData},
    options={"build": {"build_base": "build-python"}},
    python_requires=">=3.9",
    install_requires=["numpy"],
    zip_safe=False,
)
