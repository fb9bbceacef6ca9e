"""Understanding a question: scope, intent and slots."""
