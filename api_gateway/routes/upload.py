"""POST /api/upload-video-image: an image for image-to-video, answered with its imageKey."""

from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api_gateway.deps import LimitedCaller
from api_gateway.errors import ok
from api_gateway.routing import AuthenticatedRoute
from api_gateway.schemas import Envelope, ErrorEnvelope, UploadData
from api_gateway.uploads import inspect_image_async, receive_file, refuse_declared_length, store
from shared.settings import get_settings
from shared.storage import get_storage

router = APIRouter(tags=["uploads"], route_class=AuthenticatedRoute)

# The body is parsed by hand (streamed, capped), so FastAPI cannot describe it; say it here.
MULTIPART_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "JPEG, PNG or WebP, up to `upload_max_bytes` (50 MB)",
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    "/upload-video-image",
    response_model=Envelope[UploadData],
    openapi_extra=MULTIPART_BODY,
    responses={
        413: {
            "model": ErrorEnvelope,
            "description": "1000 the file is too large, or past the quota",
        }
    },
)
async def upload_video_image(request: Request, caller: LimitedCaller) -> JSONResponse:
    """Upload an image (multipart field `file`); use the returned imageKey in generate-video."""
    settings = get_settings()
    refuse_declared_length(request, settings.upload_max_bytes)
    async with receive_file(request, settings.upload_max_bytes) as received:
        image = await inspect_image_async(received.path, settings.image_max_pixels)
        upload = await anyio.to_thread.run_sync(store, caller.account_id, received, image)
    data = UploadData(imageUrl=get_storage().url(upload.storage_key), imageKey=upload.key)
    return ok(data.model_dump(), "Upload successful")
