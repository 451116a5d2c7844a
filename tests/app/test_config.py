"""Finding and validating loom.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from loom.app.config import LoomConfig, load_config
from loom.domain.errors import ConfigError


def test_defaults_put_everything_in_loom_home(tmp_path: Path) -> None:
    config = load_config(cwd=tmp_path, home=tmp_path / "home")
    assert config == LoomConfig()
    assert config.event_store_url(tmp_path) == f"sqlite:///{tmp_path / 'loom.db'}"
    assert config.views_url(tmp_path) == f"sqlite:///{tmp_path / 'views.db'}"


def test_the_working_directory_wins_over_loom_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "loom.toml").write_text('[store]\nurl = "sqlite:///home.db"\n')
    assert load_config(cwd=tmp_path, home=home).store.url == "sqlite:///home.db"
    (tmp_path / "loom.toml").write_text('[store]\nurl = "postgresql://u@h/db"\n')
    config = load_config(cwd=tmp_path, home=home)
    assert config.store.url == "postgresql://u@h/db"
    assert config.views_url(home) == "postgresql://u@h/db"


def test_an_unknown_store_key_is_named(tmp_path: Path) -> None:
    (tmp_path / "loom.toml").write_text('[store]\nuri = "x"\n')
    with pytest.raises(ConfigError, match=r"store\.uri"):
        load_config(cwd=tmp_path, home=tmp_path)


def test_sections_owned_by_later_capabilities_are_kept(tmp_path: Path) -> None:
    (tmp_path / "loom.toml").write_text('[models.primary]\nprovider = "ollama"\n')
    config = load_config(cwd=tmp_path, home=tmp_path)
    assert config.model_extra == {"models": {"primary": {"provider": "ollama"}}}
