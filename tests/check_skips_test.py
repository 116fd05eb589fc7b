#!/usr/bin/env python3
"""Unit test of tests/check_skips.py on hand-made ctest outputs (ctest, unit tier)."""
import contextlib
import io
import json
import os
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_skips  # noqa: E402

JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="(empty)" tests="3" failures="0" skipped="2">
  <testcase name="A.Runs" classname="A.Runs" time="0.1" status="run">
    <system-out>[ RUN      ] A.Runs
[       OK ] A.Runs (0 ms)</system-out>
  </testcase>
  <testcase name="K.NeedsStressNg" classname="K.NeedsStressNg" time="0.0" status="notrun">
    <skipped message="SKIP_REGULAR_EXPRESSION_MATCHED"/>
    <system-out>[ RUN      ] K.NeedsStressNg
/src/tests/k.cpp:40: Skipped
stress-ng not found on PATH (package stress-ng, installed by scripts/install-deps.sh)
[  SKIPPED ] K.NeedsStressNg (0 ms)</system-out>
  </testcase>
  <testcase name="U.AsRoot" classname="U.AsRoot" time="0.0" status="notrun">
    <skipped message="SKIP_REGULAR_EXPRESSION_MATCHED"/>
    <system-out>/src/tests/u.cpp:9: Skipped
root reads mode-000 files; covered elsewhere
[  SKIPPED ] U.AsRoot (0 ms)</system-out>
  </testcase>
</testsuite>
"""
TESTS = {"tests": [
    {"name": "A.Runs", "properties": [{"name": "LABELS", "value": ["unit"]}]},
    {"name": "K.NeedsStressNg", "properties": [{"name": "LABELS", "value": ["kernel"]}]},
    {"name": "U.AsRoot", "properties": [{"name": "LABELS", "value": ["unit"]}]},
]}
EXPECTED = "# why\nroot reads mode-000 files\n"


def run(tmp, *flags, expected=EXPECTED):
    paths = [os.path.join(tmp, n) for n in ("junit.xml", "tests.json", "expected.txt")]
    for path, text in zip(paths, (JUNIT, json.dumps(TESTS), expected)):
        with open(path, "w") as f:
            f.write(text)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = check_skips.main(["check_skips.py", *paths, *flags])
    return rc, out.getvalue()


def main():
    failures = []

    def check(cond, what, output):
        if not cond:
            failures.append(f"{what}\n{output}")

    with tempfile.TemporaryDirectory() as tmp:
        rc, out = run(tmp, "--no-strict")
        check(rc == 0, "not strict: skips are allowed", out)
        check("skipped [kernel] K.NeedsStressNg: stress-ng not found on PATH" in out,
              "every skip is printed with its label and reason", out)
        check("2 skipped, 0 unexpected" in out, "the summary counts both skips", out)

        rc, out = run(tmp, "--strict")
        check(rc == 1, "strict: a skip whose reason is not listed fails", out)
        check("UNEXPECTED SKIP [kernel] K.NeedsStressNg" in out, "the unexpected skip is named", out)
        check("skipped [unit] U.AsRoot: root reads mode-000 files" in out,
              "a listed reason is printed as an expected skip", out)

        rc, out = run(tmp, "--strict", expected=EXPECTED + "stress-ng not found\n")
        check(rc == 0, "strict: every reason listed passes", out)

        rc, out = run(tmp, "--strict", expected="")
        check(rc == 1 and "2 skipped, 2 unexpected" in out, "strict with an empty list", out)

    check(check_skips.skip_reason("no gtest output", "Not Run") ==
          "no reason printed (ctest: Not Run)", "a skip without a printed reason says so", "")
    if failures:
        print("FAILED:\n" + "\n---\n".join(failures))
        return 1
    print("check_skips: all cases passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
