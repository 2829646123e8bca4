"""Events produced by ingest on `portal.procedure-links.v1`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.events.envelope import Event

ProcedureKind = Literal["online", "information", "print_form"]


# No NUL characters (PostgreSQL text cannot hold them); a pattern is checked in pydantic-core, with no Python call
# per field. `NUL_PATTERN` lets error messages say what it means.
NUL_PATTERN = r"^[^\x00]*$"
Text = Annotated[str, StringConstraints(pattern=NUL_PATTERN)]
PROCEDURE_ID_MAX = 200  # characters of a procedure id


class Procedure(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: Text = Field(min_length=1, max_length=PROCEDURE_ID_MAX, description="the portal's procedure id")
    name: Text = Field(min_length=1, max_length=500, description="German name of the procedure")
    scope: Text = Field(min_length=1, max_length=50, description="`municipal`, `central` or another scope")
    kind: ProcedureKind = Field(description="`online` counts; `information` and `print_form` do not")
    url: Text | None = Field(None, max_length=2000, description="where the procedure is offered")
    leika_key: Text | None = Field(None, max_length=20, description="LeiKa key, 14 digits, when known")


class ProcedureId(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: Text = Field(min_length=1, max_length=PROCEDURE_ID_MAX, description="the portal's procedure id")


class ProcedureLinked(Event):
    """A procedure is now linked on the authority's portal page; `occurred_at` is the portal's time."""

    event_type: Literal["ProcedureLinked"] = "ProcedureLinked"
    change_id: str = Field(description="the portal's id of the change that caused this event")
    procedure: Procedure


class ProcedureUnlinked(Event):
    """A procedure is no longer linked on the authority's portal page."""

    event_type: Literal["ProcedureUnlinked"] = "ProcedureUnlinked"
    change_id: str = Field(description="the portal's id of the change that caused this event")
    procedure: ProcedureId
