"""Package discovery that pyproject.toml alone cannot express.

The circuit catalogue lives in the repository's top-level ``circuits/`` folder but installs as
``qclf.circuits``: every ``qclf*`` package is found automatically and the catalogue is mapped in,
so ``pip install qclf`` claims the single import name ``qclf``. Everything else is in
``pyproject.toml``.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["qclf", "qclf.*"]), "qclf.circuits"],
    package_dir={"qclf.circuits": "circuits"},
)
