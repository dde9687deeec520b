"""Idle cores go to running runs: the threads order, the manager's share, and numbers that do not move."""

import io
import time

import pytest
import torch
from _waiting import wait_for  # tests/ is on the path

from core.engine.presets import get_preset
from core.engine.resources import cpu_count, set_threads
from core.engine.train import train
from core.runs import protocol
from core.runs.job import JobState
from core.runs.jobs import JobManager, cores_per_run
from core.runs.worker import Inbox

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # restored after the module


def tiny(**changes):
    base = dict(steps=40, n_train=40, n_test=40, eval_every=5, device="cpu")
    return get_preset("classroom").config(**{**base, **changes})


def test_the_threads_order_reaches_the_workers_inbox():
    inbox = Inbox()
    inbox.read(io.StringIO(protocol.threads_line(7, 2) + protocol.threads_line(8, 0) + protocol.stop_line()))
    assert inbox.threads == {7: 2, 8: 1}  # never fewer than one thread
    assert protocol.decode(protocol.threads_line(7, 2)) == (protocol.THREADS, {"seq": 7, "n": 2})


@pytest.mark.parametrize("busy, per_worker, cores, share", [
    (1, 1, 2, 2),  # the adversarial half alone after its standard twin: both cores
    (2, 1, 2, 1),  # a twin pair: one each
    (3, 2, 8, 2),  # 8 cores, 4 workers of 2, three busy: 8 // 3 = 2
    (1, 2, 8, 8),
    (0, 1, 2, 2),
    (5, 1, 2, 1),  # more runs than cores: never below a worker's own
])
def test_cores_are_shared_out_among_running_runs(monkeypatch, busy, per_worker, cores, share):
    monkeypatch.setattr("core.engine.resources.cpu_count", lambda: cores)
    assert cores_per_run(busy, per_worker) == share


def test_a_thread_count_changed_between_steps_leaves_the_run_unchanged():
    """What the manager relies on: a run's history and weights do not depend on its threads, even when
    the count changes in the middle of the run. 4 threads on a 2-core machine too: there MKL's products
    summed in another order at 4 (on a 16-core Xeon at 2) until core/__init__.py asked for its strict mode."""
    cfg = tiny(steps=30, threads=0)
    set_threads(1)
    plain = train(cfg, "adv")
    counts = iter([2, 1, 4] * 100)
    changing = train(cfg, "adv", should_stop=lambda: set_threads(next(counts)) or False)
    set_threads(1)
    assert plain.status == changing.status == "finished"
    assert plain.history == changing.history
    assert torch.equal(plain.weights, changing.weights)


class OtherWork:
    """The manager's reading of other processes' cores, fixed by the test (the suite itself loads CI)."""

    def __init__(self, cores=0):
        self.cores = cores

    def whole_cores(self, ours):
        return self.cores


@pytest.fixture(scope="module")
def manager(tmp_path_factory):
    m = JobManager(tmp_path_factory.mktemp("cores") / "runs.sqlite", max_workers=2)
    m._foreign_load = OtherWork(0)
    assert m.wait_ready(300)
    yield m
    m.shutdown()


def test_a_lone_run_takes_the_idle_workers_core_and_gives_it_back(manager):
    if cpu_count() < 2:
        pytest.skip("one core: nothing to share")
    manager._foreign_load = OtherWork(0)
    manager._debug = {"delay_s": 0.03}  # about 1.5 s per run: long enough to see the shares move
    shared = tiny(threads=0, seed=5)
    alone = manager.submit(shared, "adv", fresh=True)
    job = manager._jobs[alone]
    lone_share = cores_per_run(1, manager.threads_per_worker)
    assert wait_for(lambda: job.threads == lone_share)
    second = manager.submit(shared, "std", fresh=True)  # a second run starts: the share comes back
    assert wait_for(lambda: job.threads == manager.threads_per_worker or manager.status(alone) == "finished")
    assert manager.wait([alone, second], 60)
    manager._debug = None
    pinned = manager.submit(shared.replace(threads=1), "adv", fresh=True)  # a config's own count stays
    assert manager.wait(pinned, 60)
    for run_id in (alone, second, pinned):
        assert manager.store.get_run(run_id)["status"] == "finished"
    frame = manager.store.metrics_frame(alone)
    assert frame["step"].tolist() == list(range(0, 41, 5))
    assert frame.equals(manager.store.metrics_frame(pinned))  # same numbers on 2 threads, then 1, as on 1


def test_cores_another_process_keeps_busy_are_not_shared_out(manager):
    """A run given both cores while another job holds one waits for it at every parallel region
    (2.4 s on 1 thread against 6.8 s on 2 for 100 classroom steps beside a 2-thread job): the lone run
    keeps its worker's own share, and takes the idle core once the other work is gone."""
    if cpu_count() < 2:
        pytest.skip("one core: nothing to share")
    manager._foreign_load = OtherWork(cpu_count() - 1)
    manager._debug = {"delay_s": 0.03}
    alone = manager.submit(tiny(threads=0, seed=6), "adv", fresh=True)
    job = manager._jobs[alone]
    assert wait_for(lambda: job.state is JobState.RUNNING, 120)
    for _ in range(5):  # several ticks of the scheduler: the share stays the worker's own
        assert job.threads == manager.threads_per_worker
        time.sleep(0.1)
    manager._foreign_load = OtherWork(0)
    assert wait_for(lambda: job.threads == cores_per_run(1, manager.threads_per_worker)
                    or manager.status(alone) == "finished", 120)
    manager._debug = None
    assert manager.wait(alone, 240)
    assert manager.store.get_run(alone)["status"] == "finished"
