"""API token scopes and use counts.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07

``api_tokens.scopes``: the API operations a token may call (``governance.token_scopes``),
comma-separated. Tokens made before this revision get none: no API accepted them, and a
token should not gain powers its maker never chose (they can list their projects only;
make a new one with ``--scope``). ``api_tokens.use_count``: uses, written with
``last_used_at`` at most once a minute per token and process.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('api_tokens', sa.Column('scopes', sa.Text(), nullable=False, server_default=''))
    op.add_column('api_tokens', sa.Column('use_count', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch:
        batch.drop_column('use_count')
        batch.drop_column('scopes')
