"""RealConfig: validation names the field; presets per dataset; derived values."""

import pytest

from core.engine.config import ConfigError
from core.real.real_config import DATASETS, RealConfig


@pytest.mark.parametrize("changes,field", [
    (dict(dataset="imagenet"), "dataset"),
    (dict(threat="l1"), "threat"),
    (dict(eps=0.0), "eps"),
    (dict(eps=1.5), "eps"),
    (dict(epochs=0), "epochs"),
    (dict(epochs=2.5), "epochs"),
    (dict(lr="fast"), "lr"),
    (dict(download="yes"), "download"),
    (dict(device="tpu"), "device"),
    (dict(model="vgg"), "model"),
    (dict(n_train=10, batch_size=64), "batch_size"),
])
def test_bad_fields_are_named(changes, field):
    with pytest.raises(ConfigError) as err:
        RealConfig(**changes)
    assert err.value.field == field


def test_coercion_and_derived_values():
    cfg = RealConfig(epochs=3.0, lr=1)
    assert cfg.epochs == 3 and isinstance(cfg.epochs, int) and isinstance(cfg.lr, float)
    cfg = RealConfig(eps=0.2, pgd_steps=4, inversion_steps=50)
    assert cfg.train_step_size == pytest.approx(0.125)  # 2.5 eps / steps
    assert cfg.inversion_step == pytest.approx(0.008)  # 2 eps / steps
    assert cfg.replace(inversion_step_size=0.01).inversion_step == 0.01
    assert cfg.model_name == "small_cnn" and cfg.reference_epochs == cfg.epochs


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("quick", [False, True])
def test_presets_exist_for_every_dataset(dataset, quick):
    cfg = RealConfig.for_dataset(dataset, quick=quick, seed=3)
    assert cfg.dataset == dataset and cfg.quick == quick and cfg.seed == 3
    if not quick:
        assert cfg.model_name == {"digits": "small_cnn", "mnist": "resnet18"}.get(dataset, "wrn34_10")
    if dataset in ("cifar10", "svhn"):
        assert cfg.eps == pytest.approx(8 / 255)


def test_round_trip_and_unknown_field():
    cfg = RealConfig.for_dataset("digits", quick=True)
    assert RealConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError) as err:
        RealConfig.from_dict({"epoch": 3})
    assert err.value.field == "epoch"
    with pytest.raises(ConfigError):
        RealConfig.for_dataset("imagenet")
