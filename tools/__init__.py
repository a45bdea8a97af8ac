"""Developer tools: the local stack, the demo."""
