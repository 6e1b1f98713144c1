#!/usr/bin/python3
"""doc/security.md's threat -> test tables stay true: every test file they
cite exists and is in `make check`, every test function cited is in the
file cited before it, and every threat that names tests names one that runs
our C code — tests/test-tokens.py and tests/test-formats.py only test the
Python token and card generators, so they cannot be a threat's only proof."""
import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))

from vtest.tap import Tap  # noqa: E402

TOP = os.path.dirname(HERE)
GENERATOR_ONLY = {"tests/test-tokens.py", "tests/test-formats.py"}
CITED = re.compile(r"`([^`]+)`")


def suite():
    """Every name automake's TESTS gets, $(variables) expanded."""
    text = ""
    for f in [os.path.join(TOP, "Makefile.am")] + sorted(glob.glob(os.path.join(TOP, "*.mk")) +
                                                        glob.glob(os.path.join(TOP, "*", "*.mk"))):
        with open(f, encoding="utf-8") as fh:
            text += fh.read().replace("\\\n", " ") + "\n"
    variables, tests = {}, []
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(\+?=)\s*(.*)$", line)
        if not m:
            continue
        name, op, value = m.groups()
        words = value.split()
        if name == "TESTS":
            tests += words
        elif op == "=":
            variables[name] = words
        else:
            variables.setdefault(name, []).extend(words)
    out = set()
    for w in tests:
        v = re.fullmatch(r"\$\((\w+)\)", w)
        out.update(variables.get(v.group(1), []) if v else [w])
    return out


def rows(doc):
    """(threat, tests cell) of every table row under "Threats, defences, tests"."""
    sec = doc[doc.index("## Threats, defences, tests"):]
    sec = sec[:re.search(r"^## (?!#)", sec[3:], re.M).start() + 3]
    for line in sec.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 3 or cells[0] in ("what", "") or \
                set(cells[0]) <= set("-"):
            continue
        yield cells[0], cells[-1]


def in_suite(path, tests):
    if path.startswith("tests/unit/") and path.endswith(".c"):
        return path[:-2] in tests
    return path in tests


def main():
    t = Tap()
    with open(os.path.join(TOP, "doc", "security.md"), encoding="utf-8") as f:
        doc = f.read()
    tests = suite()
    t.ok("tests/unit/test-chip" in tests and "tests/test-dbus.py" in tests,
         "the suite's test list is read from the build fragments")
    table = list(rows(doc))
    t.ok(len(table) >= 30, "%d threats found in doc/security.md" % len(table))
    missing, outside, unknown_func, generator_only = [], [], [], []
    for threat, cell in table:
        if cell.startswith("—"):
            continue  # a known limit, said so
        current, runs_c = None, False
        for word in CITED.findall(cell):
            if re.fullmatch(r"tests/[\w./-]+\.(py|c|sh)", word):
                current = word
                if not os.path.isfile(os.path.join(TOP, word)):
                    missing.append(word)
                elif not in_suite(word, tests):
                    outside.append(word)
                elif word not in GENERATOR_ONLY:
                    runs_c = True
            elif re.fullmatch(r"test_\w+", word) and current and current not in missing:
                with open(os.path.join(TOP, current), encoding="utf-8") as f:
                    src = f.read()
                if not re.search(r"(def |void )%s\(" % word, src):
                    unknown_func.append("%s %s" % (current, word))
        if not runs_c:
            generator_only.append(threat)
    t.eq(sorted(set(missing)), [], "every cited test file exists")
    t.eq(sorted(set(outside)), [], "every cited test file runs in make check")
    t.eq(sorted(set(unknown_func)), [], "every cited test function is in its file")
    t.eq(generator_only, [], "every threat with tests cites one that runs the C code")
    t.done()


main()
