"""Run ids: validation, slugs, brace expansion, sources, dedupe (CONTRACTS §2)."""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parallel_runs.core.braces import MAX_EXPANSION, expand_braces
from parallel_runs.core.ids import (
    collect_run_ids,
    dedupe,
    is_valid_slug,
    parse_run_ids_file,
    slugify,
    split_run_ids,
    validate_run_id,
)
from parallel_runs.errors import ConfigError, InvalidRunIdError

RUNS_DIR = "/srv/parallel-runs/runs"
HASHED = re.compile(r"(?P<clean>.+)-(?P<hash>[0-9a-f]{8})")


def short_hash(run_id: str) -> str:
    return hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:8]


def is_accepted(run_id: str) -> bool:
    try:
        validate_run_id(run_id)
    except InvalidRunIdError:
        return False
    return True


def is_valid_git_branch(name: str) -> bool:
    """`git check-ref-format --branch NAME`, from the rules in git-check-ref-format(1)."""
    if name.startswith("-") or name == "HEAD":  # what --branch adds to the ref rules
        return False
    ref = f"refs/heads/{name}"
    if ref.endswith(("/", ".")) or "//" in ref or ".." in ref or "@{" in ref:
        return False
    if any(ord(char) < 0x20 or char == "\x7f" or char in " ~^:?*[\\" for char in ref):
        return False
    return all(part and not part.startswith(".") and not part.endswith(".lock") for part in ref.split("/"))


def stays_inside(runs_dir: str, *parts: str) -> bool:
    path = os.path.normpath(os.path.join(runs_dir, *parts))
    return path.startswith(runs_dir + os.sep)


# Random text, plus text from an alphabet dense in the characters that make slugs hard.
run_ids = st.one_of(
    st.text(min_size=1, max_size=140),
    st.text(alphabet="aZ09._-/ \\:~^@{}#üé😀", min_size=1, max_size=140),
    st.text(alphabet=".-", min_size=1, max_size=12),
    st.sampled_from(["workspaces", "Baselines", "a.lock", "x.lock.", "-", "-.-", "ü" * 128]),
).filter(is_accepted)


# --- validate_run_id ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "run_id",
    ["a", "x" * 128, "a b", "ü", "日本語", "😀", "-rf", "../x", "a/b", "#", ".a", "a.", " a"],
)
def test_accepted_ids(run_id: str) -> None:
    validate_run_id(run_id)


@pytest.mark.parametrize(
    ("run_id", "rule"),
    [
        ("", "empty"),
        ("x" * 129, "129 characters"),
        ("a\nb", "control"),
        ("a\tb", "control"),
        ("a\rb", "control"),
        ("a\x7fb", "control"),
        ("a\x85b", "control"),
        ("a\u200bb", "invisible"),  # zero-width space (Cf)
        ("a\u202eb", "invisible"),  # right-to-left override (Cf)
        ("\ufeffa", "invisible"),  # byte order mark (Cf)
        ("a\u2028b", "control"),  # line separator (Zl)
        ("a\u2029b", "control"),  # paragraph separator (Zp)
        ("a\udc80b", "control"),  # lone surrogate from surrogateescape'd argv (Cs)
        (".", "only dots"),
        ("..", "only dots"),
        ("...", "only dots"),
        (" ", "only whitespace"),
        (" \u3000 ", "only whitespace"),
        ("a\u00a0b", "whitespace character '\\xa0' at position 1; only plain spaces"),
    ],
)
def test_rejected_ids_name_the_id_and_the_rule(run_id: str, rule: str) -> None:
    with pytest.raises(InvalidRunIdError) as caught:
        validate_run_id(run_id)
    message = str(caught.value)
    assert repr(run_id) in message
    assert rule in message
    assert "\n" not in message
    assert caught.value.exit_code == 2


# --- slugify ---------------------------------------------------------------------------------


@pytest.mark.parametrize("run_id", ["a", "a-b", "exp-001", "A.b_c-9", "x" * 128, "run", "HEAD", "a.locks"])
def test_a_valid_slug_is_its_own_slug(run_id: str) -> None:
    assert is_valid_slug(run_id)
    assert slugify(run_id) == run_id


@pytest.mark.parametrize(
    ("run_id", "clean"),
    [
        ("../x", "x"),
        ("-rf", "rf"),
        ("a/b", "a-b"),
        ("a b", "a-b"),
        ("ü", "run"),
        ("#", "run"),
        ("/", "run"),
        ("a..b", "a.b"),
        ("a.", "a"),
        (".hidden", "hidden"),
        ("a.lock", "a"),
        ("a.lock.lock.", "a"),
        ("a//b  c", "a-b-c"),
        ("--a--", "a"),
        ("workspaces", "workspaces"),
        ("Workspaces", "Workspaces"),
        ("BASELINES", "BASELINES"),
    ],
)
def test_other_ids_get_the_cleaned_id_and_a_hash(run_id: str, clean: str) -> None:
    assert slugify(run_id) == f"{clean}-{short_hash(run_id)}"


@pytest.mark.parametrize("run_id", ["..", ".", "", "a\nb", "x" * 129])
def test_slugify_refuses_invalid_ids(run_id: str) -> None:
    with pytest.raises(InvalidRunIdError):
        slugify(run_id)


def test_long_ids_give_slugs_of_at_most_100_characters() -> None:
    for run_id in ["ü" * 128, "a/" * 64, "a" * 127 + "/", "/" + "a" * 127]:
        slug = slugify(run_id)
        assert len(slug) <= 100
        assert is_valid_slug(slug)
    assert slugify("a" * 127 + "/") != slugify("a" * 127 + ":")


def test_ids_that_clean_alike_keep_distinct_slugs() -> None:
    slugs = {slugify(run_id) for run_id in ["a/b", "a-b", "a b", "a:b", "a--b"]}
    assert len(slugs) == 5
    assert slugify("a-b") == "a-b"


def test_case_only_differences_give_different_slugs() -> None:
    # Documented caveat: distinct here, but they clash on a case-insensitive filesystem.
    assert slugify("A") == "A"
    assert slugify("a") == "a"


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("a", True),
        ("a.b-c_D9", True),
        ("", False),
        ("-a", False),
        (".a", False),
        ("a.", False),
        ("a..b", False),
        ("a.lock", False),
        ("a/b", False),
        ("a b", False),
        ("ü", False),
        ("x" * 128, True),
        ("x" * 129, False),
    ],
)
def test_is_valid_slug(text: str, valid: bool) -> None:
    assert is_valid_slug(text) is valid


@given(run_ids)
def test_every_accepted_id_has_a_safe_slug(run_id: str) -> None:
    slug = slugify(run_id)
    assert is_valid_slug(slug)
    assert is_valid_git_branch(f"parallel-runs/{slug}")
    assert slug.lower() not in {"workspaces", "baselines"}
    for parts in [(slug,), ("workspaces", slug), (".locks", f"{slug}.lock"), (slug, f"{slug}.db")]:
        assert stays_inside(RUNS_DIR, *parts)
    assert slugify(run_id) == slug
    assert slugify(slug) == slug
    if slug != run_id:
        assert len(slug) <= 100
        found = HASHED.fullmatch(slug)
        assert found is not None
        assert found["hash"] == short_hash(run_id)


def one_line_each(*ids: str) -> bool:
    """Whether these ids, one per line of a --run-ids-file, are read back as exactly themselves."""
    try:
        return parse_run_ids_file("\n".join(ids)) == list(ids)
    except ConfigError:  # an unmatched brace, say
        return False


@given(run_ids, run_ids, st.booleans())
def test_distinct_ids_share_a_slug_only_when_one_is_the_other_s_slug_and_are_then_refused(
    first: str, other: str, name_the_slug: bool
) -> None:
    # Half the time the second id is literally the first one's slug: the one way to collide.
    second = slugify(first) if name_the_slug else other
    if first == second:
        return  # the first id is its own slug (or the same id twice): nothing to tell apart
    collide = slugify(first) == slugify(second)
    # Distinct ids never share a slug, except when one of them *is* the other's (hashed) slug.
    assert collide == (first == slugify(second) or second == slugify(first))
    if name_the_slug:
        assert collide
    if not one_line_each(first, second):
        return  # a file line would not read back as this id (braces, spaces around it, '#'...)
    if collide:
        with pytest.raises(ConfigError, match="share the slug"):
            collect_run_ids(files_text=[f"{first}\n{second}"])
    else:
        assert collect_run_ids(files_text=[f"{first}\n{second}"]) == [first, second]


def test_git_agrees_with_the_pure_ref_checker() -> None:
    rng = random.Random(20240601)
    alphabet = "aZ09._-/ \\:~^@{}#ü*?[\t"
    names = ["a", "a.", ".a", "a.lock", "a..b", "a b", "-a", "a@{b", "@", "a/", "a//b", "a~b", "HEAD"]
    names += ["".join(rng.choices(alphabet, k=rng.randint(1, 12))) for _ in range(40)]
    for name in names:
        done = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True, check=False)
        assert (done.returncode == 0) == is_valid_git_branch(name), name


def test_git_accepts_branches_of_generated_slugs(tmp_path: Path) -> None:
    rng = random.Random(20240602)
    alphabet = "aZ09._-/ \\:~^@{}#üé😀"
    ids = ["../x", "-rf", "a.lock", "workspaces", "ü" * 128, "-.-", "a" * 128]
    ids += ["".join(rng.choices(alphabet, k=rng.randint(1, 128))) for _ in range(200)]
    slugs = {slugify(run_id) for run_id in ids if is_accepted(run_id)}
    assert len(slugs) >= 200
    for slug in slugs:
        branch = f"parallel-runs/{slug}"
        done = subprocess.run(
            ["git", "check-ref-format", "--branch", branch], cwd=tmp_path, capture_output=True, check=False
        )
        assert done.returncode == 0, (slug, done.stderr)


# --- expand_braces ---------------------------------------------------------------------------

BRACE_EXAMPLES = [
    ("plain", ["plain"]),
    ("exp-{001..003}", ["exp-001", "exp-002", "exp-003"]),
    ("{1..003}", ["001", "002", "003"]),
    ("{09..11}", ["09", "10", "11"]),
    ("{0..2}", ["0", "1", "2"]),
    ("{-01..1}", ["-01", "000", "001"]),
    ("{3..1}", ["3", "2", "1"]),
    ("{1..-1}", ["1", "0", "-1"]),
    ("{10..1..3}", ["10", "7", "4", "1"]),
    ("{1..5..-2}", ["1", "3", "5"]),
    ("{a..e}", ["a", "b", "c", "d", "e"]),
    ("{e..c}", ["e", "d", "c"]),
    ("{a..e..2}", ["a", "c", "e"]),
    ("{Y..b}", ["Y", "Z", "[", "\\", "]", "^", "_", "`", "a", "b"]),
    ("build130-{a,b,c}", ["build130-a", "build130-b", "build130-c"]),
    ("{a,b}-{1..2}", ["a-1", "a-2", "b-1", "b-2"]),
    ("x{a,b{1,2}}y", ["xay", "xb1y", "xb2y"]),
    ("{a,{1..2}}", ["a", "1", "2"]),
    ("x{a,}", ["xa", "x"]),
    ("{1..3,x}", ["1..3", "x"]),
]


@pytest.mark.parametrize(("pattern", "expected"), BRACE_EXAMPLES)
def test_expand_braces(pattern: str, expected: list[str]) -> None:
    assert expand_braces(pattern) == expected


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_expand_braces_matches_bash() -> None:
    # Bash's quote removal eats the backslash that `{Y..b}` yields: not a behaviour worth copying.
    patterns = [pattern for pattern, expected in BRACE_EXAMPLES if "\\" not in expected]
    for pattern in patterns:
        done = subprocess.run(
            ["bash", "-c", f"printf '%s\\n' {pattern}"], capture_output=True, text=True, check=True
        )
        assert expand_braces(pattern) == done.stdout.splitlines(), pattern


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("{a", "unmatched '{'"),
        ("a}", "unmatched '}'"),
        ("{a}}", "unmatched '}'"),
        ("{}", "empty braces"),
        ("x{}y", "empty braces"),
        ("{a}", "neither a list"),
        ("{1..a}", "neither a list"),
        ("{a..bb}", "neither a list"),
        ("{a," * 40 + "b" + "}" * 40, "nested deeper"),
    ],
)
def test_bad_brace_patterns(pattern: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        expand_braces(pattern)
    assert repr(pattern) in str(caught.value)
    assert problem in str(caught.value)


def test_expansion_is_capped_before_it_is_built() -> None:
    assert len(expand_braces("{1..100000}")) == MAX_EXPANSION
    for pattern in ["{1..100001}", "{1..999999999}", "{1..1000}{1..1000}", "{0..99999999999999999999999}"]:
        with pytest.raises(ConfigError, match="at most 100000"):
            expand_braces(pattern)
    with pytest.raises(ConfigError, match="expands to 3 ids"):
        expand_braces("{a,b,c}", limit=2)


@given(st.integers(-50, 50), st.integers(-50, 50), st.integers(-7, 7))
def test_numeric_ranges_count_like_python(first: int, last: int, step: int) -> None:
    stride = abs(step) or 1
    expected = range(first, last + 1, stride) if first <= last else range(first, last - 1, -stride)
    assert expand_braces(f"p{{{first}..{last}..{step}}}") == [f"p{value}" for value in expected]


# --- sources and dedupe ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a,b,c", ["a", "b", "c"]),
        ("a b\tc\nd", ["a", "b", "c", "d"]),
        (" a, b ,,c ", ["a", "b", "c"]),
        ("build130-{a,b},x", ["build130-a", "build130-b", "x"]),
        ("exp-{001..002} y", ["exp-001", "exp-002", "y"]),
        ("x{,-y}", ["x", "x-y"]),
        ("{,}", []),
        ("  ", []),
    ],
)
def test_split_run_ids(text: str, expected: list[str]) -> None:
    assert split_run_ids(text) == expected


def test_split_run_ids_refuses_whitespace_inside_braces() -> None:
    with pytest.raises(ConfigError, match="whitespace inside braces"):
        split_run_ids("x-{a, b}")


def test_split_run_ids_reports_unbalanced_braces() -> None:
    with pytest.raises(ConfigError, match="unmatched"):
        split_run_ids("a},b")


def test_parse_run_ids_file() -> None:
    text = (
        "\ufeff# a comment\n\n  first  \r\n   # indented comment\nsecond # not a comment\nexp-{1..2}\na,b\n"
    )
    assert parse_run_ids_file(text) == ["first", "second # not a comment", "exp-1", "exp-2", "a,b"]


def test_parse_run_ids_file_keeps_odd_line_breaks_inside_ids() -> None:
    # Only '\n' ends a line, so a '\v' stays in its id and validation refuses it.
    assert parse_run_ids_file("a\vb\n") == ["a\vb"]


def test_dedupe_keeps_first_order() -> None:
    assert dedupe(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]
    assert dedupe(iter(["x", "x"])) == ["x"]
    assert dedupe([]) == []


def test_collect_run_ids_combines_sources_in_order() -> None:
    got = collect_run_ids(run_ids_args=["b,a", "exp-{1..2}"], files_text=["a\nc # x\n", "exp-2\nd"])
    assert got == ["b", "a", "exp-1", "exp-2", "c # x", "d"]


def test_collect_run_ids_validates_every_id() -> None:
    with pytest.raises(InvalidRunIdError, match=r"'\.\.\.'"):
        collect_run_ids(run_ids_args=["ok,..."])
    with pytest.raises(InvalidRunIdError, match="129 characters"):
        collect_run_ids(files_text=["x" * 129])


def test_collect_run_ids_needs_at_least_one_id() -> None:
    for kwargs in [{}, {"run_ids_args": [" , "]}, {"files_text": ["# only comments\n\n"]}]:
        with pytest.raises(ConfigError, match="no run ids given"):
            collect_run_ids(**kwargs)


def test_collect_run_ids_refuses_a_slug_collision() -> None:
    # Only reachable by naming another id's hashed slug literally.
    with pytest.raises(ConfigError, match="share the slug"):
        collect_run_ids(run_ids_args=["a/b", slugify("a/b")])


def test_collect_run_ids_caps_the_whole_batch() -> None:
    with pytest.raises(ConfigError, match="more than 100000 run ids"):
        collect_run_ids(run_ids_args=["a{1..60000}"], files_text=["b{1..60000}"])
