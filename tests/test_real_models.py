"""Model shapes: the small CNN at the digits' size and the paper's ResNet18 / WRN built tiny."""

import pytest
import torch

from core.real.models import ResNet18, SmallCNN, WideResNet, build_model


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_small_cnn_shapes(shape):
    model = SmallCNN(shape[0], 10, width=4)
    x = torch.rand(3, *shape, generator=torch.Generator().manual_seed(0))
    assert model(x).shape == (3, 10)
    assert model.features(x).shape == (3, 16)  # 4 * width channels after global pooling


def test_resnet18_tiny_forward_and_representation():
    model = ResNet18(3, 10, width=4)
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert model(x).shape == (2, 10) and model.features(x).shape == (2, 32)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) == 20  # 17 convs + 3 shortcuts


def test_wide_resnet_tiny_forward_and_depth():
    model = WideResNet(3, 10, widen=1, depth=10)
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert model(x).shape == (2, 10) and model.features(x).shape == (2, 64)
    assert len(model.blocks) == 3  # (depth - 4) / 6 blocks per group, three groups
    assert len(WideResNet(3, 10, widen=1, depth=34).blocks) == 15  # WRN-34: 5 blocks per group
    with pytest.raises(ValueError, match="6n"):
        WideResNet(depth=33)


def test_build_model_defaults_and_unknown_name():
    assert isinstance(build_model("small_cnn", 1, 10), SmallCNN)
    assert build_model("small_cnn", 1, 10).head.in_features == 128  # default width 32
    with pytest.raises(ValueError, match="choose one of"):
        build_model("vgg", 3, 10)
