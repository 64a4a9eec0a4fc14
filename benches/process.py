#!/usr/bin/env python3
"""Whole-process timing of `kindling render`, with baselines measured in the same run.

Usage: python3 benches/process.py [--runs N] [--binary PATH] [--against PATH]

Runs each command N times, interleaved so machine noise hits all of them alike, and prints
the median wall time, the ratio to the `kindling --version` baseline, and the peak RSS of
each (from GNU time, when /usr/bin/time exists).
Baselines: `true` (bare process start), `kindling --version` (kindling's own start), and
`sh -c true` (the shell that feeds the terraform query on stdin). With `--against PATH`
(another kindling build, say the last release), its render and validate runs are interleaved
with these, and the ratio of each pair is printed.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_once(argv):
    actions = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0), (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]
    start = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
    _, status, _ = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"command failed: {' '.join(argv)}")
    return elapsed


def peak_rss_mib(argv):
    """Peak RSS of one run, from GNU time (a child of Python inherits Python's high-water
    mark in ru_maxrss, so wait4's figure would be wrong)."""
    if not os.path.exists("/usr/bin/time"):
        return float("nan")
    with tempfile.NamedTemporaryFile("r") as report:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report.name, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        return int(report.read().split()[-1]) / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "kindling"))
    parser.add_argument("--against", help="another kindling binary to compare with, pair by pair")
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} missing: run `cargo build --release` first")
    out = tempfile.mkdtemp(prefix="kindling-bench-")
    golden = os.path.join(ROOT, "golden")
    commands = {
        "true (process start)": ["true"],
        "kindling --version": [args.binary, "--version"],
        "render three-node": [args.binary, "render", os.path.join(golden, "three-node", "cluster.yaml"), "-o", out],
        "render five-node-fqdn": [args.binary, "render", os.path.join(golden, "five-node-fqdn", "cluster.yaml"), "-o", out],
        "validate one node config": [args.binary, "validate", os.path.join(golden, "three-node", "expected", "etcd1.ign")],
        "terraform three-node": ["sh", "-c", f'echo \'{{"spec": "{os.path.join(golden, "three-node", "cluster.yaml")}"}}\' | {args.binary} terraform >/dev/null'],
        "sh -c true (shell start)": ["sh", "-c", "true"],
    }
    compared = ["render three-node", "render five-node-fqdn", "validate one node config"]
    if args.against:
        other = tempfile.mkdtemp(prefix="kindling-bench-against-")
        for name in compared:
            argv = [args.against if a == args.binary else (other if a == out else a) for a in commands[name]]
            commands[f"{name} (against)"] = argv
    samples = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, argv in commands.items():
            samples[name].append(run_once(argv))
    rss = {name: peak_rss_mib(argv) for name, argv in commands.items()}
    base = statistics.median(samples["kindling --version"])
    print(f"{'command':34} {'median ms':>10} {'p90 ms':>8} {'x --version':>12} {'max RSS MiB':>12}   ({args.runs} runs each)")
    for name in commands:
        values = sorted(samples[name])
        median = statistics.median(values)
        p90 = values[int(len(values) * 0.9) - 1]
        print(f"{name:34} {median * 1000:10.2f} {p90 * 1000:8.2f} {median / base:12.2f} {rss[name]:12.1f}")
    if args.against:
        print(f"\nthis build / --against build, median wall time:")
        for name in compared:
            ratio = statistics.median(samples[name]) / statistics.median(samples[f"{name} (against)"])
            print(f"  {name:32} {ratio:6.2f}")


if __name__ == "__main__":
    main()
