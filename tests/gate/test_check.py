"""``crashveil check``: the privacy gate over a policy, its baseline and its review records."""

from __future__ import annotations

import datetime
import json
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from crashveil.cli import main
from crashveil.errors import ConfigError, PolicyError
from crashveil.gate.check import check_policy
from crashveil.gate.findings import EXIT_FAIL, EXIT_PASS, EXIT_USAGE, format_result
from crashveil.gate.review import load_review_record
from crashveil.policy import default_policy_path, load_policy, policy_digest

TODAY = datetime.date(2026, 12, 1)
INITIAL = "reviews/2026-11-27-initial.md"


def _write_record(directory: Path, name: str, digest: str, **extra: Any) -> Path:
    """A review record with a TOML front block; ``extra`` adds or overrides keys."""
    keys: dict[str, Any] = {"reviewer": "Dana Privacy <dana@example.org>", "date": "2026-11-27",
                            "policy_digest": digest, "reason": "Initial catalog; every field justified."}
    keys.update(extra)
    body = "\n".join(f"{key} = {json.dumps(value)}" for key, value in keys.items() if value is not None)
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"+++\n{body}\n+++\n\n# Review\n\nProse for people.\n", encoding="utf-8")
    return path


def _edit(path: Path, pattern: str, replacement: str) -> None:
    """Replace the one match of ``pattern`` in ``path`` (the policy stays a TOML file)."""
    text = path.read_text(encoding="utf-8")
    new, count = re.subn(pattern, replacement, text, count=1, flags=re.S)
    assert 1 == count
    path.write_text(new, encoding="utf-8")


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """An app directory: the default policy as policy and baseline, and its initial review."""
    shutil.copy(default_policy_path(), tmp_path / "crashveil.policy.toml")
    shutil.copy(default_policy_path(), tmp_path / "crashveil.baseline.toml")
    _write_record(tmp_path, INITIAL, policy_digest(load_policy(tmp_path / "crashveil.policy.toml")))
    return tmp_path


def _digest(app: Path) -> str:
    return policy_digest(load_policy(app / "crashveil.policy.toml"))


def _check(app: Path) -> Any:
    return check_policy(app / "crashveil.policy.toml", today=TODAY)


def _codes(result: Any) -> list[tuple[str, str]]:
    return [(problem.code, problem.path) for problem in result.problems]


def _widen_message(app: Path, version: str = "1.3.0") -> None:
    """A material change: the error message moves down to the basic level, with a version bump."""
    policy = app / "crashveil.policy.toml"
    _edit(policy, r'version = "1\.\d\.0"', f'version = "{version}"')
    _edit(policy, r'(\[fields\.message\].*?level = )"diagnostic"', r'\1"crash"')


def test_reviewed_unchanged_policy_passes(app: Path) -> None:
    """A policy equal to its reviewed baseline passes with exit code 0."""
    result = _check(app)
    assert ([], EXIT_PASS) == (_codes(result), result.exit_code)


def test_material_change_without_review_fails(app: Path) -> None:
    """A material change with no review record fails and names the change to review."""
    _widen_message(app)
    result = _check(app)
    assert [("review_needed", "policy")] == _codes(result)
    assert EXIT_FAIL == result.exit_code
    assert ["fields.message.level"] == [change.path for change in result.material]
    text = format_result(result)
    assert "MATERIAL  fields.message.level: 'diagnostic' -> 'crash'" in text
    assert f'policy_digest = "{_digest(app)}"' in text


def test_material_change_with_matching_review_passes(app: Path) -> None:
    """A review record carrying the new policy's digest lets the material change pass."""
    _widen_message(app)
    _write_record(app, "reviews/2026-12-01-message.toml.md", _digest(app), reason="Messages are redacted.")
    result = _check(app)
    assert ([], EXIT_PASS) == (_codes(result), result.exit_code)
    assert ["reviews/2026-12-01-message.toml.md"] == [record.source for record in result.reviews]


def test_plain_toml_record_is_accepted(app: Path) -> None:
    """A review record may be a plain ``.toml`` file in ``reviews/``."""
    _widen_message(app)
    (app / "reviews" / "2026-12-01.toml").write_text(
        f'reviewer = "Dana"\ndate = 2026-12-01\npolicy_digest = "{_digest(app)}"\nreason = "Redacted messages."\n',
        encoding="utf-8")
    assert [] == _codes(_check(app))


def test_policy_changed_after_review_fails_again(app: Path) -> None:
    """Changing the policy after its review invalidates the review: the new digest has none."""
    _widen_message(app)
    _write_record(app, "reviews/2026-12-01-message.md", _digest(app))
    _edit(app / "crashveil.policy.toml", r'version = "1\.3\.0"', 'version = "1.4.0"')
    _edit(app / "crashveil.policy.toml", r'(\[fields\.message\].*?retention_days = )30', r'\g<1>60')
    result = _check(app)
    assert [("review_needed", "policy")] == _codes(result)
    assert ["fields.message.level", "fields.message.retention_days"] == [c.path for c in result.material]


def test_record_listing_changes_must_cover_all(app: Path) -> None:
    """A record that lists the changes it reviewed must list every material change."""
    _widen_message(app)
    _edit(app / "crashveil.policy.toml", r'(\[fields\.message\].*?retention_days = )30', r'\g<1>60')
    _write_record(app, "reviews/2026-12-01.md", _digest(app), changes=["fields.message.level"])
    result = _check(app)
    assert [("review_incomplete", "reviews/2026-12-01.md")] == _codes(result)
    assert "fields.message.retention_days" in result.problems[0].message


def test_non_material_change_passes_without_review(app: Path) -> None:
    """Reworded notice text and shorter retention need no review."""
    _edit(app / "crashveil.policy.toml", r'app_name = "this application"', 'app_name = "Notes"')
    _edit(app / "crashveil.policy.toml", r'(\[fields\.message\].*?retention_days = )30', r'\g<1>14')
    result = _check(app)
    assert ([], ["notice.app_name", "fields.message.retention_days"]) == (
        _codes(result), sorted((c.path for c in result.changes), key=lambda p: not p.startswith("notice")))


def test_material_change_without_version_bump_fails(app: Path) -> None:
    """A reviewed material change still fails when policy.version was not raised."""
    _edit(app / "crashveil.policy.toml", r'(\[fields\.message\].*?level = )"diagnostic"', r'\1"crash"')
    _write_record(app, "reviews/2026-12-01.md", _digest(app))
    assert [("version_not_bumped", "policy.version")] == _codes(_check(app))


def test_retention_above_ceiling_names_every_field(app: Path) -> None:
    """Each field kept longer than the ceiling is named, not only the first the loader meets."""
    _edit(app / "crashveil.policy.toml", r'(\[fields\.stack\].*?retention_days = )90', r'\g<1>400')
    _edit(app / "crashveil.policy.toml", r'(\[fields\.message\].*?retention_days = )30', r'\g<1>366')
    result = _check(app)
    assert [("retention_above_ceiling", "fields.stack.retention_days"),
            ("retention_above_ceiling", "fields.message.retention_days")] == _codes(result)
    assert "keeps data 400 days, above policy.retention_ceiling_days = 365" == result.problems[0].message


def test_field_without_review_record_fails(app: Path) -> None:
    """A field whose review names no record file beside the policy fails, with the field named."""
    _edit(app / "crashveil.policy.toml", r'(\[fields\.comment\].*?review = )"[^"]*"', r'\1"reviews/TODO.md"')
    _edit(app / "crashveil.policy.toml", r'(\[fields\.message\].*?review = )"[^"]*"',
          r'\1"https://bugs.example.org/1"')
    assert [("review_missing", "fields.comment.review"), ("review_missing", "fields.message.review")] == _codes(
        _check(app))


def test_invalid_review_record_names_file_and_key(app: Path) -> None:
    """A review record with a placeholder reason fails, naming the file and the key."""
    _write_record(app, INITIAL, _digest(app), reason="TODO")
    result = _check(app)
    assert ("review_invalid", f"{INITIAL}: reason") == _codes(result)[0]


def test_unreviewed_baseline_fails(app: Path) -> None:
    """Editing the baseline to match an unreviewed policy does not pass the gate."""
    _widen_message(app)
    shutil.copy(app / "crashveil.policy.toml", app / "crashveil.baseline.toml")
    result = _check(app)
    assert [("baseline_unreviewed", str(app / "crashveil.baseline.toml"))] == _codes(result)


def test_without_baseline_the_whole_policy_needs_review(tmp_path: Path) -> None:
    """With no baseline, the gate passes only when the policy itself has a review record."""
    shutil.copy(default_policy_path(), tmp_path / "crashveil.policy.toml")
    (tmp_path / "reviews").mkdir()
    (tmp_path / "reviews" / "2026-11-27-initial.md").write_text("# notes only\n", encoding="utf-8")
    before = _check(tmp_path)
    _write_record(tmp_path, INITIAL, _digest(tmp_path))
    assert ([("review_invalid", INITIAL), ("review_needed", "policy")], []) == (
        [(p.code, p.path) for p in before.problems], _codes(_check(tmp_path)))


def test_other_policy_errors_are_check_failures(app: Path) -> None:
    """Any loader error (here an unknown key) fails the gate with its key path, exit code 1."""
    _edit(app / "crashveil.policy.toml", r"(\[fields\.message\]\n)", r'\1colour = "red"\n')
    result = _check(app)
    assert ([("policy_invalid", "fields.message.colour")], EXIT_FAIL) == (_codes(result), result.exit_code)


def test_unreadable_input_is_a_usage_error(app: Path) -> None:
    """A missing or non-TOML policy file raises ConfigError (exit code 2 from the command)."""
    (app / "crashveil.policy.toml").write_text("[policy\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        _check(app)
    assert EXIT_USAGE == main(["check", "--policy", str(app / "missing.toml")])


def test_command_json_output(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--format json`` gives tools the verdict, the changes, the problems and the record to write."""
    _widen_message(app)
    code = main(["check", "--policy", str(app / "crashveil.policy.toml"), "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    template = tomllib.loads(data["review_template"])
    assert (EXIT_FAIL, False, ["review_needed"], _digest(app), ["fields.message.level"]) == (
        code, data["passed"], [p["code"] for p in data["problems"]], template["policy_digest"], template["changes"])


def test_command_text_output_and_exit_code(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The text output starts with the verdict and the command exits 0 on a pass."""
    code = main(["check", "--policy", str(app / "crashveil.policy.toml")])
    assert (EXIT_PASS, "crashveil check: passed") == (code, capsys.readouterr().out.splitlines()[0])


def test_update_baseline_after_review(app: Path) -> None:
    """``--update-baseline`` copies a reviewed policy over the baseline, so the diff is empty."""
    _widen_message(app)
    _write_record(app, "reviews/2026-12-01.md", _digest(app))
    assert EXIT_PASS == main(["check", "--policy", str(app / "crashveil.policy.toml"), "--update-baseline"])
    assert ((), []) == (_check(app).changes, _codes(_check(app)))


def test_update_baseline_refuses_unreviewed_policy(app: Path) -> None:
    """A policy without a review record of its own never becomes the baseline."""
    _edit(app / "crashveil.policy.toml", r'app_name = "this application"', 'app_name = "Notes"')
    from crashveil.gate.check import update_baseline

    with pytest.raises(ConfigError):
        update_baseline(app / "crashveil.policy.toml")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('reviewer = "D"\ndate = 2026-12-01\npolicy_digest = "sha256:00"\nreason = "r"\n', "policy_digest"),
        ('reviewer = "D"\ndate = "yesterday"\npolicy_digest = "sha256:' + "0" * 64 + '"\nreason = "r"\n', "date"),
        ('reviewer = "D"\ndate = 2026-12-01\npolicy_digest = "sha256:' + "0" * 64 + '"\n', "reason"),
        ('reviewer = "D"\ndate = 2026-12-01\npolicy_digest = "sha256:' + "0" * 64 + '"\nreason = "r"\nok = 1\n', "ok"),
    ],
)
def test_review_record_rules(tmp_path: Path, text: str, key: str) -> None:
    """A record with a malformed digest, date, a missing reason or an unknown key is rejected by key."""
    path = tmp_path / "r.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_review_record(path)
    assert key == caught.value.key_path


def test_markdown_without_front_block_is_prose(tmp_path: Path) -> None:
    """A Markdown file in ``reviews/`` without a front block is prose, not a record."""
    path = tmp_path / "README.md"
    path.write_text("# How we review\n", encoding="utf-8")
    assert None is load_review_record(path, required=False)
