"""Every number a chapter's prose states appears in what its cells print.

A sentence like "GC is worse in 20 of 20 seeds (+0.1203)" must be backed by
a cell of the same notebook that printed 20 and 0.1203, so that prose cannot
drift from the stored outputs when a chapter is re-executed. A number in a
markdown cell is backed when a printed output (stdout or a displayed value's
text) or a code cell holds a number that rounds to it at the precision the
prose wrote it (one unit in its last digit of slack; a percentage may also
be printed as a fraction). Code cells count because prose quotes settings
("Adam at 1e-3") that the code sets rather than prints.

Not checked: integers from 0 to 10 (counts and ordinals: "two arms",
"chapter 3", "the 3 seeds"), numbers inside words or names ("Conv2D",
"float32", "ResNet50"), inline code, math, links, and the few numbers listed
in ``NOT_PRINTED`` with the reason each needs no printed backing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

CHAPTERS = sorted((Path(__file__).resolve().parents[2] / "chapters").glob("*.ipynb"))

NOT_PRINTED: dict[str, dict[str, str]] = {
    "01_theory": {
        "2004.01461": "the paper's arXiv number",
        "4.2": "the paper's Section 4.2 and Theorem 4.2",
    },
}
"""Per notebook: number as written in the prose -> why no output backs it."""

# A number: digits with optional thousands separators, decimals, exponent,
# and a percent sign. Not preceded or followed by a letter, digit, "_" or
# "." (so "Conv2D", "float32", "v0.1.0" and "1.2.3" are not numbers).
NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?([eE][-+−]?\d+)?(%?)(?![\w]|\.\d)")
# Prose that is not a claim: fenced and inline code, display and inline
# math, link targets, HTML tags.
NOT_PROSE = re.compile(
    r"```.*?```|`[^`]*`|\$\$.*?\$\$|\$[^$]*\$|\]\([^)]*\)|<[^>]*>|https?://\S+",
    re.DOTALL,
)


def stated_numbers(markdown: str) -> list[str]:
    """The numbers a markdown cell states, as written (small integers left out)."""
    numbers = []
    for match in NUMBER.finditer(NOT_PROSE.sub(" ", markdown)):
        whole, fraction, exponent, percent = match.groups()
        if not fraction and not exponent and not percent and int(whole.replace(",", "")) <= 10:
            continue
        numbers.append(match.group(0))
    return numbers


def value_and_slack(written: str) -> tuple[float, float]:
    """The value of a number as written, and the rounding slack it allows."""
    text = written.replace(",", "").replace("−", "-").rstrip("%")
    value = float(text)
    if re.search(r"[eE]", text):
        return value, abs(value) * 1e-6
    decimals = len(text.split(".")[1]) if "." in text else 0
    return value, 10.0**-decimals


def printed_values(notebook: dict) -> list[float]:
    """Absolute values of every number in the outputs and code of a notebook."""
    texts = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        texts.append("".join(cell["source"]))
        for output in cell.get("outputs", []):
            if output.get("name") == "stderr":
                continue
            texts.append("".join(output.get("text", "")))
            for kind in ("text/plain", "text/markdown"):
                texts.append("".join(output.get("data", {}).get(kind, "")))
    found = re.findall(r"\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?", "\n".join(texts))
    return [float(token.replace(",", "")) for token in found if token.replace(",", "") != ""]


def is_backed(written: str, values: list[float]) -> bool:
    """Whether some printed value rounds to ``written`` (as a fraction too, for a %)."""
    target, slack = value_and_slack(written)
    targets = [(abs(target), slack)]
    if written.endswith("%"):
        targets.append((abs(target) / 100, slack / 100))
    return any(
        abs(value - want) <= tolerance * 1.0001 for want, tolerance in targets for value in values
    )


def test_the_number_pattern_reads_prose_as_a_reader_would():
    prose = (
        "GC is worse in 20 of 20 seeds (+0.1203, CI [−0.0307, −0.0209]); 80% power; "
        "Conv2D and float32 are names; `lr=0.01` is code; $\\alpha = 0.05$ is math; "
        "1,704,097 parameters at 1e-4; chapter 3, two arms and 10 epochs; see v0.1.0."
    )
    assert stated_numbers(prose) == [
        "20",
        "20",
        "0.1203",
        "0.0307",
        "0.0209",
        "80%",
        "1,704,097",
        "1e-4",
    ]


def test_a_number_is_backed_only_by_a_value_that_rounds_to_it():
    assert is_backed("0.0258", [0.02583])
    assert is_backed("−0.0258", [0.0258])
    assert is_backed("1,704,097", [1704097.0])
    assert is_backed("80%", [0.8])
    assert is_backed("1e-4", [0.0001])
    assert not is_backed("0.0258", [0.0277])
    assert not is_backed("21", [19.0])
    assert not is_backed("0.531", [0.848, 5.31])


@pytest.mark.parametrize("path", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_every_number_in_the_prose_was_printed(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    values = printed_values(notebook)
    allowed = NOT_PRINTED.get(path.stem, {})
    missing = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for written in stated_numbers("".join(cell["source"])):
            if written not in allowed and not is_backed(written, values):
                missing.append(f"cell {index}: {written}")
    assert not missing, (
        f"{path.name}: numbers in the prose that no cell printed or set "
        f"(re-run the chapter, or fix the sentence): {missing}"
    )
