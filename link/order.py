#!/usr/bin/env python3
"""Writes link/hot-functions.txt: the functions kindling's common commands execute, in the
order the linker should place them (build.rs hands the list to lld).

Usage: cargo build --release && python3 link/order.py [--binary PATH] [--check]

Each workload below runs once under callgrind (valgrind must be installed). A function any
of them executes is listed: first those every workload runs, then grouped by the set of
workloads that run them, the busiest first within a group. So each command's code lies on
few pages, whichever command it is.

The names are mangled symbols, and their hashes change with the compiler, the dependency
versions and the build profile. Run this again after changing any of them: a name the
binary no longer has is skipped by the linker, so a stale list costs memory and time, never
correctness. The script ends by saying how many of the listed names the binary it profiled
has (all of them, right after a run).

With --check it profiles nothing and writes nothing: it counts the listed names the binary
has, and fails when fewer than nine in ten are there although the binary was built by the
rustc the list was made with (so the list has gone stale: regenerate it). Built by another
rustc, every hash differs; it says so and does not fail. CI runs the check.
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benches"))
import process  # noqa: E402  (benches/process.py: the Butane form of one golden node)

OUTPUT = os.path.join(ROOT, "link", "hot-functions.txt")
MADE_WITH = "# Made for the release profile with: "


def workloads(binary, work):
    """The commands to profile: (name, argv, stdin). Render runs twice into one directory,
    so the second run is the unchanged-directory case."""
    spec = lambda case: os.path.join(ROOT, "golden", case, "cluster.yaml")
    out = os.path.join(work, "out")
    terraform_query = f'{{"spec": "{spec("three-node")}"}}'.encode()
    return [
        ("render three-node", [binary, "render", spec("three-node"), "-o", os.path.join(work, "three")], None),
        ("render five-node-fqdn", [binary, "render", spec("five-node-fqdn"), "-o", out], None),
        ("render unchanged", [binary, "render", spec("five-node-fqdn"), "-o", out], None),
        ("check", [binary, "check", spec("five-node-fqdn")], None),
        ("validate", [binary, "validate", process.ONE_NODE], None),
        ("matchbox", [binary, "matchbox", spec("three-node"), "-o", os.path.join(work, "matchbox")], None),
        ("terraform", [binary, "terraform"], terraform_query),
        ("butane", [binary, "butane", "--strict", process.butane_input(work)], None),
        ("version", [binary, "--version"], None),
    ]


def symbol(name):
    """The symbol callgrind names a function by, or None for code it has no symbol for
    (shown as an address, or `(below main)`). `name'2` is a recursive call's second level."""
    name = re.sub(r"'[0-9]+$", "", name.strip())
    return None if name.startswith(("0x", "(")) else name


def executed_functions(binary, argv, stdin, report):
    """{mangled name: instructions executed in it} for the functions of `binary` one run
    executes."""
    subprocess.run(
        ["valgrind", "--tool=callgrind", "--demangle=no", "--compress-strings=no", "--compress-pos=no", f"--callgrind-out-file={report}", *argv],
        input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
    )
    binary = os.path.realpath(binary)
    costs = collections.Counter()
    in_binary, function, after_call = False, None, False
    with open(report) as lines:
        for line in lines:
            if line.startswith("ob="):
                in_binary = os.path.realpath(line[3:].strip()) == binary
            elif line.startswith("fn="):
                function = symbol(line[3:]) if in_binary else None
                if function:
                    costs[function] += 0
            elif line.startswith("calls="):
                after_call = True
            elif line[:1].isdigit() and function:
                if not after_call:
                    costs[function] += int(line.split()[1])
                after_call = False
    return costs


def ordered(runs):
    """Names in link order: by how many workloads run them (most first), then grouped by
    which workloads, then by instructions executed."""
    workloads_of = collections.defaultdict(set)
    busy = collections.Counter()
    for workload, costs in runs.items():
        for name, instructions in costs.items():
            workloads_of[name].add(workload)
            busy[name] += instructions
    key = lambda name: (-len(workloads_of[name]), sorted(workloads_of[name]), -busy[name], name)
    return sorted(workloads_of, key=key)


def symbols_of(binary):
    listing = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1] for line in listing.splitlines() if line.split()}


def listed_names():
    """(the rustc the list was made with, the names it lists)."""
    made_with, names = None, []
    with open(OUTPUT) as lines:
        for line in lines:
            line = line.strip()
            if line.startswith(MADE_WITH):
                made_with = line[len(MADE_WITH):]
            elif line and not line.startswith("#"):
                names.append(line)
    return made_with, names


def check(binary, rustc):
    made_with, names = listed_names()
    present = symbols_of(binary)
    found = sum(name in present for name in names)
    summary = f"{found} of the {len(names)} names in {os.path.relpath(OUTPUT, ROOT)} are in {binary}"
    if made_with != rustc:
        print(f"{summary}; the list was made with {made_with}, this is {rustc}, so its hashes differ (regenerate it: python3 link/order.py)")
    elif found * 10 < len(names) * 9:
        sys.exit(f"{summary}: the list is stale, and the binary's hot code is scattered again. Regenerate it: cargo build --release && python3 link/order.py")
    else:
        print(summary)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "kindling"))
    parser.add_argument("--check", action="store_true", help="only check that the list names the binary's functions")
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} missing: run `cargo build --release` first")
    rustc = subprocess.run([os.environ.get("RUSTC", "rustc"), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if args.check:
        return check(args.binary, rustc)
    with tempfile.TemporaryDirectory(prefix="kindling-order-") as work:
        runs = {}
        for name, argv, stdin in workloads(args.binary, work):
            runs[name] = executed_functions(args.binary, argv, stdin, os.path.join(work, "callgrind.out"))
            print(f"{name:24} {len(runs[name]):5} functions", file=sys.stderr)
    names = ordered(runs)
    with open(OUTPUT, "w") as out:
        out.write("# Functions kindling's common commands execute, in link order (build.rs passes this\n")
        out.write("# file to lld as --symbol-ordering-file). Generated by link/order.py; do not edit.\n")
        out.write(f"{MADE_WITH}{rustc}\n")
        for name in names:
            out.write(name + "\n")
    check(args.binary, rustc)


if __name__ == "__main__":
    main()
