"""Answers: extractive, from tables, from commitments, optional LLM."""
