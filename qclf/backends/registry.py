"""``get_backend(name, shots, noise, seed, **options)``: the one way to obtain a backend."""

from __future__ import annotations

from typing import Any

from qclf.backends.base import Backend
from qclf.backends.errors import BackendError

BACKEND_KINDS = ("exact", "default.qubit", "aer", "fake:<name>", "ibm:<name>")


def get_backend(name: str = "exact", shots: int | None = None, noise: str | None = None,
                seed: int | None = None, **options: Any) -> Backend:
    """A :class:`Backend` by name: ``exact`` (qclf's torch engine, what training uses),
    ``default.qubit`` (PennyLane), ``aer`` (Qiskit Aer; ``shots``, ``noise=<fake backend>``),
    ``fake:<name>`` (the hardware path run locally on a fake device) or ``ibm:<name>``.

    ``options`` go to the backend (``optimization_level``; for fake/ibm also
    ``resilience_level``, ``dynamical_decoupling``, ``twirling``).
    """
    if shots is not None and int(shots) < 1:
        raise ValueError(f"shots must be a positive integer or None (exact), got {shots}")
    shots = int(shots) if shots is not None else None
    if name in ("exact", "default.qubit"):
        if shots is not None or noise is not None:
            raise ValueError(f"backend {name!r} is exact: use --backend aer for shots or noise")
        from qclf.backends.local import ExactBackend, PennyLaneBackend

        backend = ExactBackend() if name == "exact" else PennyLaneBackend()
        backend.seed = seed
        return backend
    if name == "aer":
        from qclf.backends.aer import AerBackend

        return AerBackend(shots=shots, noise=noise, seed=seed, **options)
    if name.startswith(("fake:", "ibm:")) and len(name) > 4:
        if noise is not None:
            raise ValueError(f"{name} has its own noise; --noise applies to the aer backend only")
        from qclf.backends.runtime import RuntimeBackend

        return RuntimeBackend(name, shots=shots, seed=seed, **options)
    try:
        from qclf.backends.fake import fake_backend_names

        fakes = ", ".join(fake_backend_names())
    except BackendError:
        fakes = "(install .[ibm] for the fake devices)"
    raise BackendError(f"unknown backend {name!r}; use one of {', '.join(BACKEND_KINDS)}; "
                       f"fake devices: {fakes}")
