#!/usr/bin/python3
"""The paper method as the published notebook computes it, with pandas and
scikit-learn, and a check that `cinergy ... --method paper` gives the same
numbers (docs/model.md, "The paper method").

This script is the reference: it does each step the way the notebook's
libraries do (docs/model.md lists them), not the way Cinergy's C++ does.
The C++ mirrors the dtypes and the order of operations; this script says
what they must produce.

  paper_reference.py compute DIR --host-threads N [--vm-vcpus N]
      prints the notebook's figures for DIR as JSON: per training step the
      degree, coefficients, intercept and training RMSE per degree; the
      estimate of every cloud-like window; the matched windows and metrics.

  paper_reference.py check --cinergy BIN --generator MODEL_ACCURACY
                           --fixture REPORT_MAKE_FIXTURE --work DIR
      writes the generated hosts (model_accuracy --keep), a run directory
      (report_make_fixture) and hand-made edge cases into DIR, runs
      `cinergy evaluate --method paper --json -o` on each and compares with
      `compute`; prints the largest differences; exit 0 when every check
      holds, 1 otherwise, 77 (a skip) when numpy, pandas or scikit-learn is
      missing.

  paper_reference.py check-dir DIR --cinergy BIN [--work DIR]
      the same comparison on one existing directory (a `cinergy run`
      directory: host threads from its manifest), and, when DIR holds the
      run's own evaluation-paper.json, that it too has the notebook's
      matched windows and metrics; exit 0 / 1 / 77 as above. The e2e quick
      run test calls it on its run.

Assumptions about the notebook's own code (its libraries' behaviour is
measured, not assumed): each long file is pivoted with DataFrame.pivot;
features are built from one-column arrays; the training RMSE is
mean_squared_error(squared=False); the estimate is LinearRegression.predict;
matching takes numpy's argmin of |gt - value| (the first of equal distances,
in ground-truth order) and rejects `nearest - value > 0.001`.
"""
import argparse
import glob
import json
import math
import os
import re
import shutil
import subprocess
import sys


def skip(reason):
    # The form tests/check_skips.py reads a skip reason from.
    print("paper_reference.py:1: Skipped")
    print(reason)
    print("[  SKIPPED ]")
    sys.exit(77)


try:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import (mean_absolute_error, mean_absolute_percentage_error,
                                 mean_squared_error, r2_score)
    from sklearn.preprocessing import PolynomialFeatures
except ModuleNotFoundError as e:  # only a truly absent package skips
    if __name__ == "__main__":
        skip(f"numpy, pandas or scikit-learn missing for {sys.executable} ({e}); "
             "scripts/install-deps.sh installs python3-sklearn")
    raise

PHASES = ("training-25", "training-50", "training-100", "groundtruth", "cloudlike")
MAX_DEGREE = 14


# ---------------------------------------------------------------- the notebook

def load(path):
    """One long file as the notebook holds it: one row per timestamp, every
    column but `phase` through to_numeric(downcast="float")."""
    df = pd.read_csv(path)
    wide = df.pivot(index="timestamp", columns="domain", values="measure")
    for c in wide.columns:
        if c != "phase":
            wide[c] = pd.to_numeric(wide[c], errors="coerce", downcast="float")
    return wide


def find(data_dir, phase):
    found = [p for p in glob.glob(os.path.join(data_dir, f"*-{phase}.csv"))
             if not os.path.basename(p).startswith("events-")]
    manifest = os.path.join(data_dir, "manifest.json")
    if os.path.exists(manifest):
        prefix = json.load(open(manifest)).get("csv_prefix")
        if prefix:
            found = [p for p in found if os.path.basename(p) == f"{prefix}-{phase}.csv"]
    return sorted(found)[0] if found else None


def fit_step(train, exclude_beyond):
    """Degrees 1..14 on the rows with host load <= exclude_beyond; the lowest
    training RMSE wins (np.argmin: the first of equal ones)."""
    rows = train.dropna()
    rows = rows[rows["cpu%_package-global"] <= exclude_beyond]
    x = rows["cpu%_package-global"].to_numpy().reshape(-1, 1)
    y = rows["package-global-watt"]
    fits, rmses = [], []
    for degree in range(1, MAX_DEGREE + 1):
        features = PolynomialFeatures(degree).fit_transform(x)
        model = LinearRegression().fit(features, y)
        rmses.append(mean_squared_error(y, model.predict(features), squared=False))
        fits.append(model)
    best = int(np.argmin(rmses))
    model = fits[best]
    return {
        "n": int(len(rows)),
        "dtype": str(model.coef_.dtype),
        "degree": best + 1,
        "coef": [float(c) for c in model.coef_],
        "intercept": float(model.intercept_),
        "rank": int(model.rank_),
        "rmse_by_degree": [float(r) for r in rmses],
        "model": model,
    }


def predict(step, x):
    features = PolynomialFeatures(step["degree"]).fit_transform(np.asarray(x).reshape(-1, 1))
    return step["model"].predict(features)


def find_nearest(array, value):
    idx = (np.abs(array - value)).argmin()
    if array[idx] - value > 0.001:
        return None
    return idx


def compute(data_dir, host_threads, vm_vcpus=None):
    tables = {p: load(f) for p in PHASES if (f := find(data_dir, p))}
    gt, cloud = tables["groundtruth"], tables["cloudlike"]
    if vm_vcpus is None:
        vm_vcpus = len([c for c in gt.columns if re.fullmatch(r"CPU[0-9]+", str(c))])
    exclude_beyond = vm_vcpus * 100 / host_threads * 3
    steps = {}
    for phase, table in tables.items():
        if phase.startswith("training-"):
            steps[phase[len("training-"):]] = fit_step(table, exclude_beyond)
    step50 = steps["50"]

    cl = cloud.dropna().copy()
    cl["host_percent_vm"] = cl["vm"] / host_threads
    isolated = predict(step50, cl["host_percent_vm"].to_numpy())
    bottomup = cl["host_percent_vm"] / cl["cpu%_package-global"] * cl["package-global-watt"]
    ratio = bottomup / isolated

    g = gt.dropna().copy()
    g["host_percent_vm"] = g["vm"] / host_threads
    gx = g["host_percent_vm"].to_numpy()
    gw = g["package-global-watt"].to_numpy()
    truth, pred, matched = [], [], []
    for i, value in enumerate(cl["host_percent_vm"].to_numpy()):
        idx = find_nearest(gx, value)
        if idx is None:
            continue
        truth.append(gw[idx])
        pred.append(isolated[i])
        matched.append([float(cl.index[i]), float(g.index[idx])])
    truth = np.asarray(truth, dtype=np.result_type(gw.dtype))
    pred = np.asarray(pred, dtype=isolated.dtype)
    metrics = {"n": len(truth)}
    if len(truth) > 0:
        metrics["rmse_w"] = float(mean_squared_error(truth, pred, squared=False))
        metrics["mae_w"] = float(mean_absolute_error(truth, pred))
        metrics["mape_pct"] = 100.0 * float(mean_absolute_percentage_error(truth, pred))
    if len(truth) >= 2:
        metrics["r2"] = float(r2_score(truth, pred))
    metrics["matched"] = matched

    return {
        "host_threads": host_threads,
        "vm_vcpus": vm_vcpus,
        "exclude_beyond": exclude_beyond,
        "steps": {k: {kk: vv for kk, vv in v.items() if kk != "model"} for k, v in steps.items()},
        "estimate": [
            {"timestamp": float(t), "share": float(s), "isolated": float(p),
             "bottomup": float(b), "ratio": float(r)}
            for t, s, p, b, r in zip(cl.index, cl["host_percent_vm"], isolated, bottomup, ratio)],
        "evaluation": metrics,
    }


# ---------------------------------------------------------------- the check

class Checker:
    def __init__(self):
        self.failures = []
        self.worst = {}

    def equal(self, what, a, b):
        if a != b:
            self.failures.append(f"{what}: cinergy {a!r}, notebook {b!r}")

    def close(self, what, key, a, b, tol):
        """|a - b| <= tol, the largest difference per key kept for the summary."""
        if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
            if not (a is None and b is None) and not (a is not None and b is not None and
                                                       math.isnan(a) and math.isnan(b)):
                self.failures.append(f"{what}: cinergy {a!r}, notebook {b!r}")
            return
        d = abs(a - b)
        self.worst[key] = max(self.worst.get(key, 0.0), d)
        if d > tol:
            self.failures.append(f"{what}: cinergy {a!r}, notebook {b!r} (|diff| {d:.3g} > {tol:g})")


def read_isolated(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
        rows = []
        for line in f:
            cells = line.rstrip("\n").split(",")
            rows.append({h: (float(c) if c != "" else None) for h, c in zip(header, cells)})
    return rows


def check_dir(chk, cinergy, name, data_dir, host_threads, vm_vcpus, work):
    out = os.path.join(work, "out-" + name)
    shutil.rmtree(out, ignore_errors=True)
    cmd = [cinergy, "evaluate", data_dir, "--method", "paper", "--json", "-o", out]
    if host_threads is not None:
        cmd += ["--host-threads", str(host_threads)]
    if vm_vcpus is not None:
        cmd += ["--vm-vcpus", str(vm_vcpus)]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        chk.failures.append(f"{name}: {' '.join(cmd)} failed: {run.stderr.strip()}")
        return
    # The Cinergy method never refuses data the notebook fits.
    own = [cinergy, "evaluate", data_dir, "--method", "cinergy", "--json", "-o", out + "-cinergy"]
    own += cmd[cmd.index("-o") + 2:]
    mine = subprocess.run(own, capture_output=True, text=True)
    if mine.returncode != 0:
        chk.failures.append(f"{name}: the Cinergy method refused what the notebook fits: "
                            f"{' '.join(own)}: {mine.stderr.strip()}")
    ev = json.loads(run.stdout)
    model = json.load(open(os.path.join(out, "model-paper.json")))
    threads = host_threads if host_threads is not None else model["host_threads"]
    ref = compute(data_dir, threads, vm_vcpus)

    curves = {str(c["step_pct"]): c for c in model["curves"]}
    chk.equal(f"{name}: steps fitted", sorted(curves), sorted(ref["steps"]))
    for step, r in ref["steps"].items():
        c = curves.get(step)
        if c is None:
            continue
        what = f"{name} step {step}"
        chk.equal(f"{what}: arithmetic", c.get("arithmetic"), r["dtype"])
        chk.equal(f"{what}: n", c["n"], r["n"])
        chk.equal(f"{what}: degree", c["degree"], r["degree"])
        # Bit for bit: the same float32 inputs to the same LAPACK solve.
        chk.equal(f"{what}: coef", c["coef"], r["coef"])
        chk.equal(f"{what}: intercept", c["intercept"], r["intercept"])
        chk.equal(f"{what}: training RMSE by degree", c["train_rmse_by_degree"], r["rmse_by_degree"])

    rows = read_isolated(os.path.join(out, "isolated-paper.csv"))
    chk.equal(f"{name}: estimated windows", len(rows), len(ref["estimate"]))
    # isolated-paper.csv holds 4 decimals: 5e-5 of rounding (plus the float
    # printing of a value that lies on a rounding boundary).
    for row, r in zip(rows, ref["estimate"]):
        what = f"{name} t={r['timestamp']:g}"
        chk.close(f"{what}: timestamp", "timestamp", row["timestamp"], r["timestamp"], 0)
        chk.close(f"{what}: share_pct", "share_pct (4 decimals)", row["share_pct"], r["share"], 5.1e-5)
        chk.close(f"{what}: isolated_w", "isolated_w (4 decimals)", row["isolated_w"], r["isolated"],
                  5.1e-5)
        chk.close(f"{what}: bottomup_w", "bottomup_w (4 decimals)", row["bottomup_w"], r["bottomup"],
                  5.1e-5)
        chk.close(f"{what}: ratio", "ratio (4 decimals)", row["ratio"], r["ratio"], 5.1e-5)

    m = ref["evaluation"]
    chk.equal(f"{name}: matched windows", ev["n"], m["n"])
    for key in ("rmse_w", "mae_w", "mape_pct"):
        # float32 results of float32 sums in numpy's order: bit for bit.
        chk.equal(f"{name}: {key}", ev.get(key), m.get(key))
    # r2 is summed in float64 by scikit-learn; the C++ follows its order.
    chk.close(f"{name}: r2", "r2", ev.get("r2"), m.get("r2"), 1e-12)
    print(f"{name}: {m['n']} matched, step-50 degree {ref['steps']['50']['degree']} "
          f"(rank {ref['steps']['50']['rank']}, {ref['steps']['50']['dtype']}), "
          f"rmse {m.get('rmse_w')}, r2 {m.get('r2')}")


# Hand-made cases where the notebook's rules matter: each a folder of
# original-format files (host threads, VM vCPUs, files).
def long_csv(path, windows):
    with open(path, "w") as f:
        f.write("timestamp,domain,measure\n")
        for ts, cells in windows:
            for domain, value in cells:
                f.write(f"{ts},{domain},{value}\n")


def edge_cases(work):
    cases = []
    rng = np.random.default_rng(7)

    def host(name, threads, vcpus, training, gt, cloud):
        d = os.path.join(work, "edge-" + name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for step, windows in training.items():
            long_csv(os.path.join(d, f"h-training-{step}.csv"), windows)
        long_csv(os.path.join(d, "h-groundtruth.csv"), gt)
        long_csv(os.path.join(d, "h-cloudlike.csv"), cloud)
        cases.append((name, d, threads, vcpus))

    def training(phase, loads, watts, extra=()):
        w = []
        for i, (x, p) in enumerate(zip(loads, watts)):
            cells = [("phase", phase), ("target", 0), ("cpu%_package-global", x),
                     ("package-global-watt", p)]
            w.append((2 * i + 2, cells + list(extra)))
        return w

    def vm_rows(phase, vms, watts, util=40.0):
        return [(2 * i + 2, [("phase", phase), ("target", 5), ("vm", v), ("CPU0", v / 2),
                             ("CPU1", v / 2), ("package-global-watt", p),
                             ("cpu%_package-global", util)])
                for i, (v, p) in enumerate(zip(vms, watts))]

    gt_vm = [round(v, 2) for v in rng.uniform(1, 150, 40)]
    gt_w = [round(60 + 0.4 * v + rng.normal(0, 0.5), 2) for v in gt_vm]
    cl_vm = [round(v, 2) for v in rng.uniform(0, 170, 60)]
    cl_w = [round(90 + 0.3 * v, 2) for v in cl_vm]

    # One load level only: a rank-deficient design at every degree.
    host("one-level", 8, 2, {50: training("training-50", [12.5] * 12,
                                          [round(70 + rng.normal(0, 0.3), 2) for _ in range(12)])},
         vm_rows("groundtruth", gt_vm, gt_w), vm_rows("cloudlike", cl_vm, cl_w))

    # Fewer points than coefficients for the high degrees (m < n in lstsq),
    # and a load exactly at float32(exclude_beyond) but above it in float64:
    # 1 vCPU on 7 threads, exclude_beyond = 42.857142857142854.
    loads = [0.5, 8.0, 17.25, 30.1, 42.857143, 42.87]
    host("few-points", 7, 1, {50: training("training-50", loads,
                                           [60 + 0.9 * x for x in loads])},
         vm_rows("groundtruth", gt_vm, gt_w), vm_rows("cloudlike", cl_vm, cl_w))

    # Power above 16 kW: pandas keeps that column in float64 (the fit casts y
    # to x's float32; the metrics run in float64); a window without its phase
    # row (dropna drops it); three steps.
    loads = [round(v, 2) for v in np.linspace(0, 100, 41)]
    big = [round(16000 + 30 * x - 0.1 * x * x + rng.normal(0, 2), 2) for x in loads]
    t50 = training("training-50", loads, big)
    t50[3] = (t50[3][0], [c for c in t50[3][1] if c[0] != "phase"])
    host("float64-power", 16, 4,
         {25: training("training-25", loads, [b + 50 for b in big]), 50: t50,
          100: training("training-100", loads, [b - 50 for b in big])},
         vm_rows("groundtruth", gt_vm, [round(16000 + 3 * v, 2) for v in gt_vm]),
         vm_rows("cloudlike", cl_vm, [round(16500 + 2 * v, 2) for v in cl_vm]))

    # Matching: equal ground-truth shares with different power (the first
    # in time wins), a cloud-like share half way between two (the first in
    # time wins), shares far above every ground truth (nearest below is
    # accepted) and below every one by more than 0.001 (rejected).
    loads = [round(v, 2) for v in np.linspace(0, 60, 25)]
    gt2_vm = [10.0, 20.0, 20.0, 30.0, 12.0, 40.0, 20.0]
    gt2_w = [70.0, 75.0, 76.0, 80.0, 71.0, 84.0, 77.0]
    cl2_vm = [20.0, 25.0, 35.0, 200.0, 9.99, 9.0, 10.0079, 10.008, 16.0]
    host("matching", 10, 2, {50: training("training-50", loads, [60 + 0.5 * x for x in loads])},
         vm_rows("groundtruth", gt2_vm, gt2_w),
         vm_rows("cloudlike", cl2_vm, [90.0] * len(cl2_vm)))
    # A 2-thread host with a 2-vCPU VM (the machines of `scripts/run.sh`):
    # exclude_beyond = 300 %, so every window is fitted; noisy power on a
    # concave curve, a constant target while the load varies.
    loads = [round(v, 2) for v in np.concatenate([np.linspace(0, 100, 21)] * 2)]
    host("two-threads", 2, 2,
         {50: training("training-50", loads,
                       [round(60 + 180 * (x / 100) ** 0.7 + rng.normal(0, 2), 2) for x in loads])},
         vm_rows("groundtruth", gt_vm, [round(60 + 160 * (v / 200) ** 0.7 + rng.normal(0, 3), 2)
                                        for v in gt_vm]),
         vm_rows("cloudlike", cl_vm, [round(90 + 0.8 * v, 2) for v in cl_vm]))
    return cases


def main_check_dir(args):
    chk = Checker()
    work = args.work or os.path.join(args.dir, ".paper-reference")
    os.makedirs(work, exist_ok=True)
    try:
        check_dir(chk, args.cinergy, os.path.basename(os.path.normpath(args.dir)), args.dir,
                  args.host_threads, None, work)
        own = os.path.join(args.dir, "evaluation-paper.json")
        if os.path.exists(own) and not chk.failures:
            ev = json.load(open(own))
            threads = args.host_threads
            if threads is None:
                threads = json.load(open(os.path.join(args.dir, "manifest.json")))["host"]["threads"]
            m = compute(args.dir, threads)["evaluation"]
            chk.equal("the run's evaluation-paper.json: matched windows", ev["n"], m["n"])
            for key in ("rmse_w", "mae_w", "mape_pct"):
                chk.equal(f"the run's evaluation-paper.json: {key}", ev.get(key), m.get(key))
            chk.close("the run's evaluation-paper.json: r2", "r2", ev.get("r2"), m.get("r2"), 1e-12)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    if chk.failures:
        print(f"{len(chk.failures)} differences from the notebook:")
        for f in chk.failures[:60]:
            print("  " + f)
        return 1
    print(f"{args.dir}: the paper method gives the notebook's numbers")
    return 0


def main_check(args):
    chk = Checker()
    os.makedirs(args.work, exist_ok=True)
    dirs = []
    gen = os.path.join(args.work, "generated")
    shutil.rmtree(gen, ignore_errors=True)
    subprocess.run([args.generator, "--seed", "1", "--keep", gen], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for d in sorted(glob.glob(os.path.join(gen, "host-*")), key=lambda p: int(p.split("-")[-1])):
        dirs.append((os.path.basename(d), d, int(d.split("-")[-1]), None))
    fx = os.path.join(args.work, "fixture-run")
    shutil.rmtree(fx, ignore_errors=True)
    subprocess.run([args.fixture, fx], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    dirs.append(("fixture-run", fx, None, None))  # threads from its manifest.json
    dirs += edge_cases(args.work)
    for name, d, threads, vcpus in dirs:
        check_dir(chk, args.cinergy, name, d, threads, vcpus, args.work)
    print("largest differences (C++ - notebook): " +
          ", ".join(f"{k} {v:.3g}" for k, v in sorted(chk.worst.items())))
    if chk.failures:
        print(f"{len(chk.failures)} differences from the notebook:")
        for f in chk.failures[:60]:
            print("  " + f)
        return 1
    print(f"{len(dirs)} data sets: the paper method gives the notebook's numbers")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compute")
    c.add_argument("dir")
    c.add_argument("--host-threads", type=int, required=True)
    c.add_argument("--vm-vcpus", type=int)
    k = sub.add_parser("check")
    k.add_argument("--cinergy", required=True)
    k.add_argument("--generator", required=True)
    k.add_argument("--fixture", required=True)
    k.add_argument("--work", required=True)
    d = sub.add_parser("check-dir")
    d.add_argument("dir")
    d.add_argument("--cinergy", required=True)
    d.add_argument("--host-threads", type=int)
    d.add_argument("--work")
    args = ap.parse_args()
    if args.cmd == "check-dir":
        return main_check_dir(args)
    if args.cmd == "compute":
        json.dump(compute(args.dir, args.host_threads, args.vm_vcpus), sys.stdout, indent=1)
        print()
        return 0
    return main_check(args)


if __name__ == "__main__":
    sys.exit(main())
