"""qclf: hybrid quantum-classical image classification."""

__version__ = "0.1.0"
