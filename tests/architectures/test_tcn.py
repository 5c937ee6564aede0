"""TCN: causal padding (no position sees a later bar), and the fewest dilated blocks whose
receptive field covers the lookback."""

from __future__ import annotations

import pytest
import torch

from architectures.deep._nets import CausalConv1d, TCNNet, tcn_levels, tcn_receptive_field


def test_receptive_field_and_levels_by_hand() -> None:
    # kernel 3: 1 + 2 * 2 * (2^n - 1) = 5, 13, 29, 61, 125
    assert [tcn_receptive_field(n, 3) for n in range(1, 6)] == [5, 13, 29, 61, 125]
    assert [tcn_levels(lb, 3) for lb in (7, 14, 30, 60, 90)] == [2, 3, 4, 4, 5]
    assert tcn_receptive_field(2, 2) == 7 and tcn_levels(8, 2) == 3


@pytest.mark.parametrize("dilation", [1, 2, 4])
def test_causal_convolution_never_sees_later_positions(dilation: int) -> None:
    torch.manual_seed(0)
    conv = CausalConv1d(2, 3, kernel_size=3, dilation=dilation)
    x = torch.randn(1, 2, 12)
    base = conv(x)
    assert base.shape == (1, 3, 12)  # same length as the input
    for p in range(12):
        changed = x.clone()
        changed[:, :, p] += 1.0
        diff = (conv(changed) - base).abs().sum(dim=(0, 1))
        assert torch.all(diff[:p] == 0), p  # earlier outputs untouched
        reach = [q for q in range(12) if diff[q] > 0]
        assert reach and min(reach) == p and max(reach) <= p + 2 * dilation


def test_every_block_is_causal_and_the_receptive_field_covers_the_window() -> None:
    torch.manual_seed(0)
    lookback = 30
    net = TCNNet(n_features=2, lookback=lookback, channels=4, kernel_size=3, dropout=0.0).eval()
    assert net.levels == 4 and len(net.blocks) == 4
    x = torch.randn(3, lookback, 2)
    with torch.no_grad():
        base = net.features(x)
        changed = x.clone()
        changed[:, 20, :] += 1.0
        diff = (net.features(changed) - base).abs().sum(dim=(0, 1))
    assert torch.all(diff[:20] == 0) and diff[20:].sum() > 0
    x.requires_grad_(True)
    net(x).sum().backward()
    assert x.grad is not None and x.grad[:, 0, :].abs().sum() > 0  # the oldest bar counts


def test_one_block_fewer_would_not_reach_the_oldest_bar() -> None:
    torch.manual_seed(0)
    short = TCNNet(n_features=2, lookback=29, channels=8, kernel_size=3, dropout=0.0).eval()
    assert short.levels == 3  # receptive field 29
    # Many windows, so that some activate the ReLUs on the single path from bar 1.
    x = torch.randn(64, 30, 2, requires_grad=True)  # 30-bar windows
    short(x).sum().backward()
    assert x.grad is not None
    assert x.grad[:, 0, :].abs().sum() == 0  # bar 0 is outside 29 bars
    assert x.grad[:, 1, :].abs().sum() > 0
