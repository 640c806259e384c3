"""Plausible business content for the simulated agents: leads, tickets, invoices, prompts.

Realistic text matters in a demo: previews, summaries and task ids are what a
newcomer reads first, and "task-17" teaches nothing about what an agent does.
"""

from __future__ import annotations

import random

COMPANIES = [
    "Acme Robotics",
    "Northwind Health",
    "Bluefin Logistics",
    "Cobalt Analytics",
    "Helios Solar",
    "Juniper Legal",
    "Kestrel Foods",
    "Lumen Learning",
    "Meridian Bank",
    "Orchid Biotech",
    "Pioneer Freight",
    "Quartz Insurance",
]
FIRST_NAMES = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivo", "Jonas"]
TICKET_TOPICS = [
    ("refund request for a duplicate charge", "billing", True),
    ("cannot reset password, MFA device lost", "account", True),
    ("export to CSV times out on large reports", "bug", False),
    ("how do I add a second workspace?", "how-to", False),
    ("contract cancellation before renewal date", "billing", True),
    ("webhook deliveries failing since yesterday", "bug", False),
    ("invoice shows wrong VAT number", "billing", False),
]
BRIEF_TOPICS = [
    "Q3 churn drivers in mid-market accounts",
    "Competitor pricing changes this month",
    "Onboarding email sequence refresh",
    "Case study: Bluefin Logistics rollout",
    "Release notes for the reporting module",
]


def lead(rng: random.Random, n: int) -> dict[str, object]:
    """A lead as a CRM would hand it over."""
    company = rng.choice(COMPANIES)
    return {
        "id": f"lead-{4800 + n}",
        "company": company,
        "contact": f"{rng.choice(FIRST_NAMES)} at {company}",
        "employees": rng.choice([12, 45, 180, 650, 2400]),
        "source": rng.choice(["webinar", "inbound form", "referral", "trade show"]),
    }


def ticket(rng: random.Random, n: int) -> dict[str, object]:
    """A support ticket; ``sensitive`` ones need a human to approve the resolution."""
    topic, category, sensitive = rng.choice(TICKET_TOPICS)
    return {
        "id": f"ticket-{10420 + n}",
        "topic": topic,
        "category": category,
        "sensitive": sensitive,
        "customer": rng.choice(COMPANIES),
    }


def invoice(rng: random.Random, n: int) -> dict[str, object]:
    return {
        "id": f"inv-{2026_0000 + n}",
        "vendor": rng.choice(COMPANIES),
        "amount": round(rng.uniform(120, 18_000), 2),
    }


def brief(rng: random.Random, n: int) -> dict[str, object]:
    return {"id": f"brief-{300 + n}", "topic": rng.choice(BRIEF_TOPICS)}


def preview(text: str, limit: int = 160) -> str:
    """A prompt or response preview as an LLM wrapper would log it."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
