"""Resources that carry placelink's Settings into Dagster."""

from __future__ import annotations

from dagster import ConfigurableResource

from placelink.settings import Settings


class PlacelinkResource(ConfigurableResource):
    """The data home and everything else from Settings; `home` overrides PLACELINK_HOME."""

    home: str | None = None

    def settings(self) -> Settings:
        return Settings.from_env(home=self.home)
