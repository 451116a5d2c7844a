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


def test_models_and_execution_are_validated(tmp_path: Path) -> None:
    (tmp_path / "loom.toml").write_text(
        '[models.primary]\nprovider = "ollama"\nmodel = "qwen3:14b"\n'
        'roles = ["planner", "executor"]\n[execution]\nmax_parallel_subtasks = 4\n'
    )
    config = load_config(cwd=tmp_path, home=tmp_path)
    assert config.models["primary"].roles == ["planner", "executor"]
    assert config.execution.max_parallel_subtasks == 4


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ('[models.m]\nprovider = "olama"', "models.m.provider", "'ollama'"),
        (
            '[models.m]\nprovider = "ollama"\nroles = ["boss"]',
            "models.m.roles.0",
            "planner",
        ),
        (
            "[execution]\nmax_parallel_subtasks = 0",
            "execution.max_parallel_subtasks",
            "greater",
        ),
        ('[modles.m]\nprovider = "ollama"', "modles", "Extra inputs"),
    ],
)
def test_invalid_files_name_the_key_and_what_was_expected(
    tmp_path: Path, text: str, key: str, expected: str
) -> None:
    (tmp_path / "loom.toml").write_text(text + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(cwd=tmp_path, home=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "loom.toml") in message
    assert f"  {key}: expected" in message
    assert expected in message


def test_the_shipped_example_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).parents[2] / "loom.example.toml"
    (tmp_path / "loom.toml").write_text(example.read_text())
    config = load_config(cwd=tmp_path, home=tmp_path)
    assert set(config.models) == {"primary", "checker"}
    assert config.models["checker"].roles == ["verifier"]
