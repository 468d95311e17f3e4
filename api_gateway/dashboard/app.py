"""Mounting the dashboard on the gateway: its routers under /dashboard, its static files, and
the answers to a missing session or a bad CSRF token."""

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from api_gateway.dashboard import account_pages, auth, videos
from api_gateway.dashboard.web import STATIC_DIR, install_handlers, redirect

PREFIX = "/dashboard"
router = APIRouter(include_in_schema=False)


@router.get("")
@router.get("/")
async def home() -> Response:
    return redirect(f"{PREFIX}/videos")


class SecuredStatic(StaticFiles):
    """The page's own JS and CSS, with the same no-sniff header as the pages."""

    def file_response(self, *args: object, **kwargs: object) -> Response:
        response = super().file_response(*args, **kwargs)  # type: ignore[arg-type]
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def install(app: FastAPI) -> None:
    for module in (auth, videos, account_pages):
        router.include_router(module.router)
    app.include_router(router, prefix=PREFIX)
    app.mount(f"{PREFIX}/static", SecuredStatic(directory=STATIC_DIR), name="dashboard-static")
    install_handlers(app)
