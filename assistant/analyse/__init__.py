"""Build-time analysis: table facts, template checks, commitments."""
