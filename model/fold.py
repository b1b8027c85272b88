"""Batch-norm folding for export: conv(x) -> BN becomes one conv with adjusted weights.

The edge trunk trains with BN; at inference BN is a fixed affine map, so folding it into
the preceding conv removes a whole op per layer from the ONNX graph and the engine.
Uses torch's own fuse_conv_bn_eval.
"""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """A copy of `module` in eval mode with every Conv2d -> BatchNorm2d pair folded."""
    folded = copy.deepcopy(module).eval()
    for seq in folded.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        children = list(seq.children())
        for i in range(len(children) - 1):
            conv, bn = children[i], children[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                seq[i] = fuse_conv_bn_eval(conv, bn)
                seq[i + 1] = nn.Identity()
    return folded


def count_batchnorm(module: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())
