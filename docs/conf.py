"""Sphinx configuration of the hyperspy_eels_ml documentation.

Build (warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The build works offline. Set ``HYPERSPY_EELS_ML_DOCS_ONLINE=1`` to enable
intersphinx links to Python, NumPy, HyperSpy, exspy and Dask (needs network
access to fetch their inventories).
"""

import os

# Headless plotting: set before anything imports matplotlib.
os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib  # noqa: E402

matplotlib.use("Agg")

import hyperspy_eels_ml  # noqa: E402

# -- Project information -----------------------------------------------------
project = "hyperspy_eels_ml"
author = "hyperspy_eels_ml developers"
copyright = "hyperspy_eels_ml developers"
release = hyperspy_eels_ml.__version__
version = ".".join(release.split(".")[:2])

# -- General configuration ---------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "numpydoc",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# autosummary writes its stub pages to reference/generated/ (git-ignored).
autosummary_generate = True
autosummary_imported_members = False

autodoc_member_order = "bysource"

# numpydoc renders the Parameters/Returns/... sections; the class templates in
# _templates/autosummary list the members, so numpydoc must not add its own.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# -- Intersphinx -------------------------------------------------------------
# Fetching inventories needs the network; a failed fetch is a warning and
# would fail the -W build. Links to other projects are therefore opt-in.
intersphinx_mapping = {}
if os.environ.get("HYPERSPY_EELS_ML_DOCS_ONLINE") == "1":
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "hyperspy": ("https://hyperspy.org/hyperspy-doc/current", None),
        "exspy": ("https://hyperspy.org/exspy", None),
        "dask": ("https://docs.dask.org/en/stable", None),
    }

# -- HTML output -------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"hyperspy_eels_ml {release}"
