"""Pure domain rules: no I/O, used by whichever service hosts them."""

import math

DASHBOARD_REPORTS = 10
ITEMS_PER_PAGE = 4


def export_pages(item_count: int) -> int:
    """A rendered export has a cover page plus one page per ITEMS_PER_PAGE items."""
    return 1 + math.ceil(item_count / ITEMS_PER_PAGE)


def export_notification(export_id: int, export_format: str) -> str:
    return f"Your {export_format.upper()} export #{export_id} is queued."
