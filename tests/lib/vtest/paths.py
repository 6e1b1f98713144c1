"""Where things are: the source and build trees.  Everything a test reads
is in one of them (test data under tests/data/): a clone has nothing
beside it."""
import os


def srcdir():
    return os.path.abspath(os.environ.get("top_srcdir", os.getcwd()))


def builddir():
    return os.path.abspath(os.environ.get("top_builddir", os.getcwd()))


def data_dir(*parts):
    """Test data kept in the tree (tests/data/, each set with its ABOUT.md)."""
    return os.path.join(srcdir(), "tests", "data", *parts)
