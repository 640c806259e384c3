"""The cost of one LLM call, and where the number came from.

Order of precedence, recorded as ``cost_source``:

1. ``reported``: the SDK sent ``cost`` (USD); we trust it as is.
2. ``estimated``: computed from ``tokens_in``/``tokens_out`` with the tenant's price
   override for the model when there is one, otherwise with the ``genai-prices`` table
   (which also tells us the model it matched, e.g. ``claude-sonnet-4`` →
   ``claude-sonnet-4-0``, or ``openai/gpt-4o`` → ``gpt-4o``).
3. ``unknown``: no cost, no tokens, or a model nobody prices. The cost is then ``None``,
   never a silent zero, so totals can say how many calls they could not price.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from genai_prices import Usage, calc_price

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PriceOverride:
    """A tenant's own price for a model, in USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float


@dataclass(frozen=True, slots=True)
class Cost:
    cost_usd: float | None
    source: str  # "reported" / "estimated" / "unknown"
    matched_model: str | None = None


UNKNOWN = Cost(None, "unknown")


def llm_call_cost(
    *,
    model: str | None,
    tokens_in: int | None,
    tokens_out: int | None,
    reported: float | None,
    overrides: Mapping[str, PriceOverride] | None = None,
) -> Cost:
    """Price one call; see the module docstring for the precedence."""
    if reported is not None:
        return Cost(float(reported), "reported", model)
    if not model or (tokens_in is None and tokens_out is None):
        return UNKNOWN
    tin, tout = tokens_in or 0, tokens_out or 0
    override = _find_override(model, overrides or {})
    if override is not None:
        cost = (tin * override.input_per_mtok + tout * override.output_per_mtok) / 1_000_000
        return Cost(cost, "estimated", model)
    return _library_cost(model, tin, tout)


def _find_override(model: str, overrides: Mapping[str, PriceOverride]) -> PriceOverride | None:
    if model in overrides:
        return overrides[model]
    lowered = model.lower()
    for name, price in overrides.items():
        if name.lower() == lowered:
            return price
    return None


@lru_cache(maxsize=8192)
def _library_cost(model: str, tokens_in: int, tokens_out: int) -> Cost:
    # Cached: the same (model, tokens) pairs recur a lot, and a lookup costs ~100 µs.
    usage = Usage(input_tokens=tokens_in, output_tokens=tokens_out)
    for ref, provider in _lookups(model):
        try:
            calc = calc_price(usage, ref, provider_id=provider)
        except LookupError:
            continue
        except Exception:  # the pricing library must never break ingest
            logger.warning("genai-prices failed for model %r", model, exc_info=True)
            return UNKNOWN
        return Cost(float(calc.total_price), "estimated", calc.model.id)
    return UNKNOWN


def _lookups(model: str) -> list[tuple[str, str | None]]:
    """The plain name first; then, for ``provider/model`` and ``provider:model`` (the
    names LiteLLM, OpenRouter and pydantic-ai send), the model at that provider, and the
    whole name at OpenRouter, which lists its models that way."""
    out: list[tuple[str, str | None]] = [(model, None)]
    for sep in ("/", ":"):
        provider, found, rest = model.partition(sep)
        if found and provider and rest:
            out.append((rest, provider.lower()))
            if sep == "/":
                out.append((model, "openrouter"))
            break
    return out
