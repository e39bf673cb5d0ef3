"""Project–product matching (对接): criteria, the vectorised engine, its cache, the workflows."""
