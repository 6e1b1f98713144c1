#!/usr/bin/python3
"""doc/fr/admin.md keeps in step with doc/admin.md (issue 21): the same
sections, in the same order, each with the same configuration keys and the
same commands.  The structure is read from the Markdown itself, not from a
list: headings; keys as ini blocks and `[group] Key` or `CamelCaseKey = v`
code spans write them; commands as the lines of sh blocks and the code
spans that start with a program (vitalectl, vitaled, or one on PATH).
Sections are paired by what they hold, so a section added on one side
(and not yet on the other) is named as such rather than shifting every
later one."""
import difflib
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))

from vtest.daemon import srcdir  # noqa: E402
from vtest.tap import Tap  # noqa: E402

DOCS = ("doc/admin.md", "doc/fr/admin.md")
OURS = ("vitalectl", "vitaled")


class Section:
    def __init__(self, heading):
        self.heading = heading
        self.level = len(heading) - len(heading.lstrip("#")) if heading else 1
        self.keys = []
        self.commands = []

    def signature(self):
        return (self.level, tuple(sorted(set(self.keys))), tuple(sorted(set(self.commands))))


def is_command(text):
    words = text.split()
    return len(words) >= 2 and (words[0] in OURS or shutil.which(words[0]) is not None)


def span_items(span, sec):
    span = " ".join(span.split())
    m = re.match(r"\[(\w+)\] (\w+)", span)
    if m:
        sec.keys.append("[%s] %s" % m.groups())
    elif re.match(r"(?:[A-Z][a-z0-9]+){2,}(?: = \S+)?$", span):
        sec.keys.append(span)
    elif is_command(span):
        sec.commands.append(span)


def sections(path):
    """The document's sections (the text before the first heading is the
    first), each with its keys and commands."""
    with open(path) as f:
        text = f.read()
    out = [Section("")]
    fence, group = None, None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:].strip()
            group = None
            continue
        sec = out[-1]
        if fence == "ini":
            m = re.match(r"\[(\w+)\]$", stripped) or re.match(r"(\w+)\s*=", stripped)
            if m and stripped.startswith("["):
                group = m.group(1)
            elif m:
                sec.keys.append("[%s] %s" % (group, m.group(1)))
            continue
        if fence == "sh":
            # comments are prose (a line of its own, or after a command)
            cmd = " ".join(re.sub(r"(?:^|\s)#.*", "", stripped).split())
            if cmd:
                sec.commands.append(cmd)
            continue
        if fence is not None:
            continue
        if re.match(r"#{2,3} ", line):
            out.append(Section(line))
            continue
    # code spans may run over a line end: take them from the text between
    # headings, fences removed
    body = re.sub(r"```.*?```", "", text, flags=re.S)
    parts = re.split(r"^(#{2,3} .*)$", body, flags=re.M)
    texts = [parts[0]] + parts[2::2]
    for sec, chunk in zip(out, texts):
        for span in re.findall(r"`([^`]+)`", chunk):
            span_items(span, sec)
    return out


def compare(en, fr):
    """Problems as sentences: what is missing on which side."""
    problems = []
    names = ("doc/admin.md", "doc/fr/admin.md")
    sm = difflib.SequenceMatcher(None, [s.signature() for s in en],
                                 [s.signature() for s in fr], autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        a, b = en[i1:i2], fr[j1:j2]
        for k in range(min(len(a), len(b))):
            problems += differences(a[k], b[k], names)
        for s in a[len(b):]:
            problems.append("%s: section '%s' has no counterpart in %s" % (
                names[0], s.heading or "(before the first heading)", names[1]))
        for s in b[len(a):]:
            problems.append("%s: section '%s' has no counterpart in %s" % (
                names[1], s.heading or "(before the first heading)", names[0]))
    return problems


def differences(a, b, names):
    out = []
    where = "section '%s' / '%s'" % (a.heading or "(top)", b.heading or "(top)")
    if a.level != b.level:
        out.append("%s: heading levels differ (%d, %d)" % (where, a.level, b.level))
    for kind, x, y in (("key", a.keys, b.keys), ("command", a.commands, b.commands)):
        for item in sorted(set(x) - set(y)):
            out.append("%s: %s `%s` of %s is missing in %s" % (where, kind, item, names[0],
                                                               names[1]))
        for item in sorted(set(y) - set(x)):
            out.append("%s: %s `%s` of %s is missing in %s" % (where, kind, item, names[1],
                                                               names[0]))
    return out


def test_self(t):
    """The comparison itself on small documents: it names what is missing."""
    import tempfile
    en = "# T\n\n## A\n\n`vitalectl diag` and `[pcsc] BusyWaitMax`\n\n" \
         "## New\n\n```ini\n[serial]\nDevices = x\n```\n\n## B\n\n```sh\n# the status\n" \
         "vitalectl status  # at a glance\n```\n"
    fr = "# T\n\n## A fr\n\n`vitalectl diag`\n\n## B fr\n\n```sh\n# l'état\n" \
         "vitalectl status  # d'un coup d'œil\n```\n"
    with tempfile.TemporaryDirectory() as d:
        pe, pf = os.path.join(d, "en.md"), os.path.join(d, "fr.md")
        with open(pe, "w") as f:
            f.write(en)
        with open(pf, "w") as f:
            f.write(fr)
        got = compare(sections(pe), sections(pf))
    t.ok(any("key `[pcsc] BusyWaitMax` of doc/admin.md is missing in doc/fr/admin.md" in p
             for p in got), "a key missing on the French side is named", got)
    t.ok(any("section '## New' has no counterpart in doc/fr/admin.md" in p for p in got),
         "a section added on the English side is named, not the ones after it", got)
    t.ok(not any("## B" in p for p in got), "the sections after it still pair up, "
         "their shell comments (prose) translated", got)


def test_twins(t):
    en, fr = (sections(os.path.join(srcdir(), p)) for p in DOCS)
    t.ok(len(en) >= 8 and sum(len(s.keys) for s in en) >= 8
         and sum(len(s.commands) for s in en) >= 15,
         "doc/admin.md: sections, keys and commands found (%d, %d, %d)" % (
             len(en), sum(len(s.keys) for s in en), sum(len(s.commands) for s in en)))
    problems = compare(en, fr)
    t.eq(problems, [], "doc/fr/admin.md has the sections, keys and commands of doc/admin.md")


def main():
    t = Tap()
    t.run(test_self)
    t.run(test_twins)
    t.done()


if __name__ == "__main__":
    main()
