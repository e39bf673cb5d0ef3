"""Project–product matching (对接): the criteria vocabulary, the library's columns, eligibility,
scoring, explanation, the per-process cache and the endpoints' workflows, one module each."""
