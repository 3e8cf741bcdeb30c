"""Documentation generated from the code stays in step with it."""

from pathlib import Path

from placelink.publish import write_data_dictionary
from tests.demo_project import demo_project

ROOT = Path(__file__).resolve().parents[2]


def test_data_dictionary_is_current(tmp_path):
    """Regenerate with placelink.publish.write_data_dictionary when schema.yml changes."""
    fresh = write_data_dictionary(demo_project(), tmp_path / "dd.md")
    assert fresh.read_text() == (ROOT / "docs" / "data_dictionary.md").read_text()
