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


# A sign written before a number: "−0.0258", "+2.5%", "(-0.03", not "float-32".
SIGNS = "+-−"
# "20 of 20", "5 of 6": a count of seeds (or anything) out of a total.
COUNT = re.compile(r"(?<![\w.])(\d+) of (\d+)(?![\w.])")


def stated_numbers(markdown: str) -> list[str]:
    """The numbers a markdown cell states, as written (small integers left out).

    A sign written right before a number (and after a space or bracket) is
    part of it: "−0.0258" and "+0.0258" are different claims.
    """
    prose = NOT_PROSE.sub(" ", markdown)
    numbers = []
    for match in NUMBER.finditer(prose):
        whole, fraction, exponent, percent = match.groups()
        if not fraction and not exponent and not percent and int(whole.replace(",", "")) <= 10:
            continue
        start = match.start()
        signed = (
            start >= 1
            and prose[start - 1] in SIGNS
            and (start < 2 or not prose[start - 2].isalnum())
        )
        numbers.append(prose[start - 1 : match.end()] if signed else match.group(0))
    return numbers


def stated_counts(markdown: str) -> list[tuple[str, str]]:
    """The "k of n" counts a markdown cell states."""
    return COUNT.findall(NOT_PROSE.sub(" ", markdown))


def value_and_slack(written: str) -> tuple[float, float]:
    """The value of a number as written, and the rounding slack it allows."""
    text = written.replace(",", "").replace("−", "-").lstrip("+").rstrip("%")
    value = float(text)
    if re.search(r"[eE]", text):
        return value, abs(value) * 1e-6
    decimals = len(text.split(".")[1]) if "." in text else 0
    return value, 10.0**-decimals


def printed_text(notebook: dict) -> str:
    """Everything the code cells of a notebook hold and print, as one text."""
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
    return "\n".join(texts)


def printed_values(notebook: dict) -> list[float]:
    """Every number in the outputs and code of a notebook, with its sign."""
    found = re.findall(
        r"(?:(?<![\w.])([-−]))?(\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?)", printed_text(notebook)
    )
    values = []
    for sign, token in found:
        token = token.replace(",", "")
        if token:
            values.append(-float(token) if sign else float(token))
    return values


def is_counted(count: tuple[str, str], text: str) -> bool:
    """Whether ``text`` prints the count "k of n" (a "k / m of n" table cell counts)."""
    k, n = count
    return re.search(rf"(?<![\d.]){k}(?![\d.])[^\n]{{0,40}}?\bof {n}(?![\d.])", text) is not None


def is_backed(written: str, values: list[float]) -> bool:
    """Whether some printed value rounds to ``written`` (as a fraction too, for a %).

    A number written with a sign needs a printed value of that sign; one
    written without needs a printed value of that size, either sign.
    """
    target, slack = value_and_slack(written)
    signed = written[0] in SIGNS
    if not signed:
        target, values = abs(target), [abs(value) for value in values]
    targets = [(target, slack)]
    if written.endswith("%"):
        targets.append((target / 100, slack / 100))
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
        "+0.1203",
        "−0.0307",
        "−0.0209",
        "80%",
        "1,704,097",
        "1e-4",
    ]


def test_a_number_is_backed_only_by_a_value_that_rounds_to_it():
    assert is_backed("0.0258", [0.02583])
    assert is_backed("−0.0258", [-0.0258])
    assert is_backed("0.0258", [-0.0258])
    assert not is_backed("+0.0258", [-0.0258])
    assert not is_backed("−0.0258", [0.0258])
    assert is_backed("1,704,097", [1704097.0])
    assert is_backed("80%", [0.8])
    assert is_backed("1e-4", [0.0001])
    assert not is_backed("0.0258", [0.0277])
    assert not is_backed("21", [19.0])
    assert not is_backed("0.531", [0.848, 5.31])


# --- Direction words: "lower", "better", "sooner" and their opposites ---------

OPPOSITES = {
    "lower": "higher",
    "better": "worse",
    "faster": "slower",
    "sooner": "later",
    "earlier": "later",
    "ahead": "behind",
}
OPPOSITES |= {b: a for a, b in OPPOSITES.items() if b != "later"} | {"later": "sooner"}
DIRECTION = re.compile(rf"\b({'|'.join(OPPOSITES)})\b", re.IGNORECASE)
# A quoted word ('"better" or "worse" when ...') is a definition, not a claim.
QUOTED = re.compile(r'"[^"\n]*"|“[^”]*”')
# Sentences end at . ; ! ? followed by a capital or bracket, at a blank line or
# at a list item.
SENTENCE_END = re.compile(r"(?<=[.;!?])\s+(?=[A-Z(*])|\n\s*\n|\n\s*[-*] ")

NOT_DIRECTION_CLAIMS: dict[str, dict[str, str]] = {
    "09_cost": {
        "which reads as GC training faster": "how keras.io's published timings read; the "
        "cell below takes that reading apart",
    },
    "intro": {
        "tests the claim that GC tolerates higher learning rates": "names the blog's claim, "
        "which chapter 6 tests; it states no result",
    },
}
"""Per notebook: words of a sentence -> why its direction word needs no printed backing."""


def direction_claims(markdown: str) -> list[tuple[str, str]]:
    """The (direction word, sentence) pairs of a markdown cell's result sentences.

    A result sentence states a number or a "k of n" count and uses one word
    of a pair of opposites ("lower" / "higher") without the other (a sentence
    naming both, "did better or worse", defines; it claims no direction).
    """
    prose = QUOTED.sub(" ", NOT_PROSE.sub(" ", markdown))
    claims = []
    for sentence in SENTENCE_END.split(prose):
        if not (stated_numbers(sentence) or stated_counts(sentence)):
            continue
        words = {word.lower() for word in DIRECTION.findall(sentence)}
        claims += [(word, sentence) for word in sorted(words) if OPPOSITES[word] not in words]
    return claims


def line_values(line: str) -> list[float]:
    """Every number in one printed line, with its sign."""
    return printed_values({"cells": [{"cell_type": "code", "source": line}]})


def is_directed(word: str, sentence: str, lines: list[str]) -> bool:
    """Whether a printed line says ``word``, not its opposite, beside a number of ``sentence``."""
    numbers, counts = stated_numbers(sentence), stated_counts(sentence)
    for line in lines:
        said = {found.lower() for found in DIRECTION.findall(line)}
        if word not in said or OPPOSITES[word] in said:
            continue
        values = line_values(line)
        if any(is_backed(n, values) for n in numbers) or any(is_counted(c, line) for c in counts):
            return True
    return False


def unbacked_claims(notebook: dict, stem: str) -> list[str]:
    """The numbers, counts and direction words in a notebook's prose that no cell printed or set."""
    values, text = printed_values(notebook), printed_text(notebook)
    lines = text.splitlines()
    allowed = NOT_PRINTED.get(stem, {})
    exempt_sentences = NOT_DIRECTION_CLAIMS.get(stem, {})
    missing = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        markdown = "".join(cell["source"])
        for written in stated_numbers(markdown):
            if written.lstrip(SIGNS) not in allowed and not is_backed(written, values):
                missing.append(f"cell {index}: {written}")
        for count in stated_counts(markdown):
            if int(count[1]) > 1 and not is_counted(count, text):
                missing.append(f"cell {index}: {count[0]} of {count[1]}")
        for word, sentence in direction_claims(markdown):
            exempt = any(words in " ".join(sentence.split()) for words in exempt_sentences)
            if not exempt and not is_directed(word, sentence, lines):
                missing.append(f"cell {index}: {word!r} in {sentence.strip()[:80]!r}")
    return missing


@pytest.mark.parametrize("path", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_every_number_in_the_prose_was_printed(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    missing = unbacked_claims(notebook, path.stem)
    assert not missing, (
        f"{path.name}: numbers in the prose that no cell printed or set "
        f"(re-run the chapter, or fix the sentence): {missing}"
    )


# --- The checker itself, against edits a careless rewrite would make ----------

INTRO = CHAPTERS[0].parents[1] / "intro.md"
FLIP = {"+": "−", "−": "+", "-": "+"}


def planted_edits(markdown: str, values: list[float], lines: list[str]) -> list[tuple[str, str]]:
    """Copies of ``markdown`` with one claim changed: a sign, a direction word or a count.

    A sign is flipped only where the flipped number is printed nowhere (where
    it is, e.g. "+2.5" beside an interval from "−2.5", the edit would be true
    somewhere, and no checker of numbers alone can call it wrong).
    """
    edits = []
    for written in stated_numbers(markdown):
        flipped = FLIP.get(written[0], "") + written[1:]
        if written[0] in SIGNS and written in markdown and not is_backed(flipped, values):
            edits.append((f"sign {written} -> {flipped}", markdown.replace(written, flipped, 1)))
            break
    for word, sentence in direction_claims(markdown):
        match = re.search(rf"\b{word}\b", markdown, re.IGNORECASE)
        if match and is_directed(word, sentence, lines):
            swapped = markdown[: match.start()] + OPPOSITES[word] + markdown[match.end() :]
            edits.append((f"direction {word} -> {OPPOSITES[word]}", swapped))
            break
    for k, n in stated_counts(markdown):
        if int(k) > 0:
            lowered = f"{int(k) - 1} of {n}"
            edits.append(
                (f"count {k} of {n} -> {lowered}", markdown.replace(f"{k} of {n}", lowered, 1))
            )
            break
    return edits


def as_notebook(path: Path) -> dict:
    if path.suffix == ".md":
        return {"cells": [{"cell_type": "markdown", "source": path.read_text(encoding="utf-8")}]}
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", [*CHAPTERS, INTRO], ids=[p.stem for p in [*CHAPTERS, INTRO]])
def test_the_checker_flags_a_flipped_sign_a_swapped_direction_and_a_lowered_count(path):
    notebook = as_notebook(path)
    before = len(unbacked_claims(notebook, path.stem))
    planted = 0
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        printed = (printed_values(notebook), printed_text(notebook).splitlines())
        for what, edited in planted_edits("".join(cell["source"]), *printed):
            copy = json.loads(json.dumps(notebook))
            copy["cells"][index]["source"] = edited
            planted += 1
            assert len(unbacked_claims(copy, path.stem)) > before, f"cell {index}: {what}"
    if not planted:
        pytest.skip(f"{path.name} states no signed number, direction or count by hand")


def test_a_direction_word_is_backed_only_by_a_printed_line_that_says_it_beside_the_number():
    lines = ["SGD momentum + GC  lower  -0.0258  20 / 0 of 20", "Adam + GC  higher  +0.1203"]
    ((word, sentence),) = direction_claims("GC ends with a lower train loss (−0.0258).")
    assert word == "lower" and is_directed(word, sentence, lines)
    ((word, sentence),) = direction_claims("GC ends with a higher train loss (−0.0258).")
    assert not is_directed(word, sentence, lines)
    assert direction_claims('"better" or "worse" when p is below 0.05') == []
    assert direction_claims("the seeds in which GC did better or worse, 95% intervals") == []
    assert direction_claims("A lower learning rate trains more slowly.") == []
