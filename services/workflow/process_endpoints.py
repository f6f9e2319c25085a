"""GET /process (the transition table as data) and GET /process/diagram (SVG or Mermaid, drawn from the
same table). Public: the procedure is the published measures' (002 art. 6)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from services.workflow import diagram
from services.workflow.process import definitions
from services.workflow.settings import Settings
from shared.problems import Problem, field_error, problem_responses

router = APIRouter(tags=["process"], responses=problem_responses(404))
Version = Annotated[str | None, Query(max_length=20, description="a process version (default: the one new "
                                                                  "applications start with, WORKFLOW_PROCESS_VERSION)")]


def _current(request: Request) -> str:
    """The version new applications start with: the setting (checked against the bundled ones at startup)."""
    settings: Settings = request.app.state.settings
    return settings.process_version


def _definition(request: Request, version: str | None) -> Any:
    found = definitions()
    name = version or _current(request)
    if name not in found:
        raise Problem(404, "unknown-process-version", f"No process version {name!r}; versions: "
                      f"{', '.join(found)}.", errors=[field_error("version", "unknown", "unknown", location="query")])
    return found[name]


@router.get("/process", summary="The process definition: states, transitions (roles, guards, data, effects), "
            "the materials checklist")
async def get_process(request: Request, version: Version = None) -> dict[str, Any]:
    body: dict[str, Any] = _definition(request, version).as_data()
    body["versions"] = list(definitions())
    body["current_version"] = _current(request)
    return body


@router.get("/process/diagram", response_class=Response,
            responses={200: {"description": "the diagram", "content": {
                "image/svg+xml": {"schema": {"type": "string"}}, "text/vnd.mermaid": {"schema": {"type": "string"}}}}},
            summary="The process as a picture (SVG, our own drawing) or as Mermaid text, from the same table")
async def get_diagram(request: Request, format: Annotated[Literal["svg", "mermaid"], Query()] = "svg",
                      version: Version = None) -> Response:
    p = _definition(request, version)
    if format == "mermaid":
        return Response(diagram.mermaid(p), media_type="text/vnd.mermaid; charset=utf-8")
    return Response(diagram.svg(p), media_type="image/svg+xml")
