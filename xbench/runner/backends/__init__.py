"""Model backends other than a local transformers model: servers that speak the OpenAI API.

A backend gives ``evaluate`` what the local model gives it: a ``LoadedModel`` (name, device
for the results) and a scorer with ``score_group(prompts) -> list[Scored]``.
"""

from xbench.runner.backends.openai import ENDPOINTS, PROTOCOLS, ApiOptions, ApiScorer, PlannedRequest, open_api_backend

__all__ = ["ENDPOINTS", "PROTOCOLS", "ApiOptions", "ApiScorer", "PlannedRequest", "open_api_backend"]
