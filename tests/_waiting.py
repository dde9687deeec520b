"""Polling for a condition that a background worker makes true, with a deadline."""

import time


def wait_for(predicate, timeout=20.0, every=0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False
