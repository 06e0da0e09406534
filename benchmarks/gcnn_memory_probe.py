"""One run of `bench_gcnn_speed.py --part memory`, in a fresh process: caps the address space
first (RLIMIT_AS, before TensorFlow is imported), builds one preset at one image side, trains
one step (batch 32) and prints `RESULT <json>`: parameters, build and step seconds, peak RSS
(ru_maxrss) and the outcome, or where it stopped. `PHASE <name>` lines say how far it got, for
the parent to report when the process dies without a word (a failed allocation in native code
can end it with a segmentation fault).

    python benchmarks/gcnn_memory_probe.py '{"preset": "d4_invariant_digits", "side": 28,
                                             "cap_gib": 4}'
"""

import json
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    request = json.loads(sys.argv[1])
    cap = int(request["cap_gib"] * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    result = {"params": None, "build_s": None, "step_s": None}
    try:
        import numpy as np

        from eqzoo import zoo

        side = request["side"]
        print("PHASE building", flush=True)
        started = time.perf_counter()
        model = zoo.create_model(request["preset"], input_shape=(side, side, 1))
        result.update(build_s=time.perf_counter() - started, params=model.count_params())
        model.compile("adam", "sparse_categorical_crossentropy")
        x = np.zeros((32, side, side, 1), "float32")
        print("PHASE training one step", flush=True)
        started = time.perf_counter()
        model.train_on_batch(x, np.zeros(32, "int32"))
        result.update(step_s=time.perf_counter() - started, status="trained one step")
    except Exception as error:  # MemoryError or any other failure is the outcome
        first = (str(error).splitlines() or [""])[0][:80]
        result["status"] = f"stopped: {type(error).__name__}: {first}"
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
