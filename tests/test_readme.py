"""Every Python block in README.md runs, and prints what the README says it prints.

The blocks are collected from README.md when the tests are collected, so an edited README is
tested as edited; tests/readme_blocks.py says how a block's comments are checked and how a block
is marked to be skipped (`<!-- readme-test: skip <reason> -->` on the line before its fence),
marked slow or run in a fresh process. Each block runs in a fresh namespace in its own
temporary folder (the files it writes land there), with Keras' global state cleared after it.
"""

import re
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path

import keras
import pytest

from tests import readme_blocks

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCKS = readme_blocks.blocks(README)


def block_param(block):
    marks = [pytest.mark.slow] if "slow" in block.flags else []
    if block.skip and block.error is None:  # a bad marker fails, whatever else it says
        marks.append(pytest.mark.skip(reason=f"README block {block.id}: {block.skip}"))
    return pytest.param(block, id=block.id, marks=marks)


@pytest.mark.parametrize("block", [block_param(b) for b in BLOCKS])
def test_readme_block_runs_as_written(block, tmp_path, monkeypatch):
    assert block.error is None, block.error
    monkeypatch.chdir(tmp_path)
    if "fresh-process" in block.flags:
        result = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "readme_blocks.py"), str(README),
             str(block.line)],
            capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{block.id}:\n{result.stdout}\n{result.stderr[-4000:]}"
        return
    policy = keras.config.dtype_policy()
    try:
        readme_blocks.run(block, "README.md")
    finally:
        keras.config.set_dtype_policy(policy)
        keras.utils.clear_session()


def test_readme_has_the_blocks_it_documents():
    # Guards the collector: a fence it failed to see would silently go untested.
    fences = [line for line in README.read_text().splitlines()
              if line.strip() == "```python"]
    assert len(BLOCKS) == len(fences) >= 10
    assert any(line.startswith(" ") for line in fences), "an indented block inside a list item"


# ----------------------------------------------------------------------------------------------
# The runner itself, on small Markdown files: a test that cannot fail tests nothing.
# ----------------------------------------------------------------------------------------------
def write_readme(tmp_path, text):
    path = tmp_path / "README.md"
    path.write_text(textwrap.dedent(text))
    return path


def run_all(path):
    for block in readme_blocks.blocks(path):
        readme_blocks.run(block, "README.md")


@pytest.mark.parametrize("line, claim", [
    ("print(2 * 73)", "# (2*73) = 146"),
    ("(1, 'a'), [2.5]", "# ((1, 'a'), [2.5])"),
    ("0.9777", "# 0.978"),
    ("{'config': 1, 'metadata': 2}", '# {"config", "metadata"}'),
    ("8.6", "# large (> 1)"),
    ("print(3)", "# passes"),
])
def test_claims_that_hold_pass(tmp_path, line, claim):
    run_all(write_readme(tmp_path, f"""
        ```python
        {line}  {claim}
        ```
        """))


@pytest.mark.parametrize("line, claim, message", [
    ("print(2 * 73)", "# (2*73) = 147", "gave 146"),
    ("(1, 'a')", "# [1, 'a']", "gave (1, 'a')"),
    ("0.9777", "# 0.97", "gave 0.9777"),
    ("0.5", "# large (> 1)", "gave 0.5"),
    ("print(6.6)", "# large: 8.0 here", "holds a number the test cannot check"),
    ("True", "# 1", "gave True"),
])
def test_a_claim_the_value_contradicts_fails_naming_the_line(tmp_path, line, claim, message):
    path = write_readme(tmp_path, f"""
        # Title

        ## Section

        ```python
        x = 1
        {line}  {claim}
        ```
        """)
    with pytest.raises(readme_blocks.ClaimError, match=re.escape(message)) as error:
        run_all(path)
    assert "README.md line 8 (Section)" in str(error.value)


def test_an_error_in_a_block_names_its_readme_line(tmp_path):
    path = write_readme(tmp_path, """
        ```python
        a = 1
        b = a / 0
        ```
        """)
    with pytest.raises(ZeroDivisionError) as error:
        run_all(path)
    frames = traceback.extract_tb(error.value.__traceback__)
    assert (frames[-1].filename, frames[-1].lineno) == ("README.md", 4)


def test_blocks_run_in_fresh_namespaces(tmp_path):
    path = write_readme(tmp_path, """
        ```python
        shared = 1
        ```

        ```python
        shared
        ```
        """)
    with pytest.raises(NameError, match="shared"):
        run_all(path)


def test_markers_skip_with_a_reason_and_mark_slow_and_fresh_process(tmp_path):
    path = write_readme(tmp_path, """
        <!-- readme-test: skip needs a network -->
        ```python
        raise SystemExit("never run")
        ```

        - In a list:

          <!-- readme-test: slow, fresh-process -->

          ```python
          print(1)  # 1
          ```

        ```bash
        echo not python
        ```
        """)
    skipped, listed = readme_blocks.blocks(path)
    assert skipped.skip == "needs a network" and not skipped.flags
    assert listed.flags == {"slow", "fresh-process"} and listed.source == "print(1)  # 1\n"
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "readme_blocks.py"), str(path), str(listed.line)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == "1\n", result.stderr


@pytest.mark.parametrize("marker, message", [
    ("<!-- readme-test: skp network -->", "unknown readme-test marker 'skp network'"),
    ("<!-- readme-test: skip -->", "needs a reason"),
    ("<!-- readme-test: slwo, skip a long run -->", "unknown readme-test marker 'slwo'"),
])
def test_a_misspelt_marker_is_an_error_not_a_skip(tmp_path, marker, message):
    path = write_readme(tmp_path, f"""
        {marker}
        ```python
        print(1)
        ```
        """)
    (block,) = readme_blocks.blocks(path)
    assert message in block.error and "README line 2" in block.error
    assert not [m for m in block_param(block).marks if m.name == "skip"]


def test_a_skip_reason_runs_to_the_end_of_the_marker(tmp_path):
    path = write_readme(tmp_path, """
        <!-- readme-test: slow, skip needs runs/<id> and, for wandb:, a network -->
        ```python
        print(1)
        ```
        """)
    (block,) = readme_blocks.blocks(path)
    assert block.error is None and block.flags == {"slow"}
    assert block.skip == "needs runs/<id> and, for wandb:, a network"
