"""Fault injection: does every run interrupted by SIGINT or SIGKILL resume and finish correctly?

Each chain starts one short `train.py` run in its own folder, sends it a signal at some moment,
resumes it, signals the resumed process, and so on, then lets the last resume finish. Moments are
drawn two ways: at a random time after launch (start-up, W&B, restore, training, the final
evaluation), or inside a checkpoint write: the run is started with every backup write slowed
(`TrainProcess(checkpoint_delay=...)`, which patches `checkpoints.Backup._pause` in the child
to sleep at each step of a write), and the signal follows the new
weights file's temporary name appearing in the backup folder, in the first, second or third
backup write of the process (drawn at random).

An attempt (one signal) survives when
  - SIGINT: the process exits within a minute with code 130 and, once its run folder exists, its
    last line is the resume command (`python train.py --resume <folder>`), with no traceback;
  - SIGKILL: nothing to check until the resume;
  - the next process of the chain starts without error from a backup no more than the epoch in
    flight behind what the interrupted process had finished (a fallback note counts as a pass
    but is reported), and the chain ends with exit code 0, history.csv holding every epoch once,
    `epochs_completed` equal to --epochs and `optimizer_iterations` equal to epochs x steps per
    epoch (the optimizer state went through every resume), and finite, exactly symmetric weights.

    python benchmarks/bench_faults.py             # 12 attempts per signal: 6 random, 6 in writes
    python benchmarks/bench_faults.py --quick     # 1 + 1 attempts in checkpoint writes, ~1 min
    python benchmarks/bench_faults.py --damage --include benchmarks/results/faults.jsonl

`--damage` instead damages run folders (`DAMAGE`: history.csv truncated or header-only, a
zero-byte checkpoint, garbage metadata, a deleted backup) of runs killed after epoch 3, and
checks that the resume reconciles the history (history.csv and W&B's) or refuses in one line
whose advice then works.

Writes <output>/faults.md (the figures) and <output>/faults.jsonl (one line per attempt).
--quick never writes into benchmarks/results: without --output it uses a temporary folder.
"""

import argparse
import collections
import contextlib
import glob
import itertools
import json
import math
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # the test helpers, tests/processes.py
from eqzoo.fileio import write_text  # noqa: E402
from tests.processes import TrainProcess, isolated_environment  # noqa: E402

RESULTS = os.path.join(ROOT, "benchmarks", "results")
EPOCHS, TRAIN_SIZE, BATCH_SIZE = 6, 256, 32
STEPS_PER_EPOCH = math.ceil(TRAIN_SIZE / BATCH_SIZE)
ARGS = ["--set", "width=8", "--epochs", str(EPOCHS), "--batch-size", str(BATCH_SIZE),
        "--dataset-option", f"train_size={TRAIN_SIZE}", "--wandb", "offline"]
QUICK_ARGS = [*ARGS[:-1], "disabled"]  # the quick version saves W&B's start-up
WRITE_DELAY = 0.15  # seconds per step of a slowed backup write (four steps)
KILLS_PER_CHAIN = 4
TIMEOUT = 300


def environment(scratch):
    """W&B offline, caches in the scratch folder, no login read; plus the caller's PATH etc."""
    return isolated_environment(scratch, TF_CPP_MIN_LOG_LEVEL="3",
                                PYTHONUNBUFFERED="1")  # progress seen as it happens


def epochs_started(out):
    return max((int(m) for m in re.findall(r"^Epoch (\d+)/", out, re.M)), default=0)


def resumed_from(out):
    found = re.search(r"^Resuming from the backup of epoch (\d+)", out, re.M)
    return int(found.group(1)) if found else 0


def moment(out, err):
    if "Final:" in out:
        return "after the final evaluation"
    if "Epoch " in out:
        return "training or final evaluation"
    if "Resolved config" in out:
        return "W&B start or backup restore"
    return "start-up (imports, data, model)"


def send_at_moment(launch, folder, how, rng, duration):
    """Wait for the moment, send nothing yet; returns a label, or None if the run ended first."""
    backup = os.path.join(folder, "backup")
    if how == "write":  # the skip+1-th backup write of this process, so later epochs get hit
        skip, seen, inside = rng.randint(0, 2), 0, False
        stale = set(os.listdir(backup)) if os.path.isdir(backup) else set()  # a killed writer's
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and launch.popen.poll() is None:
            # The new weights file lives under its temporary name for three of the four pauses.
            present = os.path.isdir(backup) and any(
                n.startswith(".tmp-") and n.endswith("latest.weights.h5") and n not in stale
                for n in os.listdir(backup))
            if present and not inside:
                if seen == skip:
                    time.sleep(rng.uniform(0, 3.5 * WRITE_DELAY))
                    return "checkpoint write"
                seen += 1
            inside = present
            time.sleep(0.005)
        return None
    time.sleep(rng.uniform(0.5, 0.9 * duration))
    if launch.popen.poll() is not None:
        return None
    return moment(launch.out, launch.err)


def chain(index, signals, how, scratch, rng, duration, run_args=ARGS):
    """One run, sent `signals` one per process at drawn moments, then finished. Returns one row
    per signal sent (a process that ends before its moment comes is not an attempt)."""
    run_id = f"c{index}"
    folder = os.path.join(scratch, "runs", run_id)
    env = environment(scratch)
    delay = WRITE_DELAY if how == "write" else None
    attempts, pending, problems = [], [], []
    signals = list(signals)
    for launch_number in range(len(signals) + 1):
        if os.path.exists(os.path.join(folder, "metrics.json")):  # finished before the signal
            problems += final_check(folder, None, "", "")
            break
        resume = os.path.exists(os.path.join(folder, "config.json"))
        args = (["--resume", os.path.join("runs", run_id)] if resume
                else [*run_args, "--run-id", run_id])
        launch = TrainProcess(scratch, args, env, f"{run_id}-{launch_number}",
                              checkpoint_delay=delay)
        label = None
        if signals:
            label = send_at_moment(launch, folder, how, rng, duration)
        if label is None:  # no more signals, or the run ended before the moment came
            code = launch.wait(TIMEOUT)
            out, err = launch.out, launch.err
            check_resume(pending, out, err, code)
            problems += final_check(folder, code, out, err)
            break
        signum = signals.pop(0)
        out_before = launch.out
        launch.popen.send_signal(signum)
        code = launch.wait(timeout=60 if signum == signal.SIGINT else TIMEOUT)
        out, err = launch.out, launch.err
        row = {"chain": index, "signal": signal.Signals(signum).name, "how": how,
               "moment": label, "seconds": round(time.monotonic() - launch.started, 2),
               "exit_code": code, "problems": [],
               # "Epoch k/N" is printed after epoch k-1's backup is complete.
               "epochs_backed_up": max(epochs_started(out_before) - 1, 0)}
        check_resume(pending, out, err, code)
        if signum == signal.SIGINT:
            check_sigint(row, run_id, out, err, code)
        if os.path.exists(os.path.join(folder, "metrics.json")):
            row["moment"] = "after metrics.json (run finished)"
        attempts.append(row)
        pending.append(row)
    for row in attempts:
        row["chain_problems"] = problems
        row["survived"] = not row["problems"] and not problems
    return attempts


def check_sigint(row, run_id, out, err, code):
    if code is None:
        row["problems"].append("SIGINT did not stop the run within 60 s")
    elif code != 130:
        row["problems"].append(f"exit code {code} after SIGINT")
    if "Traceback" in err:
        row["problems"].append("traceback after SIGINT")
    lines = err.strip().splitlines()
    if code == 130 and "Resolved config" in out and "Run folder:" not in out:  # unfinished
        wanted = f"python train.py --resume {os.path.join('runs', run_id)}"
        if not lines or wanted not in lines[-1]:
            row["problems"].append("no resume command on the last line")


def check_resume(pending, out, err, code):
    """The earlier attempts whose resume this process shows: it started from a backup holding
    every epoch they had finished, and it did not fail on its own."""
    if code not in (0, 130, -signal.SIGKILL, None) or "Traceback" in err:
        if pending:
            pending[-1]["problems"].append(
                f"the next process failed (exit {code}): {err.strip().splitlines()[-1:]}")
    if "previous checkpoint" in err and pending:
        pending[-1]["fallback"] = True
    found = re.search(r"^Resuming from the backup of epoch (\d+)", out, re.M)
    if not found and "Epoch " not in out:
        return  # stopped before restoring: the next process shows it
    start = int(found.group(1)) if found else 0
    for row in pending:
        row["resumed_from_epoch"] = start
        if start < row["epochs_backed_up"]:
            row["problems"].append(f"resumed from epoch {start}, but {row['epochs_backed_up']} "
                                   "were backed up before the signal")
    pending.clear()


def final_check(folder, code, out, err):
    """The finished run folder; `code` None when the signalled process had already finished it
    (the backup may then remain: metrics.json is written first, so a kill in between is safe)."""
    problems = []
    if code not in (0, None):
        problems.append(f"the last resume exited {code}: {err.strip().splitlines()[-1:]}")
        return problems
    if "Traceback" in err:
        problems.append("a traceback in the last resume")
    try:
        with open(os.path.join(folder, "metrics.json")) as f:
            metrics = json.load(f)
        with open(os.path.join(folder, "history.csv")) as f:
            epochs = [int(line.split(",")[0]) for line in f.read().splitlines()[1:]]
    except (OSError, ValueError) as error:
        return problems + [f"unreadable results: {error}"]
    if epochs != list(range(EPOCHS)):  # each epoch once, in order
        problems.append(f"history.csv epochs {epochs}")
    if metrics.get("epochs_completed") != EPOCHS:
        problems.append(f"epochs_completed {metrics.get('epochs_completed')}")
    if metrics.get("optimizer_iterations") != EPOCHS * STEPS_PER_EPOCH:
        problems.append(f"optimizer_iterations {metrics.get('optimizer_iterations')}, expected "
                        f"{EPOCHS * STEPS_PER_EPOCH}")
    if not all(math.isfinite(v) for k, v in metrics.items() if isinstance(v, float)):
        problems.append("non-finite metrics")
    residuals = [v for k, v in metrics.items() if k.startswith("symmetry/")]
    if not residuals or any(v != 0 for v in residuals):
        problems.append(f"weights not exactly symmetric: {residuals}")
    if code == 0 and os.path.exists(os.path.join(folder, "backup")):
        problems.append("the backup was not removed after the run finished")
    return problems


# ----------------------------------------------------------------------------------------------
# Damaged run folders: a run killed after epoch 3 of 6, a file damaged, then resumed
# ----------------------------------------------------------------------------------------------
def _cut_history(folder, keep):
    path = os.path.join(folder, "history.csv")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(keep(text))


def _overwrite(path, text):
    with open(path, "w") as f:
        f.write(text)


DAMAGE = {  # what a user, a crash or a full disk may leave in a run folder
    "history.csv truncated mid-row": lambda folder: _cut_history(
        folder, lambda text: text[:text.index("\n2,") + 4]),
    "history.csv header only": lambda folder: _cut_history(
        folder, lambda text: text.splitlines(keepends=True)[0]),
    "zero-byte backup checkpoint": lambda folder: _overwrite(
        os.path.join(folder, "backup", "latest.weights.h5"), ""),
    "garbage backup metadata": lambda folder: _overwrite(
        os.path.join(folder, "backup", "training_metadata.json"), "\x00{garbage"),
    "backup folder deleted": lambda folder: shutil.rmtree(os.path.join(folder, "backup")),
}


def damage_chain(index, kind, scratch):
    """One run killed once 3 epochs are backed up, `kind` of damage done to its folder, then
    resumed; a one-line refusal's advice (delete the backup and history.csv) is followed. The
    attempt is handled when the run ends true: `final_check`, W&B's history (rewinds applied)
    holding each epoch once, and the resume's first line about the damage naming the file."""
    run_id = f"d{index}"
    folder = os.path.join(scratch, "runs", run_id)
    env = environment(scratch)
    launch = TrainProcess(scratch, [*ARGS, "--run-id", run_id], env, f"{run_id}-0")
    deadline = time.monotonic() + TIMEOUT
    while epochs_started(launch.out) < 4 and launch.popen.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    launch.popen.kill()
    launch.wait(60)
    row = {"chain": index, "signal": "damage", "how": "damage", "moment": kind,
           "problems": [], "handled": None, "said": [], "chain_problems": []}
    if epochs_started(launch.out) < 4:
        row["problems"].append(f"the run to damage did not reach epoch 4: {launch.err[-500:]}")
        row["survived"] = False
        return [row]
    DAMAGE[kind](folder)
    resume = ["--resume", os.path.join("runs", run_id)]
    launch = TrainProcess(scratch, resume, env, f"{run_id}-1")
    code, out, err = launch.wait(TIMEOUT), launch.out, launch.err
    row["fallback"] = "previous checkpoint" in err
    lines = [line for line in err.splitlines() if "history.csv" in line or "backup" in line]
    if code == 2:
        said = [line for line in err.strip().splitlines() if "error:" in line]
        if len(said) != 1 or "Traceback" in err or "delete" not in said[0] or \
                not err.strip().endswith(said[0]):
            row["problems"].append(f"refused, but not in one line with advice: {said[-3:]}")
        row["handled"], row["said"] = "refused in one line; advice followed", said[-1:]
        shutil.rmtree(os.path.join(folder, "backup"), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(folder, "history.csv"))
        launch = TrainProcess(scratch, resume, env, f"{run_id}-2")
        code, out, err = launch.wait(TIMEOUT), launch.out, launch.err
    else:
        row["handled"], row["said"] = "reconciled", [
            line for line in err.splitlines() if "reconciled" in line]
        if not row["said"] or not lines:
            row["problems"].append(f"no line about the damage: {err.strip().splitlines()[-3:]}")
    row["problems"] += final_check(folder, code, out, err) + wandb_check(
        folder, resumed_from(out), row)
    row["survived"] = not row["problems"]
    return [row]


def wandb_check(folder, restored, row):
    """W&B's history as a server would hold it after every rewind: each epoch at most once, in
    order, every epoch after the checkpoint `restored` present. The epochs a SIGKILLed process
    had logged offline may be missing: W&B's writer loses its unflushed records with it (the
    killed process's run file is often its 7-byte header alone); they go in `row["wandb_lost"]`."""
    from tests.wandb_records import read_records

    steps = []
    for run in sorted(glob.glob(os.path.join(folder, "wandb", "offline-run-*"))):
        for record in read_records(glob.glob(os.path.join(run, "*.wandb"))[0]):
            kind = record.WhichOneof("record_type")
            if kind == "run" and record.run.HasField("branch_point"):
                steps = [step for step in steps if step <= record.run.branch_point.value]
            elif kind == "history" and (not steps or steps[-1] != record.history.step.num):
                steps.append(record.history.step.num)
    row["wandb_steps"] = steps
    row["wandb_lost"] = sorted(set(range(1, EPOCHS + 1)) - set(steps))
    after = list(range(restored + 1, EPOCHS + 1))
    if steps != sorted(set(steps)) or steps[-len(after):] != after or not set(steps) <= set(
            range(1, EPOCHS + 1)):
        return [f"W&B history steps {steps}, expected each once and {after} at the end"]
    return []


def reference_run(scratch):
    """An uninterrupted run: its duration bounds the random moments, its checks the harness."""
    launch = TrainProcess(scratch, [*ARGS, "--run-id", "reference"], environment(scratch),
                          "reference")
    code = launch.wait(TIMEOUT)
    seconds = time.monotonic() - launch.started
    problems = final_check(os.path.join(scratch, "runs", "reference"), code, launch.out,
                           launch.err)
    if problems:
        raise SystemExit(f"the uninterrupted run fails its own checks: {problems}")
    return seconds


def report(rows, reference_seconds, wall_seconds, output, command):
    lines = ["# Fault injection: SIGINT and SIGKILL, then resume", "",
             f"Written by `benchmarks/bench_faults.py` ({command}). Each chain trains "
             f"`symmetric_mlp_digits` (`{' '.join(ARGS)}`), sends a signal at some moment, "
             f"resumes with `python train.py --resume <folder>`, up to {KILLS_PER_CHAIN} times, "
             "then lets the last resume finish. "
             + (f"An uninterrupted run took {reference_seconds:.1f} s here; "
                if math.isfinite(reference_seconds) else "")
             + f"the whole measurement {wall_seconds / 60:.1f} min on {os.cpu_count()} CPU cores "
             "(shared with other work).", "",
             "An attempt survives when: after SIGINT the process exits with code 130 within a "
             "minute, no traceback, the resume command on its last line; the next process "
             "resumes from a backup that lost at most the epoch in flight; and its chain ends "
             f"with exit code 0, every epoch once in history.csv, `epochs_completed` = {EPOCHS}, "
             f"`optimizer_iterations` = {EPOCHS} x {STEPS_PER_EPOCH} (the optimizer state came "
             "through every resume), finite and exactly symmetric weights, the backup removed.",
             "", "| signal | moment | attempts | survived |", "|---|---|---|---|"]
    table = collections.defaultdict(lambda: [0, 0])
    for row in rows:
        for key in ((row["signal"], row["moment"]), (row["signal"], "all")):
            table[key][0] += 1
            table[key][1] += row["survived"]
    for signum in ("SIGINT", "SIGKILL"):
        keys = sorted(k for k in table if k[0] == signum and k[1] != "all")
        if not keys:
            continue
        for key in keys + [(signum, "all")]:
            attempts, survived = table[key]
            name = "**all**" if key[1] == "all" else key[1]
            lines.append(f"| {signum} | {name} | {attempts} | {survived} |")
    damaged = [row for row in rows if row["signal"] == "damage"]
    if damaged:
        lines += ["", "Damaged run folders: a run killed once 3 of its 6 epochs are backed up, "
                  "one file damaged, then `--resume`; a one-line refusal's advice is followed. "
                  "Handled: the run ends as above, W&B's offline history (its rewinds applied) "
                  "holds each epoch at most once, in order, with every epoch after the checkpoint "
                  "restored, and the resume says in one line what it did. W&B epochs lost with "
                  "the killed process (its offline writer dies unflushed) are listed, not "
                  "counted against the run.", "",
                  "| damage | attempts | handled | how | W&B steps (lost) | what the resume said |",
                  "|---|---|---|---|---|---|"]
        for kind in DAMAGE:
            done = [row for row in damaged if row["moment"] == kind]
            if done:
                said = done[-1]["said"][0] if done[-1]["said"] else ""
                said = re.sub(r"/\S*/runs/", "runs/", said).replace("|", "\\|")
                steps = (f"{done[-1].get('wandb_steps')} ({done[-1].get('wandb_lost')})"
                         if "wandb_steps" in done[-1] else "-")
                lines.append(f"| {kind} | {len(done)} | {sum(r['survived'] for r in done)} | "
                             f"{done[-1]['handled']} | {steps} | {said} |")
    fallbacks = sum(bool(row.get("fallback")) for row in rows)
    failed = [row for row in rows if not row["survived"]]
    lines += ["", f"Resumes that fell back to the previous checkpoint (with their one-line note): "
              f"{fallbacks}.", ""]
    if failed:
        lines += ["Failures:", ""] + [f"- chain {r['chain']} {r['signal']} at {r['moment']}: "
                                      f"{'; '.join(r['problems'] + r['chain_problems'])}"
                                      for r in failed] + [""]
    lines += ["\"checkpoint write\" attempts run with every backup write slowed "
              f"(`TrainProcess(checkpoint_delay={WRITE_DELAY})`: it pauses {WRITE_DELAY} s at "
              "each of its four "
              "steps: temporary weights file written, current pair rotated to `*.bkp` in two "
              "renames, new file renamed in, metadata written) and get the signal up to "
              f"{3.5 * WRITE_DELAY:.2f} s after the temporary file of the process's first, second "
              "or third write (drawn at random) appears. Other moments are "
              "uniform in [0.5 s, the uninterrupted run's duration] after launch, labelled by "
              "what the process had printed. Final weights are not compared with the "
              "uninterrupted run's: the input pipeline reshuffles per epoch from the seed, and a "
              "resumed process starts that sequence again, so the order of examples after a "
              "resume differs.", ""]
    os.makedirs(output, exist_ok=True)
    path = os.path.join(output, "faults.md")
    write_text(path, "\n".join(lines))
    write_text(os.path.join(output, "faults.jsonl"),
               "".join(json.dumps(row) + "\n" for row in rows))
    print(f"Wrote {path}")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=12,
                        help="signals of each kind to send, half at random moments, half inside "
                        "checkpoint writes (default 12)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--signals", default="SIGINT,SIGKILL", help="(default: SIGINT,SIGKILL)")
    parser.add_argument("--moments", default="random,write", help="random: uniform after "
                        "launch; write: inside a checkpoint write (default: random,write)")
    parser.add_argument("--include", metavar="JSONL", help="report these attempts too (the "
                        "faults.jsonl of an earlier invocation, e.g. with other --signals)")
    parser.add_argument("--duration", type=float, help="seconds of an uninterrupted run, the "
                        "span of random moments (default: measured by one such run first)")
    parser.add_argument("--output", help=f"(default: {RESULTS}; --quick: a temporary folder)")
    parser.add_argument("--damage", action="store_true", help="instead of signals: each kind "
                        "of run-folder damage in DAMAGE once (--attempts times at most)")
    parser.add_argument("--quick", action="store_true",
                        help="one SIGINT and one SIGKILL inside checkpoint writes, ~1 min")
    args = parser.parse_args(argv)
    output = args.output or (tempfile.mkdtemp(prefix="eqzoo-faults-") if args.quick else RESULTS)
    if args.quick and os.path.abspath(output) == os.path.abspath(RESULTS):
        parser.error("--quick never writes into benchmarks/results; pass another --output")
    rng = random.Random(args.seed)
    started = time.monotonic()
    rows = []
    if args.include:
        with open(args.include) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    chain_numbers = itertools.count(1 + max((row["chain"] for row in rows), default=-1))
    with tempfile.TemporaryDirectory(prefix="eqzoo-faults-") as scratch:
        if args.damage:
            for kind in list(DAMAGE)[:args.attempts]:
                found = damage_chain(next(chain_numbers), kind, scratch)
                rows += found
                print(f"damage {kind:32s} {found[0]['handled']}: "
                      f"{'survived' if found[0]['survived'] else found[0]['problems']}",
                      flush=True)
            reference_seconds, plan = float("nan"), []
        elif args.quick:  # one chain: SIGINT in a checkpoint write, then SIGKILL in one
            reference_seconds = float("nan")
            plan = [(signal.SIGINT, "write")]
        else:
            reference_seconds = args.duration or reference_run(scratch)
            print(f"uninterrupted run: {reference_seconds:.1f} s", flush=True)
            plan = [(signal.Signals[name], how) for name in args.signals.split(",")
                    for how in args.moments.split(",")]
        for signum, how in plan:
            want = 2 if args.quick else math.ceil(args.attempts / 2)  # half random, half writes
            sent, empty = 0, 0
            while sent < want and empty < 3:  # a chain whose run ends first sends nothing
                signals = ([signal.SIGINT, signal.SIGKILL] if args.quick
                           else [signum] * min(KILLS_PER_CHAIN, want - sent))
                found = chain(next(chain_numbers), signals, how, scratch, rng,
                              reference_seconds, QUICK_ARGS if args.quick else ARGS)
                sent += len(found)
                empty = 0 if found else empty + 1
                rows += found
                for row in found:
                    verdict = "survived" if row["survived"] else (
                        f"FAILED: {row['problems'] + row['chain_problems']}")
                    print(f"chain {row['chain']:2d} {row['signal']:7s} {row['moment']:32s} "
                          f"{verdict}", flush=True)
            if args.quick:
                break
    command = "--quick" if args.quick else "--damage" if args.damage else (
        f"--attempts {args.attempts} --seed {args.seed}")
    report(rows, reference_seconds, time.monotonic() - started, output, command)
    print(f"{sum(row['survived'] for row in rows)} of {len(rows)} attempts survived")
    return 0 if all(row["survived"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
