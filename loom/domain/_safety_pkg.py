"""Rules for package managers, build tools and remote services (private).

Installing, publishing or fetching packages asks; the build, test and run
subcommands the same tools wrap are allowed (``uv run``, ``poetry run`` and
``bundle exec`` classify the command they run). Destroying cloud resources
or dropping databases blocks.
"""

from __future__ import annotations

import re

from loom.domain._safety_net import first_operand, network
from loom.domain._safety_scan import Call, Rule
from loom.domain._safety_words import Word

__all__ = ["PACKAGE_RULES"]

# Tools a project installs locally; npx runs them from node_modules.
_LOCAL_TOOLS = frozenset(
    {"tsc", "jest", "eslint", "prettier", "vitest", "mocha", "webpack", "vite"}
    | {"esbuild", "rollup", "ts-node", "tsx", "playwright", "next", "biome"}
)
_GO_LOCAL = frozenset(
    {"build", "test", "vet", "fmt", "run", "list", "version", "env", "doc", "clean"}
    | {"help", "work", "tool", "bug", ""}
)
_PIP_LOCAL = frozenset(
    {"list", "show", "freeze", "check", "help", "config", "debug", "inspect", "hash"}
    | {"", "--version", "-V"}
)
_NPM_LOCAL = frozenset(
    {"test", "t", "tst", "run", "run-script", "start", "stop", "restart", "build"}
    | {"ls", "list", "ll", "la", "help", "why", "explain", "root", "prefix", "bin"}
    | {"lint", "format", "dev", "typecheck", "pack", "fund", "config", "get", ""}
)
_CARGO_LOCAL = frozenset(
    {"build", "b", "test", "t", "check", "c", "run", "r", "fmt", "clippy", "doc"}
    | {"d", "bench", "clean", "tree", "metadata", "help", "new", "init", "fix"}
    | {"nextest", "expand", "verify-project", "locate-project", "pkgid", "llvm-cov"}
    | {""}
)
_SYSTEM_PACKAGES = frozenset({"list", "search", "show", "info", "policy", "help"})
_ENV_TOOLS = frozenset(
    {"build", "check", "show", "version", "env", "config", "", "shell"}
)
_DROPS = re.compile(
    r"\b(drop\s+(database|schema|table)|truncate\s+table|flushall|flushdb"
    r"|dropDatabase\s*\(|delete\s+from\s+\w+\s*;?\s*$)",
    re.I,
)


def _subcommands(
    allowed: frozenset[str], why: str, runs: frozenset[str] = frozenset()
) -> Rule:
    """A tool whose subcommand decides: run a wrapped command, allow, or ask."""

    def rule(call: Call) -> None:
        sub, rest = first_operand(call.args)
        if sub in runs:
            call.run(_after_options(rest), call.feed)
        elif sub not in allowed and not (sub == "" and "" in allowed):
            network(call, why)

    return rule


def _after_options(words: list[Word]) -> list[Word]:
    for index, word in enumerate(words):
        if word.text == "--":
            return words[index + 1 :]
        if not word.text.startswith("-"):
            return words[index:]
    return []


def _runner(why: str) -> Rule:
    """npx and friends: they download (unless the tool is a local one), then run."""

    def rule(call: Call) -> None:
        rest = _after_options(list(call.args))
        if not rest or rest[0].text not in _LOCAL_TOOLS:
            network(call, why)
        if rest:
            call.run(rest, call.feed)

    return rule


def _phases(asked: frozenset[str]) -> Rule:
    """Build tools whose targets are mostly local (make, mvn, gradle)."""

    def rule(call: Call) -> None:
        targets = {word.text for word in call.args}
        if targets & asked:
            call.ask("installs, deploys or publishes build output")

    return rule


def _go(call: Call) -> None:
    sub, rest = first_operand(call.args)
    if sub == "mod":
        action, _ = first_operand(rest)
        if action not in ("graph", "why", "verify", "edit", "init"):
            network(call, "downloads Go modules")
    elif sub == "generate":
        call.ask("runs commands from go:generate directives")
    elif sub in ("get", "install") or any("@" in word.text for word in call.args):
        network(call, "downloads and installs Go packages")
    elif sub not in _GO_LOCAL:
        call.ask(f"runs `go {sub}`")


def _cloud(destructive: str) -> Rule:
    """Cloud and infrastructure CLIs: destroying resources blocks, the rest asks."""
    pattern = re.compile(destructive)

    def rule(call: Call) -> None:
        text = " ".join(word.text for word in call.args)
        if pattern.search(text):
            call.block("destroys remote resources or data")
        else:
            network(call, "manages remote services or infrastructure")

    return rule


def _database(call: Call) -> None:
    texts = [word.text for word in call.args]
    if call.feed is not None and call.feed.text:
        texts.append(call.feed.text)
    if call.name in ("dropdb", "dropuser") or any(_DROPS.search(t) for t in texts):
        call.block("drops or wipes a database")
    else:
        network(call, "connects to a database")


def _deno(call: Call) -> None:
    sub, _ = first_operand(call.args)
    if sub not in ("test", "fmt", "lint", "check", "bench", "doc", "info", "task"):
        network(call, "runs Deno code, which may fetch remote modules")


_PACKAGE_MANAGERS = (
    *("apt", "apt-get", "aptitude", "dnf", "yum", "zypper", "apk", "brew", "port"),
    *("pacman", "snap", "flatpak", "nix-env", "nix", "emerge", "choco", "winget"),
)
_INSTALL = frozenset({"install", "uninstall", "deploy", "publish", "release"})
_PRUNE = r"(system|volume) prune.*(--volumes|-a\b|--all)|volume rm"

PACKAGE_RULES: dict[str, Rule] = {
    "pip": _subcommands(_PIP_LOCAL, "installs or changes Python packages"),
    "uv": _subcommands(
        frozenset({"venv", "tree", "version", "help", "lock", "python", ""}),
        "installs or changes Python packages",
        runs=frozenset({"run"}),
    ),
    "uvx": _runner("downloads and runs a Python tool"),
    "pipx": _subcommands(frozenset({"list"}), "installs Python applications"),
    **dict.fromkeys(
        ("poetry", "pdm", "pipenv", "hatch", "rye"),
        _subcommands(_ENV_TOOLS, "installs or publishes packages", frozenset({"run"})),
    ),
    **dict.fromkeys(
        ("conda", "mamba", "micromamba"),
        _subcommands(
            frozenset({"list", "info"}), "installs packages", frozenset({"run"})
        ),
    ),
    "npm": _subcommands(_NPM_LOCAL, "installs, publishes or fetches npm packages"),
    "yarn": _subcommands(
        _NPM_LOCAL - {""} | {"jest", "eslint", "prettier", "vitest", "tsc"},
        "installs, publishes or fetches npm packages",
    ),
    "pnpm": _subcommands(_NPM_LOCAL, "installs npm packages", frozenset({"exec"})),
    "bun": _subcommands(_NPM_LOCAL, "installs or fetches packages"),
    **dict.fromkeys(("npx", "bunx", "pnpx"), _runner("downloads and runs a package")),
    "cargo": _subcommands(_CARGO_LOCAL, "installs, publishes or fetches crates"),
    "go": _go,
    "deno": _deno,
    "gem": _subcommands(frozenset({"list", "help", "env"}), "installs Ruby gems"),
    "bundle": _subcommands(
        frozenset({"list", "show", "check"}), "installs gems", frozenset({"exec"})
    ),
    **dict.fromkeys(
        _PACKAGE_MANAGERS,
        _subcommands(_SYSTEM_PACKAGES, "installs or removes system packages"),
    ),
    **dict.fromkeys(
        ("composer", "cpan", "cpanm", "luarocks", "opam", "rustup", "sdk"),
        _subcommands(frozenset({"list", "show"}), "installs packages or toolchains"),
    ),
    "dotnet": _subcommands(
        frozenset({"build", "test", "run", "format", "clean", "--version", "--info"}),
        "installs packages or tools",
    ),
    **dict.fromkeys(("make", "gmake"), _phases(_INSTALL)),
    "mvn": _phases(frozenset({"install", "deploy", "release:perform"})),
    "gradle": _phases(frozenset({"publish", "uploadArchives", "install"})),
    "gradlew": _phases(frozenset({"publish", "uploadArchives", "install"})),
    "cmake": _phases(frozenset({"--install"})),
    "meson": _phases(frozenset({"install"})),
    "ninja": _phases(frozenset({"install"})),
    "terraform": _cloud(r"\bdestroy\b|-destroy\b"),
    "tofu": _cloud(r"\bdestroy\b|-destroy\b"),
    "kubectl": _cloud(r"\bdelete\b.*(--all\b|\bnamespaces?\b|\bns\b|-A\b)"),
    "helm": _cloud(r"\b(uninstall|delete)\b.*--all"),
    "gh": _cloud(r"\b(repo|release|secret|ssh-key|gpg-key) delete\b"),
    "glab": _cloud(r"\brepo delete\b"),
    "aws": _cloud(
        r"s3 rb|s3 rm .*--recursive|terminate-instances|delete-(db|bucket|stack)"
    ),
    "gcloud": _cloud(r"\bdelete\b"),
    "az": _cloud(r"\b(group|vm|storage account) delete\b"),
    "heroku": _cloud(r"apps:destroy|pg:reset|apps:delete"),
    **dict.fromkeys(("docker", "podman"), _cloud(_PRUNE)),
    **dict.fromkeys(("ansible", "vagrant", "fly", "vercel", "netlify"), _cloud("$^")),
    **dict.fromkeys(
        ("psql", "mysql", "mariadb", "sqlite3", "redis-cli", "mongo", "mongosh"),
        _database,
    ),
    **dict.fromkeys(("dropdb", "dropuser", "sqlcmd", "cqlsh"), _database),
}
