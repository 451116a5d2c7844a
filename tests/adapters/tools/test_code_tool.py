"""analyze_code on real small files in each language it reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from loom.adapters.tools import ToolRunner
from loom.adapters.tools.code import AnalyzeCode

PYTHON = '''\
"""A module."""
import os, sys as system
from os.path import join, exists as ex
from . import sibling

MAX_SIZE = 3
count: int = 0


@dataclass
class Shape(Base):
    sides = 0

    def area(self) -> float:
        def helper(x):
            return x
        return 0.0

    async def fetch(self, url: str, *, timeout: float = 1.0) -> bytes:
        import json
        return b""


def main(argv: list[str] | None = None) -> int:
    return 0
'''

TYPESCRIPT = """\
import React, { useState, type FC as F } from "react";
import * as util from './util';
import './styles.css';
export { a, b as c } from "./re";

export default class Widget<T> extends Base implements I {
  private count: number = 0;
  async render(): Promise<void> {
    const lazy = await import("./lazy");
  }
}

export interface Props { name: string; onClick(e: Event): void }
type Alias = string | number;
enum Color { Red, Green }
export const handler = async (req: Request) => { return 1; };
const LIMIT = 10;
"""

JAVASCRIPT = """\
const fs = require("fs");
import { readFile } from "node:fs/promises";

class Cache {
  get(key) { return this.map.get(key); }
  static create() { return new Cache(); }
}

function* ids() { yield 1; }
const make = function (x) { return x; };
"""

TSX = """\
import { useState } from "react";

export function Counter({ start }: { start: number }) {
  const [n, setN] = useState(start);
  return <button onClick={() => setN(n + 1)}>{n}</button>;
}
"""

GO = """\
package main

import "fmt"
import (
\tstr "strings"
\t_ "embed"
)

const Pi, E = 3.14, 2.71

type Server struct {
\tAddr string
}

type Handler interface {
\tServe(x int) error
}

func (s *Server) Start(port int) (bool, error) {
\treturn true, nil
}

func main() { fmt.Println(str.ToUpper("x")) }
"""

RUST = """\
use std::collections::{HashMap, HashSet as Set};
use std::io::{self, prelude::*};
extern crate serde;

pub struct Point<T> { x: T }

pub trait Draw {
    fn draw(&self);
}

impl<T> Draw for Point<T> {
    fn draw(&self) {}
}

impl Point<f64> {
    pub async fn norm(&self, k: f64) -> f64 { 0.0 }
}

const MAX: u32 = 10;
fn main() {}
"""


async def analyze(
    runner: ToolRunner, workspace: Path, name: str, source: str, mode: str
) -> str:
    (workspace / name).write_text(source)
    result = await runner.call("analyze_code", {"path": name, "mode": mode})
    assert not result.is_error, result.text
    return result.text


async def test_python_outline_nests_methods_with_line_ranges(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    text = await analyze(runner, workspace_dir, "shapes.py", PYTHON, "outline")
    assert text == (
        "shapes.py (Python, 25 lines): outline\n"
        "class Shape(Base)  (lines 10-21)\n"
        "  method area(self) -> float  (lines 14-17)\n"
        "    function helper(x)  (lines 15-16)\n"
        "  async method fetch(self, url: str, *, timeout: float = 1.0) -> bytes"
        "  (lines 19-21)\n"
        "function main(argv: list[str] | None = None) -> int  (lines 24-25)"
    )


async def test_python_symbols_are_flat_and_qualified(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    text = await analyze(runner, workspace_dir, "shapes.py", PYTHON, "symbols")
    rows = [line.split() for line in text.splitlines()[1:]]
    assert rows == [
        ["6", "constant", "MAX_SIZE"],
        ["7", "variable", "count"],
        ["10", "class", "Shape"],
        ["12", "attribute", "Shape.sides"],
        ["14", "method", "Shape.area"],
        ["15", "function", "Shape.area.helper"],
        ["19", "async", "method", "Shape.fetch"],
        ["24", "function", "main"],
    ]


async def test_python_imports(runner: ToolRunner, workspace_dir: Path) -> None:
    text = await analyze(runner, workspace_dir, "shapes.py", PYTHON, "imports")
    assert text.splitlines()[1:] == [
        "     2  os",
        "     2  sys as system",
        "     3  os.path: join, exists as ex",
        "     4  .: sibling",
        "    20  json",
    ]


async def test_typescript(runner: ToolRunner, workspace_dir: Path) -> None:
    outline = await analyze(runner, workspace_dir, "widget.ts", TYPESCRIPT, "outline")
    assert outline.splitlines()[1:] == [
        "class Widget extends Base implements I  (lines 6-11)",
        "  async method render(): Promise<void>  (lines 8-10)",
        "interface Props  (line 13)",
        "  method onClick(e: Event): void  (line 13)",
        "type Alias  (line 14)",
        "enum Color  (line 15)",
        "async function handler(req: Request)  (line 16)",
    ]
    symbols = await analyze(runner, workspace_dir, "widget.ts", TYPESCRIPT, "symbols")
    assert "     7  field            Widget.count" in symbols
    assert "    13  property         Props.name" in symbols
    assert "    17  constant         LIMIT" in symbols
    imports = await analyze(runner, workspace_dir, "widget.ts", TYPESCRIPT, "imports")
    assert imports.splitlines()[1:] == [
        "     1  react: default as React, useState, FC as F",
        "     2  ./util: * as util",
        "     3  ./styles.css  (side effects only)",
        "     4  ./re: a, b as c  (re-export)",
        "     9  ./lazy  (dynamic import)",
    ]


async def test_javascript(runner: ToolRunner, workspace_dir: Path) -> None:
    outline = await analyze(runner, workspace_dir, "cache.js", JAVASCRIPT, "outline")
    assert outline.splitlines()[1:] == [
        "class Cache  (lines 4-7)",
        "  method get(key)  (line 5)",
        "  method create()  (line 6)",
        "generator ids()  (line 9)",
        "function make(x)  (line 10)",
    ]
    imports = await analyze(runner, workspace_dir, "cache.js", JAVASCRIPT, "imports")
    assert imports.splitlines()[1:] == [
        "     1  fs  (require)",
        "     2  node:fs/promises: readFile",
    ]


async def test_tsx(runner: ToolRunner, workspace_dir: Path) -> None:
    outline = await analyze(runner, workspace_dir, "counter.tsx", TSX, "outline")
    assert outline.splitlines() == [
        "counter.tsx (TSX, 6 lines): outline",
        "function Counter({ start }: { start: number })  (lines 3-6)",
    ]


async def test_go(runner: ToolRunner, workspace_dir: Path) -> None:
    outline = await analyze(runner, workspace_dir, "main.go", GO, "outline")
    assert outline.splitlines()[1:] == [
        "struct Server  (lines 11-13)",
        "interface Handler  (lines 15-17)",
        "  method Serve(x int) error  (line 16)",
        "method Server.Start(port int) (bool, error)  (lines 19-21)",
        "function main()  (line 23)",
    ]
    symbols = await analyze(runner, workspace_dir, "main.go", GO, "symbols")
    assert "     9  constant         Pi\n     9  constant         E\n" in symbols
    imports = await analyze(runner, workspace_dir, "main.go", GO, "imports")
    assert imports.splitlines()[1:] == [
        "     3  fmt",
        "     5  strings  (as str)",
        "     6  embed  (blank: side effects only)",
    ]


async def test_rust(runner: ToolRunner, workspace_dir: Path) -> None:
    outline = await analyze(runner, workspace_dir, "lib.rs", RUST, "outline")
    assert outline.splitlines()[1:] == [
        "struct Point  (line 5)",
        "trait Draw  (lines 7-9)",
        "  method draw(&self)  (line 8)",
        "impl Draw for Point<T>  (lines 11-13)",
        "  method draw(&self)  (line 12)",
        "impl Point<f64>  (lines 15-17)",
        "  async method norm(&self, k: f64) -> f64  (line 16)",
        "function main()  (line 20)",
    ]
    symbols = await analyze(runner, workspace_dir, "lib.rs", RUST, "symbols")
    assert "    12  method           Point.draw" in symbols
    assert "    16  async method     Point.norm" in symbols
    assert "    19  constant         MAX" in symbols
    assert "impl" not in symbols
    imports = await analyze(runner, workspace_dir, "lib.rs", RUST, "imports")
    assert imports.splitlines()[1:] == [
        "     1  std::collections::HashMap",
        "     1  std::collections::HashSet as Set",
        "     2  std::io",
        "     2  std::io::prelude::*",
        "     3  serde  (extern crate)",
    ]


async def test_syntax_errors_are_reported_with_partial_results(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    source = (
        "def ok():\n    return 1\n\n"
        "def bad(:\n    pass\n\n"
        "class Later:\n    def m(self): pass\n"
    )
    text = await analyze(runner, workspace_dir, "broken.py", source, "outline")
    lines = text.splitlines()
    assert (
        lines[1] == "syntax errors (the parser recovered; what follows may be partial):"
    )
    assert lines[2].startswith("  line 4, column ")
    assert "function ok()  (lines 1-2)" in text
    assert "class Later  (lines 7-8)" in text
    assert "  method m(self)  (line 8)" in text


async def test_a_javascript_error_is_located(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    source = "function a() {\n  return 1;\n}\nconst = ;\nfunction b() {}\n"
    text = await analyze(runner, workspace_dir, "x.js", source, "symbols")
    assert "  line 4, column" in text
    assert "function         a" in text
    assert "function         b" in text


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("notes.txt", "does not know notes.txt's language"),
        ("missing.py", "no file 'missing.py'"),
        ("../outside.py", "outside the workspace"),
    ],
)
async def test_clear_errors(
    runner: ToolRunner, workspace_dir: Path, path: str, message: str
) -> None:
    (workspace_dir / "notes.txt").write_text("hi")
    result = await runner.call("analyze_code", {"path": path})
    assert result.is_error
    assert message in result.text


async def test_bad_mode_is_an_argument_error(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    (workspace_dir / "a.py").write_text("x = 1\n")
    result = await runner.call("analyze_code", {"path": "a.py", "mode": "calls"})
    assert result.is_error
    assert "mode" in result.text


async def test_empty_files(runner: ToolRunner, workspace_dir: Path) -> None:
    text = await analyze(
        runner, workspace_dir, "empty.go", "package empty\n", "outline"
    )
    assert text == "empty.go (Go, 1 line): outline\n(no classes or functions found)"


def test_it_is_a_read_tool() -> None:
    assert AnalyzeCode.kind == "read"
