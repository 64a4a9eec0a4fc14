#!/usr/bin/env python3
"""Whole-process timing of kindling, with baselines and the reference tools measured in the
same run.

Usage: python3 benches/process.py [--runs N] [--binary PATH] [--against PATH]
                                  [--butane PATH] [--ignition-validate PATH]

Runs each command N times, interleaved so machine noise hits all of them alike, and prints
for each the median wall time, the median CPU time (user + system, from wait4), the ratio
of its wall time to `kindling --version`, and its peak RSS (from GNU time, when
/usr/bin/time exists).

Baselines: `true` (bare process start), `kindling --version` (kindling's own start), and
`sh -c true` (the shell that feeds the terraform query on stdin).

The render rows write into a directory that does not exist yet, removed after each run
(untimed), so every run writes and flushes every config. "into an unchanged DIR" renders
into the same directory each time: the files are already there, and nothing is written.

Reference tools (found on PATH, or given): `butane --strict` translating ONE node of
golden/five-node-fqdn (the same config, written as Butane: contents inline, fields in
Butane's spelling), against `kindling render` of the whole five-node cluster (checked,
validated, written); and `ignition-validate` against `kindling validate` on one rendered
node. Each pair's ratio is printed, by median CPU and by median wall time. A tool that is
missing is named, and its rows are left out. On Debian, `apt-get install ignition` gives an
`ignition-validate` (Ignition 2.14, specs up to 3.3.0: enough for golden/five-node-fqdn,
which is 3.3.0); Butane has no Debian package.

With `--against PATH` (another kindling build, say the last release), its render and
validate runs are interleaved too, and the ratio of each pair is printed.
"""
import argparse
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(ROOT, "golden")
ONE_NODE = os.path.join(GOLDEN, "five-node-fqdn", "expected", "eu1-a.ign")


def run_once(argv):
    """Wall time and CPU time (user + system) of one run; stdout and stderr discarded."""
    actions = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0), (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]
    start = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"command failed: {' '.join(argv)}")
    return elapsed, usage.ru_utime + usage.ru_stime


def output_dir(argv):
    return argv[argv.index("-o") + 1] if "-o" in argv else None


def peak_rss_mib(argv):
    """Peak RSS of one run, from GNU time (a child of Python inherits Python's high-water
    mark in ru_maxrss, so wait4's figure would be wrong)."""
    if not os.path.exists("/usr/bin/time"):
        return float("nan")
    with tempfile.NamedTemporaryFile("r") as report:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report.name, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        return int(report.read().split()[-1]) / 1024


def snake(key):
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower().replace("mi_b", "mib")


def decode_data_url(url):
    header, _, data = url[len("data:"):].partition(",")
    if header.endswith(";base64"):
        return base64.b64decode(data)
    return urllib.parse.unquote_to_bytes(data)


def as_butane(value):
    """An Ignition config value in Butane's spelling: snake_case keys, and data URL contents
    written `inline` (what a person writing the Butane config by hand would have)."""
    if isinstance(value, list):
        return [as_butane(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, member in value.items():
        if key in ("contents", "append") and isinstance(member, dict) and str(member.get("source", "")).startswith("data:") and not member.get("compression"):
            text = decode_data_url(member["source"]).decode()
            rest = {k: v for k, v in member.items() if k not in ("source", "verification")}
            out[key] = {**as_butane(rest), "inline": text}
        else:
            out[snake(key)] = as_butane(member)
    return out


def butane_input(directory):
    """golden/five-node-fqdn's first node as a Butane config (flatcar 1.0.0 is Ignition
    3.3.0, the spec version kindling renders it in), written as JSON, which is YAML."""
    config = json.load(open(ONE_NODE))
    assert config["ignition"]["version"] == "3.3.0", "the Butane variant below assumes spec 3.3.0"
    body = as_butane({k: v for k, v in config.items() if k != "ignition"})
    path = os.path.join(directory, "eu1-a.bu")
    with open(path, "w") as out:
        json.dump({"variant": "flatcar", "version": "1.0.0", **body}, out, indent=1)
    return path


def tool(given, name):
    return given or shutil.which(name)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "kindling"))
    parser.add_argument("--against", help="another kindling binary to compare with, pair by pair")
    parser.add_argument("--butane", help="the reference Butane binary (default: butane on PATH)")
    parser.add_argument("--ignition-validate", help="the reference validator (default: ignition-validate on PATH)")
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} missing: run `cargo build --release` first")
    out = tempfile.mkdtemp(prefix="kindling-bench-")
    work = tempfile.mkdtemp(prefix="kindling-bench-input-")
    bu = butane_input(work)
    subprocess.run([args.binary, "butane", "--strict", bu, "-o", os.path.join(work, "check.ign")], check=True)
    spec = lambda case: os.path.join(GOLDEN, case, "cluster.yaml")
    commands = {
        "true (process start)": ["true"],
        "kindling --version": [args.binary, "--version"],
        "render three-node": [args.binary, "render", spec("three-node"), "-o", os.path.join(out, "three")],
        "render five-node-fqdn": [args.binary, "render", spec("five-node-fqdn"), "-o", os.path.join(out, "five")],
        "  into an unchanged DIR": [args.binary, "render", spec("five-node-fqdn"), "-o", os.path.join(out, "same")],
        "check five-node-fqdn": [args.binary, "check", spec("five-node-fqdn")],
        "validate one node config": [args.binary, "validate", ONE_NODE],
        "kindling butane one node": [args.binary, "butane", "--strict", bu],
        "terraform three-node": ["sh", "-c", f'echo \'{{"spec": "{spec("three-node")}"}}\' | {args.binary} terraform >/dev/null'],
        "sh -c true (shell start)": ["sh", "-c", "true"],
    }
    references = []
    butane = tool(args.butane, "butane")
    if butane:
        commands["butane --strict one node"] = [butane, "--strict", bu]
        references.append(("render five-node-fqdn", "butane --strict one node"))
    validator = tool(args.ignition_validate, "ignition-validate")
    if validator:
        commands["ignition-validate one node"] = [validator, ONE_NODE]
        references.append(("validate one node config", "ignition-validate one node"))
    compared = ["render three-node", "render five-node-fqdn", "  into an unchanged DIR", "check five-node-fqdn", "validate one node config"]
    if args.against:
        other = tempfile.mkdtemp(prefix="kindling-bench-against-")
        for name in compared:
            argv = [args.against if a == args.binary else a.replace(out, other) for a in commands[name]]
            commands[f"{name} (against)"] = argv
    fresh = {name for name, argv in commands.items() if output_dir(argv) and "unchanged" not in name}
    walls = {name: [] for name in commands}
    cpus = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, argv in commands.items():
            wall, cpu = run_once(argv)
            walls[name].append(wall)
            cpus[name].append(cpu)
            if name in fresh:
                shutil.rmtree(output_dir(argv))
    rss = {name: peak_rss_mib(argv) for name, argv in commands.items()}
    base = statistics.median(walls["kindling --version"])
    print(f"{'command':34} {'wall ms':>8} {'p90 ms':>8} {'CPU ms':>8} {'x --version':>12} {'max RSS MiB':>12}   ({args.runs} runs each, medians)")
    for name in commands:
        values = sorted(walls[name])
        median = statistics.median(values)
        p90 = values[int(len(values) * 0.9) - 1]
        cpu = statistics.median(cpus[name])
        print(f"{name:34} {median * 1000:8.2f} {p90 * 1000:8.2f} {cpu * 1000:8.2f} {median / base:12.2f} {rss[name]:12.1f}")
    print("\nkindling / reference tool, medians of the same run:")
    for mine, theirs in references:
        by_cpu = statistics.median(cpus[mine]) / statistics.median(cpus[theirs])
        by_wall = statistics.median(walls[mine]) / statistics.median(walls[theirs])
        print(f"  {mine + ' / ' + theirs:62} CPU {by_cpu:5.2f}   wall {by_wall:5.2f}")
    for name, present in (("butane", butane), ("ignition-validate", validator)):
        if not present:
            print(f"  {name}: not on PATH (give --{name} PATH); its comparison is left out")
    if args.against:
        print("\nthis build / --against build, median wall time:")
        for name in compared:
            ratio = statistics.median(walls[name]) / statistics.median(walls[f"{name} (against)"])
            print(f"  {name:32} {ratio:6.2f}")
        shutil.rmtree(other)
    shutil.rmtree(out)
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
