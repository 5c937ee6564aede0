from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Run the architecture tests as a Ray worker runs them: torch on one thread.

    This is also faster here: with the default two threads on a two-core machine, any
    other busy process makes every torch op wait for its slower thread.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
