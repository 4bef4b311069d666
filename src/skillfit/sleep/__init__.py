"""`skillfit sleep`: learn from the agent sessions people already ran."""
