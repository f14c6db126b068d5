import os

# The suite runs qclf's engine strictly: a circuit it cannot run raises instead of silently
# falling back to PennyLane (tests of the fallback itself pass strict=False).
os.environ.setdefault("QCLF_STRICT", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

# Two cores on CI: keep torch from oversubscribing when pytest runs alongside subprocesses.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
