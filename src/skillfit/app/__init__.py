"""The composition root: from a config, build the task, the models, the harness, the strategy
and the runner, and run them (`training`, `evaluating`, `transfers`, `compare`, `seeds`);
`audit` reads what a run's skill says. `skillfit.api` re-exports the public part."""
