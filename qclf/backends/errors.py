"""The errors a backend raises: each one line that names the fix (the CLI prints it as is)."""

from __future__ import annotations


class BackendError(RuntimeError):
    """A backend cannot be built or a job cannot run (unknown name, server-side failure)."""


class MissingExtraError(BackendError):
    """A backend needs an optional package that is not installed."""


class CredentialsError(BackendError):
    """No IBM Quantum credentials in the environment or the user's saved Qiskit account."""


class CircuitTooWideError(ValueError):
    """A circuit has more qubits than the backend."""


class UnsupportedLayerError(ValueError):
    """A quantum layer (or one of its gates/measurements) has no form a backend can run."""


def require(module: str, extra: str, what: str):
    """Import ``module`` or raise :class:`MissingExtraError` naming the pip extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f"{what} needs the {module.split('.')[0]} package: pip install -e '.[{extra}]' "
            f"(or pip install 'qclf[{extra}]')"
        ) from None
