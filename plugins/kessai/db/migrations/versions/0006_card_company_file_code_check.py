"""card_companies.file_code is letters and digits only (a CHECK): the code names the card
company's transmission file (<file_code>_<date>.csv), so `../../tmp/x` or a `/` would write it
outside its folder.

The rows already there are checked first: a code that breaks the rule stops the migration, naming
the card company, before anything changes. SQLite adds a CHECK by copying the table (batch mode;
the migrations run there with foreign keys off, as SQLite's own procedure for altering a table
says, and are checked with PRAGMA foreign_key_check before they commit).

Revision ID: 0006
Revises: 0005

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

NAME = "ck_card_companies_file_code"
RULES = {
    "postgresql": "file_code ~ '^[A-Za-z0-9]+$'",
    "sqlite": "file_code <> '' AND file_code NOT GLOB '*[^A-Za-z0-9]*'",
}


def upgrade() -> None:
    bind = op.get_bind()
    rule = RULES[bind.dialect.name]
    bad = bind.execute(
        sa.text(f"SELECT card_company, file_code FROM card_companies WHERE NOT ({rule}) ORDER BY card_company")
    ).all()
    if bad:
        listed = ", ".join(f"{company} ({code!r})" for company, code in bad)
        raise RuntimeError(
            f"card_companies.file_code must be letters and digits only; these are not: {listed}. "
            "Correct them (UPDATE card_companies SET file_code = ...), then run `python -m kessai db upgrade` again"
        )
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table("card_companies") as batch:
            batch.create_check_constraint(op.f(NAME), sa.text(rule))
    else:
        op.create_check_constraint(op.f(NAME), "card_companies", sa.text(rule))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("card_companies") as batch:
            batch.drop_constraint(op.f(NAME), type_="check")
    else:
        op.drop_constraint(op.f(NAME), "card_companies", type_="check")
