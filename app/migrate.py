"""Running alembic from the application: the schema changes only through migrations."""

from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from app.db import async_url


def alembic_config(database_url: str) -> Config:
    migrations = Path(str(resources.files("migrations")))
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("sqlalchemy.url", async_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def include_object(dialect: str) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """Alembic's ``include_object`` for a database of kind ``dialect``: the models' objects
    made for another kind only (``app.models.base.only_on``) are no part of its schema."""

    def include(item: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
        return reflected or getattr(item, "info", {}).get("dialect", dialect) == dialect

    return include
