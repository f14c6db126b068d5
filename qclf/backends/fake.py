"""qiskit-ibm-runtime's fake backends by name (``fake_manila``, ``manila``, ``FakeManilaV2``)."""

from __future__ import annotations

import warnings
from typing import Any

from qclf.backends.errors import BackendError, require


def _provider():
    return require("qiskit_ibm_runtime.fake_provider", "ibm", "fake backends")


def fake_backend_names() -> list[str]:
    """Names of the fake V2 backends qiskit-ibm-runtime ships (``fake_manila``, ...)."""
    fp = _provider()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sorted(b.backend_name for b in fp.FakeProviderForBackendV2().backends())


def fake_backend(name: str) -> Any:
    """The fake backend called ``name`` (with or without the ``fake_`` prefix)."""
    fp = _provider()
    key = name.lower().removeprefix("fake:").removeprefix("fake_").removeprefix("fake")
    key = key.removesuffix("v2")
    camel = key.replace("_", " ").title().replace(" ", "")
    cls = getattr(fp, f"Fake{camel}V2", None) or getattr(fp, f"Fake{camel}", None)
    if cls is not None and key and hasattr(cls, "num_qubits"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cls()
    raise BackendError(f"unknown fake backend {name!r}; known: {', '.join(fake_backend_names())}")
