"""Events of the notifications context: what happened to each email."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from smartcity_th.contracts.common import Contract, Email, ShortText


class NotificationSent(Contract):
    """An email about an event was accepted by the mail server for one recipient."""

    event_type: Literal["NotificationSent"] = Field(
        "NotificationSent", description="The event type; always 'NotificationSent'"
    )
    about_event_id: str = Field(description="event_id of the event the email is about")
    about_event_type: str = Field(description="event_type of the event the email is about")
    recipient_id: str = Field(description="Directory id of the recipient")
    recipient_email: Email = Field(description="Address the email went to")
    message_id: ShortText = Field(description="The email's Message-ID header")
    attempts: int = Field(ge=1, description="How many sending attempts it took")


class NotificationFailed(Contract):
    """An email could not be delivered after the last attempt (or has no valid recipient)."""

    event_type: Literal["NotificationFailed"] = Field(
        "NotificationFailed", description="The event type; always 'NotificationFailed'"
    )
    about_event_id: str = Field(description="event_id of the event the email is about")
    about_event_type: str = Field(description="event_type of the event the email is about")
    recipient_id: str = Field(description="Directory id of the intended recipient")
    recipient_email: Email | None = Field(description="Address tried, if one was known")
    message_id: ShortText | None = Field(description="The email's Message-ID, if built")
    attempts: int = Field(ge=0, description="How many sending attempts were made")
    error: ShortText = Field(description="The last SMTP reply or the reason")


class NotificationHeld(Contract):
    """A letter failed proofreading before it was queued (a placeholder, mixed languages, a
    date that contradicts the proposal's other letters, a recipient twice): it is held, not
    sent, until an operator releases it after the data is fixed."""

    event_type: Literal["NotificationHeld"] = Field(
        "NotificationHeld", description="The event type; always 'NotificationHeld'"
    )
    about_event_id: str = Field(description="event_id of the event the letter is about")
    about_event_type: str = Field(description="event_type of the event the letter is about")
    recipient_id: str = Field(description="Directory id of the letter's addressee")
    recipient_email: Email = Field(description="The addressee's address")
    delivery_id: ShortText = Field(description="The held delivery (to release it by)")
    problems: Annotated[list[ShortText], Field(min_length=1, max_length=50)] = Field(
        description="What proofreading found, one line each"
    )
