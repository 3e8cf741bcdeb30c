"""File modes per zone of the data home: who on the machine may read what.

Identifiers, encodings and the warehouse stay with their owner (folders 0700, files 0600);
published/ and reports/ are readable by the group (0750, 0640), since analysts and governance
leads read them. In production the roles are different hosts or users; on one machine the
modes are what keeps them apart.
"""

from __future__ import annotations

import os
from pathlib import Path

from placelink.settings import Settings

PRIVATE = (0o700, 0o600)
GROUP_READABLE = (0o750, 0o640)


def zone_modes(settings: Settings) -> dict[Path, tuple[int, int]]:
    """Each zone folder of the home with its (folder, file) modes."""
    private = (
        settings.landing,
        settings.secure,
        settings.quarantine,
        settings.linkage,
        settings.content,
        settings.warehouse,
        settings.dagster_home,
    )
    return {
        **dict.fromkeys(private, PRIVATE),
        **dict.fromkeys((settings.published, settings.reports), GROUP_READABLE),
    }


def apply_zone_modes(settings: Settings) -> None:
    """Set every existing zone folder, subfolder and file to its zone's mode."""
    for zone, (folder_mode, file_mode) in zone_modes(settings).items():
        if not zone.exists():
            continue
        os.chmod(zone, folder_mode)
        for root, folders, files in os.walk(zone):
            for name in folders:
                os.chmod(os.path.join(root, name), folder_mode)
            for name in files:
                path = os.path.join(root, name)
                if not os.path.islink(path):
                    os.chmod(path, file_mode)
