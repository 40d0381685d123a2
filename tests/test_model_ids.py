"""Validators of what a submitter types: model ids, revisions and submitter names."""

from __future__ import annotations

import pytest
from huggingface_hub.utils import validate_repo_id

from leaderboard_data.errors import SubmissionError
from leaderboard_data.model_ids import quote, validate_model_id, validate_revision, validate_submitter
from leaderboard_data.stores.base import check_repo_path


@pytest.mark.parametrize(
    "model_id",
    ["gpt2", "openai-community/gpt2", "org/Model_v1.5", "a", "A/b", "123/456", "x" * 96, "o/" + "n" * 94, "_/_"],
)
def test_valid_model_ids_are_returned_unchanged_and_are_safe_paths(model_id: str) -> None:
    assert validate_model_id(model_id) == model_id
    validate_repo_id(model_id)
    assert check_repo_path(f"requests/{model_id}/0123456789abcdef.json")


@pytest.mark.parametrize(
    ("model_id", "needle"),
    [
        ("", "empty"),
        ("x" * 97, "longer than 96"),
        ("a/b/c", "more than one '/'"),
        ("../x", "start or end with '-' or '.'"),
        ("a/../b", "more than one '/'"),
        ("/abs", "empty part"),
        ("org/", "empty part"),
        ("a//b", "more than one '/'"),
        ("a\\b", "ASCII letters"),
        ("a b", "ASCII letters"),
        ("ünïcode", "ASCII letters"),
        ("ａｂｃ", "ASCII letters"),  # full-width letters pass the Hub's \\w-based pattern
        ("a\x00b", "ASCII letters"),
        ("a\nb", "ASCII letters"),
        ("gpt2\n", "ASCII letters"),
        ("-a", "start or end"),
        ("a.", "start or end"),
        ("org/.hidden", "start or end"),
        ("a--b", "'--' or '..'"),
        ("a..b", "'--' or '..'"),
        ("repo.git", "'.git'"),
        ("%2e%2e", "ASCII letters"),
    ],
)
def test_invalid_model_ids_are_refused_in_one_sentence(model_id: str, needle: str) -> None:
    with pytest.raises(SubmissionError) as raised:
        validate_model_id(model_id)
    message = str(raised.value)
    assert needle in message
    assert message.count(". ") == 0 and message.endswith(".")
    assert "\n" not in message and "\x00" not in message


def test_non_text_model_id_is_refused() -> None:
    with pytest.raises(SubmissionError, match="must be text, not int"):
        validate_model_id(42)  # type: ignore[arg-type]


def test_refusal_quotes_huge_ids_truncated() -> None:
    with pytest.raises(SubmissionError) as raised:
        validate_model_id("\x1b[31m" + "y" * 10_000)
    message = str(raised.value)
    assert len(message) < 250
    assert "\\x1b[31m" in message and "\x1b" not in message
    assert "(and 9945 more characters)" in message


def test_quote_shows_short_values_whole() -> None:
    assert quote("a'b") == repr("a'b")
    assert quote("z" * 60) == repr("z" * 60)


@pytest.mark.parametrize("revision", ["0" * 40, "0123456789abcdef" * 2 + "01234567", "f" * 64])
def test_pinned_revisions_are_accepted(revision: str) -> None:
    assert validate_revision(revision) == revision


@pytest.mark.parametrize(
    "revision", ["main", "", "A" * 40, "0" * 39, "0" * 41, "0" * 63, "0" * 65, "g" * 40, "0" * 40 + "\n", None]
)
def test_anything_else_as_revision_is_refused(revision: str) -> None:
    with pytest.raises(SubmissionError, match=r"40-character commit sha or a 64-character content hash|must be text"):
        validate_revision(revision)


@pytest.mark.parametrize("name", ["alice", "Alice Smith", "名前", "a" * 96, "x-y_z.1@example.org"])
def test_printable_submitter_names_are_accepted(name: str) -> None:
    assert validate_submitter(name) == name


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("", "between 1 and 96"),
        ("a" * 97, "between 1 and 96"),
        ("bob\n", "unprintable"),
        ("a\tb", "unprintable"),
        ("a\x00", "unprintable"),
        ("evil\u202egnp.exe", "unprintable"),
        ("\ud800", "unprintable"),
        (" bob", "start or end with a space"),
        ("bob ", "start or end with a space"),
        ("   ", "start or end with a space"),
    ],
)
def test_bad_submitter_names_are_refused(name: str, needle: str) -> None:
    with pytest.raises(SubmissionError, match=needle):
        validate_submitter(name)
