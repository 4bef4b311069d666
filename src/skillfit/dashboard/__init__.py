"""The web dashboard (`skillfit ui`): reads run directories through `skillfit.record`.

Needs the `ui` extra (starlette, uvicorn, jinja2)."""

from skillfit.dashboard.app import create_app
from skillfit.dashboard.names import BadName, check_name, check_new_name, list_root
from skillfit.dashboard.security import Access, is_loopback, new_token

__all__ = [
    "Access",
    "BadName",
    "check_name",
    "check_new_name",
    "create_app",
    "is_loopback",
    "list_root",
    "new_token",
]
