"""Real-image runs as background jobs: they stream epoch rows and percent, store their result, can be stopped."""

import json

import pytest
from _waiting import wait_for  # tests/ is on the path

from core.cli.runs import cmd_list
from core.real import RealConfig, real_claims
from core.runs.jobs import JobManager
from core.runs.real_runs import MODE, PERCENT, load_progress, load_result, load_samples

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # restored after the module


def micro(**changes) -> RealConfig:
    """A real run of about a second on one thread: tiny data, nets and budgets."""
    base = dict(n_train=200, n_test=60, epochs=2, ref_epochs=1, width=8, pgd_steps=1, eval_pgd_steps=2,
                inversion_steps=3, attack_steps=2, n_rep=20, n_attack=20, threads=1, device="cpu")
    return RealConfig.for_dataset("digits", quick=True, seed=0, **{**base, **changes})


@pytest.fixture(scope="module")
def manager(tmp_path_factory):
    m = JobManager(tmp_path_factory.mktemp("realjobs") / "runs.sqlite", max_workers=1, grace_s=2.0,
                   flush_s=0.1)
    assert m.wait_ready(300)
    yield m
    m.shutdown()


def test_a_real_run_finishes_with_metrics_and_result(manager, capsys):
    cfg = micro()
    run_id = manager.submit_real(cfg, client_id="t")
    assert manager.wait([run_id], timeout=60)
    store = manager.store
    run = store.get_run(run_id)
    assert run["status"] == "finished", run["error"]
    assert (run["mode"], run["step"], run["steps"]) == (MODE, PERCENT, PERCENT)
    assert run["preset"] == "digits-quick" and RealConfig.from_dict(run["config"]) == cfg

    frame = store.metrics_frame(run_id)
    assert list(frame["step"]) == [0, 1, 2]  # epoch 0 (initialisation) to the last epoch
    for net in ("std", "adv"):
        for name in ("acc_clean", "acc_pgd", "feat_acc_nonrobust", "feat_acc_robust"):
            assert frame[f"{net}_{name}"].notna().all(), (net, name)
    assert frame["std_loss"].isna().iloc[0] and frame["std_loss"].notna().iloc[1:].all()

    result = load_result(store, run_id)
    assert result["status"] == "finished" and result["config"] == cfg.to_dict()
    assert result["runs"]["adv"]["acc_pgd"] == pytest.approx(frame["adv_acc_pgd"].iloc[-1])
    assert len(real_claims(result)) == 5  # the stored JSON is what the claims read
    samples = load_samples(store, run_id)
    assert set(samples["images"]) == {"target", "start", "nonrobust", "robust"}
    assert samples["images"]["robust"].shape == (16, 1, 8, 8) and len(samples["labels"]) == 16
    assert load_progress(store, run_id)["stage"] == "done"

    class Args:  # `runs list` still works with a real run in the store
        store, limit, status = str(manager.store.path), None, None
        json = False
    assert cmd_list(Args) == 0
    assert run_id in capsys.readouterr().out
    Args.json = True
    cmd_list(Args)
    assert json.loads(capsys.readouterr().out)[0]["mode"] == "real"


def test_a_real_run_can_be_stopped_and_a_bad_config_fails_cleanly(manager):
    run_id = manager.submit_real(micro(epochs=200), client_id="t")
    assert wait_for(lambda: manager.store.last_metric_step(run_id) is not None, 30)  # in the fresh nets' training
    assert manager.cancel(run_id)
    assert manager.wait([run_id], timeout=10)
    run = manager.store.get_run(run_id)
    assert run["status"] == "cancelled" and "cancelled by the user" in run["error"]
    assert run["step"] < PERCENT and load_progress(manager.store, run_id)["stage"] == "train_std"
    assert len(manager.store.metrics_frame(run_id)) >= 1  # metrics so far are kept

    bad = manager.submit_real(micro().replace(dataset="mnist", data_dir="/nonexistent/mnist"), client_id="t")
    assert manager.wait([bad], timeout=30)
    run = manager.store.get_run(bad)
    assert run["status"] == "failed" and "does not exist" in run["error"]
    assert manager.store.delete_run(bad) and manager.store.get_artifact(bad, "progress") is None
