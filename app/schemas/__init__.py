"""Pydantic request and response models; tables and API models are different things."""
