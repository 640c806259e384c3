"""LLM call cost: reported, estimated (library or tenant override), or unknown."""

from __future__ import annotations

from hiveboard.derive.cost import PriceOverride, llm_call_cost


def test_reported_cost_is_used_as_is() -> None:
    c = llm_call_cost(model="gpt-4o", tokens_in=10, tokens_out=10, reported=0.004)
    assert (c.cost_usd, c.source) == (0.004, "reported")


def test_reported_zero_is_a_real_zero() -> None:
    c = llm_call_cost(model="local", tokens_in=None, tokens_out=None, reported=0)
    assert (c.cost_usd, c.source) == (0.0, "reported")


def test_estimated_from_tokens_records_the_matched_model() -> None:
    c = llm_call_cost(model="claude-sonnet-4", tokens_in=1800, tokens_out=250, reported=None)
    assert c.source == "estimated"
    assert c.cost_usd is not None and c.cost_usd > 0
    assert c.matched_model and c.matched_model.startswith("claude-sonnet-4")


def test_unknown_model_is_unknown_never_zero() -> None:
    c = llm_call_cost(model="my-private-llm-xyz", tokens_in=100, tokens_out=100, reported=None)
    assert (c.cost_usd, c.source) == (None, "unknown")


def test_no_tokens_is_unknown() -> None:
    c = llm_call_cost(model="gpt-4o", tokens_in=None, tokens_out=None, reported=None)
    assert c.source == "unknown" and c.cost_usd is None


def test_tenant_override_wins_case_insensitively() -> None:
    c = llm_call_cost(
        model="GPT-4o",
        tokens_in=2_000_000,
        tokens_out=1_000_000,
        reported=None,
        overrides={"gpt-4o": PriceOverride(input_per_mtok=1.0, output_per_mtok=4.0)},
    )
    assert (c.cost_usd, c.source, c.matched_model) == (6.0, "estimated", "GPT-4o")


def test_provider_prefixed_model_names_are_priced() -> None:
    """LiteLLM / OpenRouter / pydantic-ai name models ``provider/model`` or ``provider:model``."""
    plain = llm_call_cost(model="gpt-4o", tokens_in=1000, tokens_out=100, reported=None)
    for name in ("openai/gpt-4o", "openai:gpt-4o", "OpenAI/gpt-4o"):
        c = llm_call_cost(model=name, tokens_in=1000, tokens_out=100, reported=None)
        assert (c.cost_usd, c.source, c.matched_model) == (plain.cost_usd, "estimated", "gpt-4o")
    c = llm_call_cost(model="anthropic/claude-sonnet-4", tokens_in=10, tokens_out=10, reported=None)
    assert c.source == "estimated" and c.matched_model == "claude-sonnet-4-0"


def test_unknown_provider_prefix_stays_unknown() -> None:
    c = llm_call_cost(model="acme/secret-model", tokens_in=10, tokens_out=10, reported=None)
    assert (c.cost_usd, c.source) == (None, "unknown")
