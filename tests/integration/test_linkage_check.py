"""The blocking linkage-quality check: a linkage gone wrong stops the models and publishing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from placelink.cli import main
from tests.towns import keyed_town

pytestmark = pytest.mark.e2e


def test_one_source_with_scrambled_names_fails_the_check_and_nothing_is_published(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("PLACELINK_SOURCES", raising=False)
    keyed_town(tmp_path, people=3000, months=4, seed=7)
    rng = np.random.default_rng(0)
    for path in (tmp_path / "landing" / "benefits").glob("*.parquet"):
        claims = pd.read_parquet(path)
        for column in ("first_name", "last_name"):  # each name now belongs to someone else
            claims[column] = rng.permutation(claims[column].to_numpy())
        claims.to_parquet(path, index=False)

    code = main(["run", "--home", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "warehouse/raw_tables linkage_quality" in err
    assert "benefits~" in err and "F1" in err
    assert not list((tmp_path / "published").rglob("*.parquet"))
