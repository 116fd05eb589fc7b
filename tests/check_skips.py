#!/usr/bin/env python3
"""Prints every skipped ctest test with its reason; under CI fails on the
unexpected ones.

Usage: check_skips.py JUNIT_XML CTEST_JSON EXPECTED_SKIPS [--strict|--no-strict]

JUNIT_XML      ctest --output-junit FILE of the run
CTEST_JSON     ctest --show-only=json-v1 of the same build (test labels)
EXPECTED_SKIPS tests/expected-skips.txt: one regex per line, '#' comments

Strict (the default when CI=true and running as root): a skip whose reason
matches no line of EXPECTED_SKIPS is an error, and the exit code is 1.
"""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET


def skip_reason(output: str, ctest_message: str) -> str:
    """The reason a gtest test printed after 'FILE:LINE: Skipped'."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if re.search(r":\d+: Skipped$", line) or line.strip() == "Skipped":
            reason = []
            for follow in lines[i + 1:]:
                if follow.startswith("[  SKIPPED ]"):
                    break
                reason.append(follow.strip())
            text = " ".join(r for r in reason if r)
            if text:
                return text
    return f"no reason printed (ctest: {ctest_message or 'not run'})"


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    junit, ctest_json, expected_file = argv[1:4]
    strict = os.environ.get("CI") == "true" and os.geteuid() == 0
    if "--strict" in argv[4:]:
        strict = True
    if "--no-strict" in argv[4:]:
        strict = False

    labels = {}
    with open(ctest_json) as f:
        for t in json.load(f).get("tests", []):
            for p in t.get("properties", []):
                if p.get("name") == "LABELS":
                    labels[t["name"]] = ",".join(p.get("value", []))
    expected = []
    with open(expected_file) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                expected.append(re.compile(line))

    root = ET.parse(junit).getroot()
    skipped, unexpected = 0, 0
    for case in root.iter("testcase"):
        skip = case.find("skipped")
        if case.get("status") != "notrun" and skip is None:
            continue
        out = case.find("system-out")
        reason = skip_reason(out.text if out is not None and out.text else "",
                             skip.get("message", "") if skip is not None else "")
        name = case.get("name", "?")
        label = labels.get(name, "?")
        ok = any(e.search(reason) for e in expected)
        skipped += 1
        if strict and not ok:
            unexpected += 1
            print(f"check_skips: UNEXPECTED SKIP [{label}] {name}: {reason}")
        else:
            print(f"check_skips: skipped [{label}] {name}: {reason}"
                  + ("" if ok else " (not in tests/expected-skips.txt)"))
    mode = "CI=true as root: unexpected skips fail" if strict else "skips allowed (not CI as root)"
    print(f"check_skips: {skipped} skipped, {unexpected} unexpected ({mode})")
    if unexpected:
        print("check_skips: a tier could not run here; fix its requirement or, if the skip is "
              "right on such machines, list its reason in tests/expected-skips.txt with why")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
