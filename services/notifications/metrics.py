"""The notifications service's Prometheus metrics (one registration per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SENT = Counter("smartcity_emails_sent_total", "Emails accepted by the SMTP server", ["event_type"])
FAILED = Counter("smartcity_emails_failed_total", "Emails given up on", ["event_type", "reason"])
QUEUED = Counter(
    "smartcity_emails_queued_total", "Emails queued (or held for a digest)", ["event_type", "mode"]
)
RETRYING = Gauge("smartcity_emails_retrying", "Queued emails that have failed at least once")
QUEUE_AGE = Gauge("smartcity_email_queue_oldest_age_seconds", "Age of the oldest queued email")
HELD = Counter(
    "smartcity_notify_events_held_total",
    "Events read before their proposal was known: told once its submission is read",
)
DIGEST_HELD = Gauge("smartcity_emails_held_for_digest", "Emails waiting for their digest")
HISTORY = Counter(
    "smartcity_notify_history_untold_total",
    "Events that took effect before the go-live (NOTIFICATIONS_GO_LIVE): recorded, no letter",
    ["event_type"],
)
REVIEW = Counter(
    "smartcity_letters_held_for_review_total",
    "Letters proofreading stopped before they were queued (released by an operator)",
    ["event_type"],
)
SMTP_TRANSACTIONS = Counter(
    "smartcity_smtp_transactions_total",
    "SMTP mail transactions (MAIL FROM .. DATA) tried, by outcome (accepted, refused, error)",
    ["outcome"],
)
SMTP_CONNECTIONS = Counter("smartcity_smtp_connections_total", "SMTP connections opened")
RENDER_CPU = Histogram(
    "smartcity_letter_render_cpu_seconds",
    "CPU time of rendering one letter, by part: text, html (both once per letter), pdf (the "
    "letter's PDF, once per attempt) and certificate (the award's enclosure)",
    ["part"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.12, 0.2, 0.4, 1.0, 2.0),
)
