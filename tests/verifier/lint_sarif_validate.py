#!/usr/bin/env python3
"""Validates `polc lint --format sarif` against tests/verifier/sarif-2.1.0.schema.json.

Runs polc (with the repository root as working directory, as CI does) on every directory under
samples/, validates each SARIF log and the lint goldens against the schema, and checks what the
schema cannot say: each result's ruleIndex points at the rule named by its ruleId, locations are
repository-relative. Every file under tests/verifier/sarif_invalid/ is a deliberately broken log
that must FAIL validation, so the test proves the schema and the validator reject bad output.
Exit code 0 when everything holds, 1 otherwise (registered in ctest as lint_sarif_schema).
"""
import argparse
import json
import pathlib
import subprocess
import sys
import urllib.parse

try:
    import jsonschema
except ImportError:
    print("lint_sarif_validate: python3-jsonschema is missing (apt-get install python3-jsonschema)")
    sys.exit(1)


def format_checker():
    checker = jsonschema.FormatChecker()

    @checker.checks("uri", raises=ValueError)
    def is_uri(value):
        parts = urllib.parse.urlsplit(value)
        if not parts.scheme or not (parts.netloc or parts.path):
            raise ValueError(f"{value!r} is not an absolute URI")
        return True

    @checker.checks("uri-reference", raises=ValueError)
    def is_uri_reference(value):
        if any(c in value for c in " \\\"<>{}|^`") or any(ord(c) < 0x20 for c in value):
            raise ValueError(f"{value!r} is not a URI reference")
        urllib.parse.urlsplit(value)
        return True

    return checker


def problems(validator, log, name):
    """Schema errors plus the cross-reference rules of SARIF that a schema cannot express."""
    out = [f"{name}: {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
           for e in sorted(validator.iter_errors(log), key=lambda e: list(map(str, e.absolute_path)))]
    if out:
        return out
    for r, run in enumerate(log.get("runs") or []):
        rules = run["tool"]["driver"].get("rules", [])
        for i, result in enumerate(run.get("results") or []):
            where = f"{name}: runs/{r}/results/{i}"
            if "ruleIndex" in result:
                idx = result["ruleIndex"]
                if idx >= len(rules):
                    out.append(f"{where}: ruleIndex {idx} is past the {len(rules)} rules")
                elif "ruleId" in result and rules[idx]["id"] != result["ruleId"]:
                    out.append(f"{where}: ruleIndex {idx} names rule '{rules[idx]['id']}', "
                               f"ruleId is '{result['ruleId']}'")
            for loc in result.get("locations", []) + result.get("relatedLocations", []):
                uri = loc.get("physicalLocation", {}).get("artifactLocation", {}).get("uri", "")
                if uri.startswith("/") or urllib.parse.urlsplit(uri).scheme:
                    out.append(f"{where}: artifact uri '{uri}' is not relative to %SRCROOT%")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--polc", required=True, help="the polc binary")
    ap.add_argument("--source", required=True, help="the repository root")
    args = ap.parse_args()
    src = pathlib.Path(args.source)
    here = src / "tests/verifier"
    schema = json.loads((here / "sarif-2.1.0.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema, format_checker=format_checker())

    failures, checked = [], 0
    samples = sorted(p.name for p in (src / "samples").iterdir() if p.is_dir())
    for sample in samples:
        proc = subprocess.run([args.polc, "lint", f"samples/{sample}", "--format", "sarif"],
                              cwd=src, capture_output=True, text=True)
        name = f"polc lint samples/{sample} --format sarif"
        if proc.returncode not in (0, 1):
            failures.append(f"{name}: exit code {proc.returncode}\n{proc.stderr}")
            continue
        try:
            log = json.loads(proc.stdout)
        except json.JSONDecodeError as e:
            failures.append(f"{name}: not JSON: {e}")
            continue
        if not (log.get("runs") or [{}])[0].get("results"):
            failures.append(f"{name}: no results (every sample has findings)")
        failures += problems(validator, log, name)
        checked += 1
    for golden in sorted((here / "golden").glob("*.lint.sarif")):
        failures += problems(validator, json.loads(golden.read_text()), str(golden.relative_to(src)))
        checked += 1

    # The control: the log every broken example is derived from is valid.
    failures += problems(validator, json.loads((here / "sarif_valid_example.sarif").read_text()),
                         "tests/verifier/sarif_valid_example.sarif")
    invalid = sorted((here / "sarif_invalid").glob("*.sarif"))
    if not invalid:
        failures.append("tests/verifier/sarif_invalid/ holds no negative examples")
    for bad in invalid:
        log = json.loads(bad.read_text())
        # Each broken log names the problem it must be rejected for in properties.polcTestExpects.
        expect = log.get("properties", {}).get("polcTestExpects", "")
        found = problems(validator, log, bad.name)
        if not found:
            failures.append(f"{bad.relative_to(src)} is a broken SARIF log but passed validation")
        elif not expect or not any(expect in f for f in found):
            failures.append(f"{bad.relative_to(src)} was rejected, but not for '{expect}':\n  " + "\n  ".join(found))

    for f in failures:
        print("FAIL", f)
    print(f"lint_sarif_validate: {checked} logs valid, {len(invalid)} broken logs rejected, "
          f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
