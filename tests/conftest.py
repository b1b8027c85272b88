import argparse

import pytest

from synth.cli import add_arguments, run


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory):
    """A few tracks of small crops (3 subjects, one per split): enough to train, export
    and calibrate tiny models. Made once per test session, shared by the rooms."""
    out = tmp_path_factory.mktemp("tiny_synth")
    p = argparse.ArgumentParser()
    add_arguments(p)
    argv = ["--subjects", "3", "--tracks", "3", "--frames-per-track", "60", "--chunk-frames", "30",
            "--crop-size", "40", "--workers", "1", "--seed", "3", "--out", str(out)]
    assert run(p.parse_args(argv)) == 0
    return out
