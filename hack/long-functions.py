#!/usr/bin/env python3
"""Lists the functions of every crate (the operator's, the emulator, the benchmark) longer than a
limit (default 60 lines), tests aside: `hack/long-functions.py [LIMIT]`. Counts from the `fn` line
to its closing brace, so a doc comment or attribute does not count. Exits 1 when any is over
(docs/design.md, "Code")."""
import pathlib
import re
import sys

LIMIT = int(sys.argv[1]) if len(sys.argv) > 1 else 60
ROOTS = [
    "src",
    "crates/core/src",
    "crates/aws/src",
    "crates/runtime/src",
    "crates/test-support/src",
    "emulator/src",
    "bench/src",
]
FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?fn\s+(\w+)")


def functions(path):
    lines = path.read_text().splitlines()
    in_tests = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if re.match(r"^\s*#\[cfg\(test\)\]", line):
            in_tests = True  # test modules come last in every file here
        m = FN.match(line)
        if m and not in_tests:
            depth, started, j = 0, False, i
            while j < len(lines):
                code = re.sub(r'"(\\.|[^"\\])*"', '""', lines[j].split("//")[0])
                depth += code.count("{") - code.count("}")
                started = started or "{" in code
                if started and depth <= 0:
                    break
                if not started and code.rstrip().endswith(";"):
                    break  # a declaration without a body
                j += 1
            yield m.group(5), i + 1, j - i + 1
            i = j
        i += 1


found = []
for root in ROOTS:
    for path in sorted(pathlib.Path(root).rglob("*.rs")):
        for name, line, length in functions(path):
            found.append((length, f"{path}:{line}", name))
found.sort(reverse=True)
for length, where, name in found[:10]:
    print(f"{length:4} {where} {name}")
over = [f for f in found if f[0] > LIMIT]
print(f"{len(found)} functions; longest {found[0][0]} lines; {len(over)} over {LIMIT}")
sys.exit(1 if over else 0)
