"""Where things are: the source and build trees, and ../shared (the
project's read-only test data, beside the source tree — and, from a
`make distcheck` tree, further up)."""
import os


def srcdir():
    return os.path.abspath(os.environ.get("top_srcdir", os.getcwd()))


def builddir():
    return os.path.abspath(os.environ.get("top_builddir", os.getcwd()))


def shared_dir(*parts):
    d = srcdir()
    while True:
        cand = os.path.join(os.path.dirname(d), "shared")
        if os.path.isdir(os.path.join(cand, "testdata")) or os.path.dirname(d) == d:
            return os.path.join(cand, *parts)
        d = os.path.dirname(d)
