"""vouchers.storage.schema_version's head agrees with Alembic's reading of the migration scripts."""
from __future__ import annotations

import ast

from alembic.script import ScriptDirectory

from vouchers.storage.migrate import _config
from vouchers.storage.schema_version import VERSIONS, head_revision, is_newer_than_code, known_revisions


def test_head_is_alembics_head():
    assert head_revision() == ScriptDirectory.from_config(_config()).get_current_head()


def test_each_script_is_named_after_its_revision_and_numbered():
    for path in VERSIONS.glob("*.py"):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text("utf-8"))
        assigned = {node.targets[0].id: node.value.value for node in tree.body
                    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                    and isinstance(node.value, ast.Constant)}
        assert assigned["revision"] == path.stem, path.name
        assert path.stem[:4].isdigit() and path.stem[4] == "_", path.name


def test_a_revision_numbered_after_the_head_is_newer_than_the_code():
    head = head_revision()
    later = f"{int(head[:4]) + 1:04d}_from_a_newer_release"
    assert is_newer_than_code(later) and is_newer_than_code("0099_future")
    assert not is_newer_than_code(head)
    assert not is_newer_than_code(known_revisions()[0])
    assert not is_newer_than_code("0001_from_a_fork") and not is_newer_than_code("abc123")
