"""The GIL is released while the engine computes: another Python thread runs meanwhile."""

import threading
import time

import numpy as np


def test_forward_releases_the_gil(toy):
    tokens = np.tile(toy.to_tokens("When Mary and John went to the store, John gave a drink to"), (256, 1))
    toy(tokens, return_type=None)  # warm up
    window = {}

    def work():
        window["t0"] = time.perf_counter()
        toy(tokens, return_type=None)
        window["t1"] = time.perf_counter()

    # A thread inside C code that holds the GIL never gives it up, whatever the switch interval:
    # then this loop could not tick while the forward runs.
    ticks = []
    t = threading.Thread(target=work)
    t.start()
    while t.is_alive():
        ticks.append(time.perf_counter())
    t.join()
    t0, t1 = window["t0"], window["t1"]
    assert t1 - t0 > 0.01
    middle = [x for x in ticks if t0 + 0.25 * (t1 - t0) < x < t0 + 0.75 * (t1 - t0)]
    assert len(middle) > 100, (len(middle), t1 - t0)
