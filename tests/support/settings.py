"""Settings built from arguments alone, for tests of pure functions that take a Settings."""

from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from shared.settings import Settings


class ExplicitSettings(Settings):
    """The defaults plus the arguments given: no VEO_* variable or `.env` line leaks in, so a
    table's expectations hold on any machine."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        *_: Any,
        **__: Any,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)
