"""Mutation check: plant each bug in tests/mutants/*.patch and see which judge notices.

Why: a suite where only unit tests of a mechanism notice a broken mechanism lets a user's
run say PASS on a wrong outcome. Each patch here is one realistic bug (a no-op lock,
weights ignored, a poller promoting early, ...). For each, the tracked tree is copied to
a temporary directory, the patch applied there, and two judges run against the copy,
never the unit tests:

- the scenario checks: every built-in scenario and variant at a reduced scale; a check
  or an expectation that held on the unpatched tree and fails on the patched one (or a
  run that now raises) catches the mutant;
- the property tests (tests/properties): each test that passes on the unpatched tree
  and fails on the patched one catches it.

Prints one row per mutant with what caught it, and exits 1 when a mutant survives both.
Nightly (``make mutants``): it runs every scenario once per mutant.

    python tests/mutants/run.py [--only NAME ...] [--scale 0.15] [--no-properties]
                                [--properties PATH ...] [--baseline FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCALES = {"black_friday": 0.05}     # scales that keep a story's signal; others: --scale

JUDGE = r'''
import json, sys
from pathlib import Path
from jobsim.scenario.runner import load, run_scenario
scale, scales, out = float(sys.argv[1]), json.loads(sys.argv[2]), {}
for path in sorted(Path("scenarios").glob("*.yaml")):
    base = load(path)
    for variant in [None, *base.variants]:
        name = f"{base.name}/{variant or 'base'}"
        try:
            r = run_scenario(base, variant=variant, scale=scales.get(base.name, scale))
        except Exception as exc:
            out[name] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
            continue
        out[name] = {"checks": {k: c.ok for k, c in r.checks.items()},
                     "expect": {e["metric"]: e["ok"] for e in r.metrics["expectations"]}}
print(json.dumps(out))
'''


def tree_copy(dest: Path) -> None:
    """The tracked files of the checkout (no reports, no virtual environment)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def env_for(tree: Path) -> dict[str, str]:
    """The copy's code first on the path, its scenarios as the built-in ones."""
    env = dict(os.environ, PYTHONPATH=str(tree), JOBSIM_SCENARIOS=str(tree / "scenarios"))
    env.pop("HYPOTHESIS_PROFILE", None)
    return env


def judge_scenarios(tree: Path, scale: float) -> dict[str, Any]:
    """Per run (scenario/variant): each check's and each expectation's verdict."""
    done = subprocess.run([sys.executable, "-c", JUDGE, str(scale), json.dumps(SCALES)],
                          cwd=tree, env=env_for(tree), capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"*": {"error": tail}}
    return json.loads(done.stdout.strip().splitlines()[-1])


def judge_properties(tree: Path, paths: list[str]) -> list[str]:
    """The property tests (under ``paths``) that fail on this tree."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rf", "-p",
                           "no:cacheprovider", *paths],
                          cwd=tree, env=env_for(tree), capture_output=True, text=True)
    return sorted(set(re.findall(r"^FAILED (\S+?)(?: - |$)", done.stdout, re.M)))


def caught(base: dict[str, Any], mutant: dict[str, Any]) -> list[str]:
    """What the patched tree fails that the unpatched one held."""
    found = []
    for run, now in mutant.items():
        before = base.get(run, {})
        if "error" in now and "error" not in before:
            found.append(f"{run}: run raised ({now['error']})")
            continue
        for kind, word in (("checks", "check"), ("expect", "expect")):
            for name, ok in now.get(kind, {}).items():
                if not ok and before.get(kind, {}).get(name, True):
                    found.append(f"{run}: {word} {name}")
    return found


def apply(patch: Path, tree: Path) -> None:
    subprocess.run(["patch", "-p1", "--quiet", "-i", str(patch)], cwd=tree, check=True)


def table(rows: list[tuple[str, list[str], list[str]]]) -> str:
    lines = ["| mutant | caught by scenario checks | caught by property tests |",
             "|---|---|---|"]
    for name, by_checks, by_props in rows:
        shown = "; ".join(by_checks[:3])
        if len(by_checks) > 3:
            shown += f" (+{len(by_checks) - 3} more)"
        props = "; ".join(p.split("::")[-1] for p in by_props)
        lines.append(f"| {name} | {shown or '-'} | {props or '-'} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="Plant each bug; report who notices.")
    parser.add_argument("--only", nargs="*", help="mutant names (default: every patch)")
    parser.add_argument("--scale", type=float, default=0.15)
    parser.add_argument("--no-properties", action="store_true",
                        help="judge with the scenario checks only (faster)")
    parser.add_argument("--properties", nargs="*", default=["tests/properties"],
                        help="property test files or folders to judge with")
    parser.add_argument("--baseline", type=Path,
                        help="the unpatched tree's scenario verdicts: read if the file "
                             "exists, else computed and written (shared by parallel runs)")
    args = parser.parse_args()
    patches = sorted(HERE.glob("*.patch"))
    if args.only:
        patches = [p for p in patches if p.stem in args.only]
    rows: list[tuple[str, list[str], list[str]]] = []
    with tempfile.TemporaryDirectory(prefix="jobsim-mutants-") as tmp:
        clean = Path(tmp) / "clean"
        tree_copy(clean)
        if args.baseline is not None and args.baseline.exists():
            baseline = json.loads(args.baseline.read_text())
        else:
            baseline = judge_scenarios(clean, args.scale)
            if args.baseline is not None:
                args.baseline.write_text(json.dumps(baseline))
        base_props = [] if args.no_properties else judge_properties(clean, args.properties)
        for patch in patches:
            tree = Path(tmp) / patch.stem
            tree_copy(tree)
            apply(patch, tree)
            by_checks = caught(baseline, judge_scenarios(tree, args.scale))
            by_props = ([] if args.no_properties else
                        [t for t in judge_properties(tree, args.properties)
                         if t not in base_props])
            rows.append((patch.stem, by_checks, by_props))
            print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
            shutil.rmtree(tree)
    print(table(rows))
    survived = [name for name, by_checks, by_props in rows if not by_checks and not by_props]
    if survived:
        print(f"\nsurvived: {', '.join(survived)}")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
