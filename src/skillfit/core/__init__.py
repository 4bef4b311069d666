"""The ground floor every layer may use: atomic file writes (`io`), the run's errors
(`errors`), confidence intervals and paired tests (`stats`), and reading a user's file safely
(`readfile`)."""
