"""The OpenAPI document and its two viewers, as tools and offline users need them.

- Every operation has a unique camelCase operationId named for its action (the route
  function's name, or one given explicitly), so client generators produce usable methods.
- A bearer security scheme, required everywhere except where a route says `security: []`
  (health, files), so Swagger UI's Authorize button sends the API key.
- Only the envelope answers: FastAPI's automatic 422 is dropped (validation errors are the
  400 envelope), every operation that takes a body documents the 413 of api_gateway.asgi's
  BodyLimit, and 429 documents its Retry-After.
- Swagger UI and ReDoc are served from the assets of the `fastapi-offline` package, so /docs
  and /redoc work offline and behind strict firewalls: no CDN, no fonts, no validator badge.
"""

from collections.abc import Callable
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from starlette.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
SECURITY_SCHEME = "bearerAuth"
PUBLIC: dict[str, Any] = {"security": []}  # openapi_extra of routes that take no API key
RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": "Requests per minute of the budget this request counted against",
    "X-RateLimit-Remaining": "What is left of that budget in the current minute",
    "X-RateLimit-Reset": "Seconds until the budget is full again",
}


def operation_id(route: APIRoute) -> str:
    """`get_video_status` -> `getVideoStatus`: the route function's name, in camelCase."""
    first, *rest = route.name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "integer"}}


def _refine(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key from `veo-admin create-account` or `create-key`",
    }
    schema["security"] = [{SECURITY_SCHEME: []}]
    for name in ("HTTPValidationError", "ValidationError"):
        components.get("schemas", {}).pop(name, None)
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if "requestBody" in operation and "413" not in responses:
                responses["413"] = {
                    "description": "1000 the body is too large",
                    "content": {"application/json": {"schema": _error_schema()}},
                }
            if "429" in responses:
                headers = {name: _header(text) for name, text in RATE_LIMIT_HEADERS.items()}
                headers["Retry-After"] = _header("Seconds to wait before trying again")
                responses["429"]["headers"] = headers


def _error_schema() -> dict[str, Any]:
    return {"$ref": "#/components/schemas/ErrorEnvelope"}


def install(app: FastAPI) -> None:
    """The refined schema at /openapi.json, and the viewers at /docs and /redoc."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _refine(generate())
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
    assets = files("fastapi_offline") / "static"
    app.mount(ASSETS_PATH, StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} (Swagger UI)",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} (ReDoc)",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
