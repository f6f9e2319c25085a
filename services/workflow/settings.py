"""Workflow settings (env prefix WORKFLOW_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.contracts import ApplicationState
from shared.settings import VAR_DIR, ServiceSettings
from shared.webhooks import WebhookSettings

MIB = 1024 * 1024
# What the file of an uploaded material may be (declared type, checked against the file's first bytes).
DEFAULT_CONTENT_TYPES = (
    "application/pdf",
    "application/ofd",  # GB/T 33190, the format of Chinese government documents
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/msword",
    "application/vnd.ms-excel",
    "image/jpeg",
    "image/png",
)


class Settings(ServiceSettings, WebhookSettings):
    model_config = SettingsConfigDict(env_prefix="WORKFLOW_", extra="ignore")
    database_url: str = f"sqlite+aiosqlite:///{VAR_DIR / 'workflow.db'}"
    registry_url: str = "http://127.0.0.1:8001"
    scoring_url: str = "http://127.0.0.1:8003"
    peer_token: str | None = None
    # the process definition new applications start with (an application keeps its own)
    process_version: str = "v2"
    # calendar days allowed per state, overriding the process definition's (e.g. {"under_expert_review": 20})
    deadline_days: dict[str, int] = Field(default_factory=dict)
    # which parks of the register may apply (contracts: status transitions; the issue: a park the S&T
    # Department registered at level none). The registry also accepts an accredited park of another kind:
    # add "accredited" and "regional" here to allow it.
    applicable_statuses: tuple[str, ...] = ("candidate",)
    applicable_levels: tuple[str, ...] = ("none",)
    applicable_kinds: tuple[str, ...] = ("economic_development", "industrial_park", "other", "border_cooperation")
    # materials (002 art. 5): stored files, the size limit and the allowed content types
    materials_dir: Path = VAR_DIR / "materials"
    max_material_bytes: int = 20 * MIB
    material_content_types: tuple[str, ...] = DEFAULT_CONTENT_TYPES
    max_body_bytes: int = 21 * MIB  # a material plus the multipart envelope
    # eligibility advice from scoring at intent: never blocks, "not_available" after this long
    eligibility_timeout_seconds: float = 3.0
    # outbox dispatcher (registry events); tests turn it off and run it by hand
    dispatcher_enabled: bool = True
    dispatcher_poll_seconds: float = 1.0
    outbox_max_attempts: int | None = None  # None: the retry window alone decides (a registry down for a day
    # only delays the outcome); a number dead-letters after that many attempts
    outbox_retry_window_seconds: float = 7 * 24 * 3600
    outbox_base_delay_seconds: float = Field(1.0, gt=0)  # backoff with full jitter from here (or Retry-After)
    outbox_max_delay_seconds: float = Field(300.0, gt=0)
    # callbacks to government platforms (issue #6 §7); WebhookSettings adds webhook_allow_private_urls (true
    # in the embedded default: set WORKFLOW_WEBHOOK_ALLOW_PRIVATE_URLS=false in production),
    # webhook_timeout_seconds, webhook_retry_window_hours and webhook_secret_overlap_hours
    webhook_dispatcher_enabled: bool = True
    webhook_poll_seconds: float = Field(1.0, gt=0)
    webhook_base_delay_seconds: float = Field(5.0, gt=0)  # backoff with full jitter from here (or Retry-After)
    webhook_max_attempts: int = Field(40, ge=1)

    @field_validator("deadline_days")
    @classmethod
    def _deadline_states(cls, value: dict[str, int]) -> dict[str, int]:
        """WORKFLOW_DEADLINE_DAYS: application states of the contracts, each with 1–3650 days (a misspelt
        state would otherwise be ignored and its deadline silently stay the definition's). Whether the state
        has a deadline at all (not final) is checked against the process definition at startup."""
        states = [s.value for s in ApplicationState]
        unknown = sorted(set(value) - set(states))
        if unknown:
            raise ValueError(f"WORKFLOW_DEADLINE_DAYS names unknown state(s) {', '.join(unknown)}; the states are "
                             f"{', '.join(states)}")
        wrong = sorted(name for name, days in value.items() if not 1 <= days <= 3650)
        if wrong:
            raise ValueError(f"WORKFLOW_DEADLINE_DAYS: the days of {', '.join(wrong)} must be 1–3650")
        return value
