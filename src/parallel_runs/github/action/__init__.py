"""The GitHub Action's steps (`parallel-runs action prepare|main`, run by action.yml): its settings
read from the inputs' environment (`settings`), the outputs and masks (`outputs`), the prepare step
and the plan mode (`prepare`), one leg of the matrix (`run`), the report (`report`); `steps` picks
the one the step and the mode name."""
