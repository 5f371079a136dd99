"""More reasons a transmission holds a slip back (SPEC §4.6, one bad slip never blocks a day): an
amount outside 1..KESSAI_MAX_SLIP_AMOUNT, a store name with a control character, a merchant id with one, a card company whose file code cannot name a file. transmission_holds.reason's check lists them.

SQLite cannot alter a check constraint: the small table is copied (batch mode).

Revision ID: 0009
Revises: 0008

"""

from typing import Sequence, Union

from alembic import op


revision: str = "0009"
down_revision: Union[str, Sequence[str], None] = "0008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

REASON = "ck_transmission_holds_reason"
BEFORE = ("unknown_card_company", "merchant_without_store_names")
AFTER = BEFORE + (
    "amount_out_of_range",
    "store_name_control_character",
    "merchant_id_control_character",
    "card_company_file_code_invalid",
)


def _reasons(reasons: tuple[str, ...]) -> str:
    return "reason IN (" + ", ".join(f"'{reason}'" for reason in reasons) + ")"


def _replace_check(reasons: tuple[str, ...]) -> None:
    with op.batch_alter_table("transmission_holds") as batch_op:
        batch_op.drop_constraint(op.f(REASON), type_="check")
        batch_op.create_check_constraint(op.f(REASON), _reasons(reasons))


def upgrade() -> None:
    _replace_check(AFTER)


def downgrade() -> None:
    op.execute(f"DELETE FROM transmission_holds WHERE NOT ({_reasons(BEFORE)})")
    _replace_check(BEFORE)
