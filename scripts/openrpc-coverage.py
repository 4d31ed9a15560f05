#!/usr/bin/env python3
"""What of the OpenRPC document the Swift tests validated live (issue 14).

Every line a Swift daemon test's RawClient receives is validated against clients/python/openrpc.json
(Tests/WPWithinTestSupport/OpenRPCValidator.swift); what conformed is appended to
<build dir>/openrpc-coverage/<pid>.txt. This reads those files and lists each documented event type, error
code, notification and method result that no test validated. Exit status 1 when something is missing that
is not a known gap (KNOWN_GAPS, each with its reason).

    scripts/openrpc-coverage.py [--reset] [--build-dir .build/debug]

--reset empties the record: do it before the run whose coverage you want (docs/testing.md).
"""
import argparse
import json
import os
import shutil
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: What no test makes the daemon produce, and why. Listed apart (not failures); remove an entry when a test
#: starts producing it, and say here why any new one cannot be.
KNOWN_GAPS = {
    "error -32603 internalError": "an unexpected failure inside a handler: a daemon bug by definition",
}


def documented(document):
    items = {}
    for name in document["components"]["schemas"]:
        if name.startswith("Event."):
            items[f"event {name[len('Event.'):]}"] = "event"
    codes = {}
    for method in document["methods"]:
        for error in method.get("errors", []):
            codes[error["code"]] = error["message"]
        items[f"result {method['name']}"] = "result"
    for error in document.get("x-commonErrors", []):
        codes[error["code"]] = error["message"]
    for code, name in codes.items():
        items[f"error {code} {name}"] = "error"
    for notification in document.get("x-notifications", []):
        if notification["method"] != "event":
            items[f"notification {notification['method']}"] = "notification"
    return items


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", default=os.path.join(REPO, ".build", "debug"))
    parser.add_argument("--reset", action="store_true", help="empty the record and exit")
    args = parser.parse_args()
    directory = os.path.join(args.build_dir, "openrpc-coverage")
    if args.reset:
        shutil.rmtree(directory, ignore_errors=True)
        return 0
    with open(os.path.join(REPO, "clients", "python", "openrpc.json")) as f:
        items = documented(json.load(f))
    seen = set()
    if os.path.isdir(directory):
        for name in os.listdir(directory):
            with open(os.path.join(directory, name)) as f:
                seen.update(line.strip() for line in f if line.strip())
    if not seen:
        print(f"openrpc-coverage: nothing recorded in {directory}: run the Swift tests first", file=sys.stderr)
        return 1
    missing = sorted(item for item in items if item not in seen and item not in KNOWN_GAPS)
    gaps = sorted(item for item in items if item not in seen and item in KNOWN_GAPS)
    for kind in ("event", "error", "notification", "result"):
        total = [item for item, k in items.items() if k == kind]
        covered = [item for item in total if item in seen]
        print(f"{kind + 's':14} {len(covered):3} of {len(total):3} validated live")
    for item in missing:
        print(f"  never validated: {item}")
    for item in gaps:
        print(f"  known gap: {item}: {KNOWN_GAPS[item]}")
    unknown = sorted(item for item in seen if item not in items)
    for item in unknown:
        print(f"  validated but not in the document: {item}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
