"""The command line's run leaves the cores other processes keep busy to them, and takes them back."""

import torch

from core.cli.threads import ThreadsFollowLoad
from core.engine.resources import set_threads


class OtherWork:
    """A ForeignLoad stand-in: the whole cores other processes keep busy, set by the test."""

    def __init__(self, cores):
        self.now, self.asked = cores, []

    def cores(self, ours):
        self.asked.append(list(ours))
        return float(self.now)

    def whole_cores(self, ours):
        return int(self.cores(ours))


def test_threads_follow_the_other_work_between_steps_and_never_exceed_the_start():
    other, applied = OtherWork(0), []
    follow = ThreadsFollowLoad(load=other, apply=applied.append)
    follow.most = 4  # as if torch had started with 4 threads on this machine
    follow.threads = 4
    follow()
    assert applied == []  # quiet machine: nothing to change
    other.now = 1
    follow()
    assert applied == [3] and follow.threads == 3
    follow()
    assert applied == [3]  # the same reading does not set it again
    other.now = 9  # more other work than cores: still one thread, never none
    follow()
    assert applied == [3, 1]
    other.now = 0  # the other job ended: all the cores come back, no more than at the start
    follow()
    assert applied == [3, 1, 4]
    assert all(pids == [other.asked[0][0]] for pids in other.asked)  # only this process counts as ours


def test_the_cli_run_follows_the_load_and_a_pinned_run_does_not(monkeypatch, tmp_path):
    from core.cli import threads as threads_module
    from core.cli.main import main

    made = []

    class Recording(ThreadsFollowLoad):
        def __init__(self):
            super().__init__(load=OtherWork(1), apply=lambda n: None)
            made.append(self)

    monkeypatch.setattr(threads_module, "ThreadsFollowLoad", Recording)
    before = torch.get_num_threads()
    small = ["--set", "steps=3", "--set", "n_train=8", "--set", "n_test=8", "--set", "n_eval_pgd=4", "--quiet",
             "--set", "device=cpu"]  # a run on a GPU follows no CPU load
    try:
        assert main(["run", "--preset", "classroom", "--mode", "std", *small]) == 0
        assert len(made) == 1 and made[0].threads == max(1, before - 1)
        assert main(["run", "--preset", "classroom", "--mode", "std", "--set", "threads=1", *small]) == 0
        assert len(made) == 1  # pinned: no follower
    finally:
        set_threads(before)  # the pinned run set this process's count; later tests expect the default


def test_the_real_image_cli_follows_the_load_too(monkeypatch):
    from test_real_cli import MICRO  # pytest puts tests/ on the path, as for _browser

    from core.cli import real
    from core.cli import threads as threads_module

    made, applied = [], []

    class Recording(ThreadsFollowLoad):
        def __init__(self, apply):
            super().__init__(load=OtherWork(1), apply=applied.append)
            made.append(self)

    monkeypatch.setattr(threads_module, "ThreadsFollowLoad", Recording)
    before = torch.get_num_threads()
    assert real.main(["--quick", "--device", "cpu", "--quiet", *MICRO]) == 0
    assert len(made) == 1 and made[0].threads == max(1, before - 1)
    assert applied in ([], [before - 1])  # one change at most: the reading did not move
