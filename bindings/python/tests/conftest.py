"""Fixtures: a fresh registry directory and model files; the package from this tree."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


@pytest.fixture
def regdir(tmp_path):
    return str(tmp_path / "reg")


@pytest.fixture
def model_file(tmp_path):
    """model_file(name, size): a file of random bytes, its path."""

    def make(name="model.pt", size=4096):
        p = tmp_path / name
        p.write_bytes(os.urandom(size))
        return str(p)

    return make
