"""Loom's tools. Importing this package registers every tool."""

from __future__ import annotations

import importlib

from loom.adapters.tools.base import (
    Tool,
    ToolContext,
    ToolResult,
    ToolRunner,
    registered_tools,
)

__all__ = ["Tool", "ToolContext", "ToolResult", "ToolRunner", "registered_tools"]

_MODULES = (
    "files",
    "edit",
    "fs",
    "search",
    "web",
    "code",
    "calc",
    "office",
    "todo",
    "ask",
    "shell",
    "git",
    "recall",
    "delegate",
)

for _module in _MODULES:
    importlib.import_module(f"loom.adapters.tools.{_module}")
