"""README.md cannot drift from the code (issue 26 item 6): its claim example is a real claim and loads through the
schema, its CLI examples parse with the real argparse parser, the options it names exist, and its exit-code table
is the one `geomclaims --help` prints."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from geomclaims.claims import load_claims
from geomclaims.cli import build_parser, main
from geomclaims.cli_common import EXIT_MEANINGS, Exit

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, flags=re.S | re.M)


def _commands() -> list[list[str]]:
    """Every `geomclaims ...` command line in the README's bash blocks, split as the shell would."""
    out = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            argv = shlex.split(line, comments=True)
            if argv and Path(argv[0]).name == "geomclaims":
                out.append(argv[1 : argv.index(">")] if ">" in argv else argv[1:])
    return out


def test_the_claim_example_is_a_real_claim_and_loads_through_the_schema(tmp_path: Path):
    (example,) = yaml.safe_load(_blocks("yaml")[0])  # the first yaml block: "What a claim is"
    real = {
        c["id"]: (path, doc)
        for path in sorted((ROOT / "claims").glob("*.yaml"))
        for doc in [yaml.safe_load(path.read_text())]
        for c in doc["claims"]
    }
    assert example["id"] in real, f"README's claim {example['id']!r} is in no claims file"
    path, doc = real[example["id"]]
    (claim,) = [c for c in doc["claims"] if c["id"] == example["id"]]
    assert example == claim, f"README's example differs from {path.name}"
    one = tmp_path / "one.yaml"
    one.write_text(yaml.safe_dump({"paper": doc["paper"], "version": doc["version"], "claims": [example]}))
    (loaded,) = load_claims(one).claims
    assert loaded.experiment == example["experiment"] and loaded.expect.op == example["expect"]["op"]


def test_the_cli_examples_parse_with_the_real_parser():
    commands = _commands()
    assert {argv[0] for argv in commands} >= {"run", "gate", "list", "reproduce", "fetch"}
    parser = build_parser()
    for argv in commands:
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"README example does not parse: geomclaims {shlex.join(argv)}")


def _options_of(parser) -> dict[str, set[str]]:
    sub = next(a for a in parser._actions if a.dest == "command")
    return {
        name: {opt for action in p._actions for opt in action.option_strings}
        for name, p in sub.choices.items()
    }


def test_the_cli_synopsis_names_only_real_options():
    synopsis = README.split("## CLI\n", 1)[1].split("```\n", 2)[1]
    options = _options_of(build_parser())
    command = None
    for line in synopsis.splitlines():
        m = re.match(r"geomclaims ([\w-]+)", line)
        command = m.group(1) if m else command
        if line.startswith((" " * 40, "\t")):  # an explanation column, not options
            continue
        for opt in re.findall(r"\[(--[a-z-]+)", line):
            assert opt in options[command], f"README: geomclaims {command} has no {opt}"
    assert set(re.findall(r"^geomclaims ([\w-]+)", synopsis, flags=re.M)) == set(options)


def test_the_pytest_options_named_are_the_plugins():
    from geomclaims import pytest_plugin

    registered: list[str] = []

    class Group:
        def addoption(self, name: str, **_: object) -> None:
            registered.append(name)

    class Parser:
        def getgroup(self, *_: object) -> Group:
            return Group()

    pytest_plugin.pytest_addoption(Parser())  # type: ignore[arg-type]
    named = set(re.findall(r"--claims-[a-z-]+", README))
    assert named <= set(registered), named - set(registered)
    assert set(registered) <= named, f"undocumented: {set(registered) - named}"


def test_exit_codes_table_matches_the_code_and_help(capsys):
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", README.split("### Exit codes", 1)[1], flags=re.M)
    assert {int(code): text.replace("`", "") for code, text in rows} == {
        int(code): text for code, text in EXIT_MEANINGS.items()
    }
    assert {int(c) for c in Exit} == {int(code) for code, _ in rows}
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    help_text = capsys.readouterr().out
    for code, text in EXIT_MEANINGS.items():
        assert f"{int(code):<4} {text}" in help_text
