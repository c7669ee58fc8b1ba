"""Ctrl-C during a long engine call raises KeyboardInterrupt promptly (the engine polls Python's
signal handlers from its loops), and the module keeps working afterwards."""

import os
import queue
import signal
import subprocess
import sys
import threading
import time

from conftest import TOY

CHILD = f"""
import sys, time
import circuitscan as cs
model = cs.Model.load({str(TOY)!r})
print("ready", flush=True)
t0 = time.perf_counter()
try:
    cs.discover(model, "ioi", epochs=10**6, prompts=20, no_faithfulness=True)
    print("finished", flush=True)
except KeyboardInterrupt:
    print(f"interrupted after {{time.perf_counter() - t0:.2f}} s", flush=True)
    logits = model("Hello world")  # still usable
    print("after", logits.shape, flush=True)
"""


def test_ctrl_c_interrupts_a_long_discover():
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=os.environ.copy())
    lines = queue.Queue()  # the child's lines, read by a thread so a hang fails the test instead
    threading.Thread(target=lambda: [lines.put(x.strip()) for x in child.stdout], daemon=True).start()
    try:
        assert lines.get(timeout=120) == "ready"
        time.sleep(3.0)  # well inside SAE training (1e6 epochs, the most --epochs allows: ~25 min here)
        sent = time.perf_counter()
        child.send_signal(signal.SIGINT)
        line = lines.get(timeout=30)
        latency = time.perf_counter() - sent
        assert line.startswith("interrupted after"), line
        print(f"KeyboardInterrupt {latency:.3f} s after SIGINT")
        assert latency < 10, latency  # polls every 20 ms; generous for a loaded machine
        # "Hello world" is 2 tokens; the shipped model adds no BOS (default_prepend_bos false)
        assert lines.get(timeout=60).startswith("after (1, 2, 50257)")
        assert child.wait(timeout=60) == 0
    except queue.Empty:
        child.kill()
        raise AssertionError("the child did not answer: " + child.stderr.read())
    finally:
        if child.poll() is None:
            child.kill()
