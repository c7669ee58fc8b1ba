"""Writes examples/quickstart.ipynb from examples/quickstart.py: each "# %%" cell of the script
becomes a notebook cell ("# %% [markdown]" cells become markdown), so the two cannot drift apart
(tests/python/test_examples.py checks they match).

    /usr/bin/python3 examples/make_notebook.py
"""

import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent


def cells(script):
    """[(kind, source lines)] of a "# %%" script."""
    out = []
    for block in script.split("# %%")[1:]:
        head, _, body = block.partition("\n")
        kind = "markdown" if "[markdown]" in head else "code"
        lines = body.strip("\n").split("\n")
        if kind == "markdown":
            lines = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines]
        out.append((kind, lines))
    return out


def notebook(script):
    nb_cells = []
    for kind, lines in cells(script):
        source = [line + "\n" for line in lines[:-1]] + lines[-1:]
        cell = {"cell_type": kind, "metadata": {}, "source": source}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        nb_cells.append(cell)
    return {"cells": nb_cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                                            "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


if __name__ == "__main__":
    nb = notebook((HERE / "quickstart.py").read_text())
    (HERE / "quickstart.ipynb").write_text(json.dumps(nb, indent=1) + "\n")
    print("wrote", HERE / "quickstart.ipynb")
