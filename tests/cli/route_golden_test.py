#!/usr/bin/env python3
"""Golden tests of `mailflow route` (SPEC §5): run the built binary for every case listed in
route_golden/cases.txt and compare its `--json` output with route_golden/<name>.json.

Usage:
  route_golden_test.py --mailflow build/src/cli/mailflow            # check every case
  route_golden_test.py --mailflow BIN R-DOM-2 R-HYB-1               # only these cases
  route_golden_test.py --mailflow BIN --update                      # rewrite the expected files

The binary runs from the route_golden folder, so config paths in cases.txt are relative to it and
nothing machine-specific ends up in the expected output. Key order is part of the golden (the
command writes ordered JSON): a reordered key shows up in the diff. Standard library only.
"""

import argparse
import difflib
import json
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "route_golden"
CASES = HERE / "cases.txt"


def load_cases():
    cases = []
    for lineno, line in enumerate(CASES.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("|", 2)]
        if len(parts) != 3 or not parts[1].isdigit():
            sys.exit(f"{CASES}:{lineno}: expected 'name | exit | arguments'")
        cases.append((parts[0], int(parts[1]), shlex.split(parts[2])))
    names = [c[0] for c in cases]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        sys.exit(f"{CASES}: duplicate case names: {', '.join(sorted(dup))}")
    return cases


def run(binary, args):
    return subprocess.run([binary, "route", *args], cwd=HERE, capture_output=True, text=True, timeout=60)


def canonical(obj):
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def check_case(binary, name, want_rc, args, update):
    """Returns a list of failure messages (empty: passed)."""
    problems = []
    if want_rc != 0:
        p = run(binary, [*args, "--json"])
        if p.returncode != want_rc:
            problems.append(f"exit code {p.returncode}, want {want_rc}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        if not p.stderr.strip():
            problems.append("no message on stderr")
        if p.stdout.strip():
            problems.append(f"unexpected output on stdout:\n{p.stdout}")
        return problems

    p = run(binary, [*args, "--json"])
    if p.returncode != 0:
        return [f"--json: exit code {p.returncode}\nstderr:\n{p.stderr}"]
    try:
        got = json.loads(p.stdout)
    except json.JSONDecodeError as e:
        return [f"--json: output is not JSON ({e}):\n{p.stdout}"]
    expected_file = HERE / f"{name}.json"
    if update:
        expected_file.write_text(canonical(got), encoding="utf-8")
    elif not expected_file.exists():
        problems.append(f"missing {expected_file.name} (run with --update to create it)")
    else:
        want_text = canonical(json.loads(expected_file.read_text(encoding="utf-8")))
        got_text = canonical(got)
        if want_text != got_text:
            diff = difflib.unified_diff(want_text.splitlines(True), got_text.splitlines(True),
                                        f"{name}.json (expected)", f"{name} (mailflow route --json)")
            problems.append("".join(diff))

    h = run(binary, args)  # the human output of the same case
    if h.returncode != 0:
        problems.append(f"human output: exit code {h.returncode}\nstderr:\n{h.stderr}")
    else:
        for section in ("Attribution", "Recipients", "SMTP"):
            if f"\n{section}\n" not in "\n" + h.stdout:
                problems.append(f"human output: no '{section}' section:\n{h.stdout}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mailflow", required=True, help="path of the built mailflow binary")
    ap.add_argument("--update", action="store_true", help="rewrite the expected JSON files")
    ap.add_argument("names", nargs="*", help="run only these cases")
    opts = ap.parse_args()
    binary = str(Path(opts.mailflow).resolve())

    cases = load_cases()
    if opts.names:
        unknown = set(opts.names) - {c[0] for c in cases}
        if unknown:
            sys.exit(f"unknown case(s): {', '.join(sorted(unknown))}")
        cases = [c for c in cases if c[0] in opts.names]

    failed = 0
    for name, rc, args in cases:
        problems = check_case(binary, name, rc, args, opts.update)
        if problems:
            failed += 1
            print(f"FAIL {name}")
            for msg in problems:
                print("  " + msg.replace("\n", "\n  ").rstrip())
        else:
            print(f"ok   {name}")
    if not opts.update:
        listed = {f"{c[0]}.json" for c in load_cases()}
        for f in sorted(HERE.glob("*.json")):
            if f.name not in listed:
                print(f"warning: {f.name} belongs to no case in cases.txt")
    print(f"{len(cases) - failed}/{len(cases)} cases passed" + (" (expected files updated)" if opts.update else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
