"""Rules and workflows; services never build HTTP responses and never commit."""
