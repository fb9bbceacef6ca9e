"""Search: the hybrid retriever and score fusion."""
